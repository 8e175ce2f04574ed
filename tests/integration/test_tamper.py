"""Rows edited behind FlowDesk's back are caught: `audit verify` and `replay` name the event that is wrong."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import JSON, bindparam, text

from engine import Engine, FakeClock, audit, runtime
from engine import replay as rp
from tests.conftest import FIXTURES, only

START = {"subject": "Broken tap", "ref": "R-1", "customer_id": "C1"}


def open_task(engine: Engine, instance_id: str, element_id: str) -> Any:
    return only([t for t in engine.tasks(instance_id=instance_id) if t.element_id == element_id])


@pytest.fixture
def case(any_engine: Engine, clock: FakeClock) -> str:
    """A request with five events: started, review claimed, review completed, approve claimed, approved."""
    any_engine.deploy(FIXTURES / "packages" / "simple")
    instance_id = any_engine.start("simple", START, "alice").id
    review = open_task(any_engine, instance_id, "review")
    any_engine.claim(review.id, "alice")
    clock.advance(minutes=30)
    any_engine.complete(review.id, {"ok": True, "note": "looks right"}, "alice")
    approve = open_task(any_engine, instance_id, "approve")
    clock.advance(minutes=30)
    any_engine.claim(approve.id, "hana")
    clock.advance(minutes=30)
    any_engine.complete(approve.id, {"approved": True}, "hana")
    assert any_engine.verify_chain(instance_id).ok and any_engine.replay(instance_id).verified
    return instance_id


def sql(engine: Engine, statement: str, **params: Any) -> Any:
    stmt = text(statement)
    json_params = [k for k, v in params.items() if isinstance(v, dict | list)]
    if json_params:
        stmt = stmt.bindparams(*(bindparam(k, type_=JSON) for k in json_params))
    with engine.store.engine.begin() as conn:
        return conn.execute(stmt, params)


def payload_of(engine: Engine, instance_id: str, seq: int) -> dict[str, Any]:
    return dict(only([e for e in engine.history(instance_id) if e.seq == seq]).payload)


def kinds(report: audit.ChainReport) -> set[tuple[int | None, str]]:
    return {(p.seq, p.kind) for p in report.problems}


def test_a_changed_value_in_one_event_is_named_by_verify_and_replay(any_engine: Engine, case: str) -> None:
    payload = payload_of(any_engine, case, 3)
    payload["data"]["note"] = "looks wrong"
    sql(any_engine, "UPDATE events SET payload = :p WHERE instance_id = :i AND seq = 3", p=payload, i=case)

    report = any_engine.verify_chain(case)
    assert kinds(report) == {(3, "edited")} and report.first_bad_seq == 3
    result = any_engine.replay(case)
    assert result.outcome == "diverged" and result.diverged_at == 3 and result.failure is None


def test_a_changed_actor_or_time_breaks_the_chain(any_engine: Engine, case: str) -> None:
    sql(any_engine, "UPDATE events SET actor = 'bob' WHERE instance_id = :i AND seq = 5", i=case)
    assert kinds(any_engine.verify_chain(case)) == {(5, "edited")}
    at = only([e for e in any_engine.history(case) if e.seq == 2]).at
    sql(any_engine, "UPDATE events SET at = :at WHERE instance_id = :i AND seq = 2", at=at - timedelta(hours=1), i=case)
    assert kinds(any_engine.verify_chain(case)) == {(2, "edited"), (5, "edited")}


def test_a_deleted_event_is_named(any_engine: Engine, case: str) -> None:
    sql(any_engine, "DELETE FROM events WHERE instance_id = :i AND seq = 3", i=case)
    report = any_engine.verify_chain(case)
    assert (3, "deleted") in kinds(report) and report.first_bad_seq == 3
    result = any_engine.replay(case)
    # Without the review's completion the state after the next event is not the one it recorded.
    assert not result.verified and result.diverged_at == 4 and result.failure is None


def test_a_deleted_claim_is_caught_by_the_chain(any_engine: Engine, case: str) -> None:
    sql(any_engine, "DELETE FROM events WHERE instance_id = :i AND seq = 2", i=case)
    assert kinds(any_engine.verify_chain(case)) == {(2, "deleted")}
    # A claim never changes the workflow, so replay alone cannot see it: that is what the chain is for.
    assert any_engine.replay(case).verified


def test_a_deleted_last_claim_is_caught_by_the_instance_timestamp(any_engine: Engine, case: str,
                                                                  clock: FakeClock) -> None:
    clock.advance(minutes=5)
    any_engine.start("simple", {**START, "ref": "R-2"}, "alice")
    other = only([i for i in any_engine.instances() if i.business_key == "R-2"]).id
    review = open_task(any_engine, other, "review")
    clock.advance(minutes=5)
    any_engine.claim(review.id, "bob")
    sql(any_engine, "DELETE FROM events WHERE instance_id = :i AND seq = 2", i=other)
    assert kinds(any_engine.verify_chain(other)) == {(1, "after_last")}


def test_two_swapped_events_are_named(any_engine: Engine, case: str) -> None:
    sql(any_engine, "UPDATE events SET seq = -1 WHERE instance_id = :i AND seq = 3", i=case)
    sql(any_engine, "UPDATE events SET seq = 3 WHERE instance_id = :i AND seq = 4", i=case)
    sql(any_engine, "UPDATE events SET seq = 4 WHERE instance_id = :i AND seq = -1", i=case)

    report = any_engine.verify_chain(case)
    assert {(3, "reordered"), (4, "reordered")} <= kinds(report) and report.first_bad_seq == 3
    messages = " ".join(p.message for p in report.problems)
    assert "recorded as #4 now stands at #3" in messages and "recorded as #3 now stands at #4" in messages
    result = any_engine.replay(case)
    # Now the approval is claimed before the review is done: there is no approval task to claim yet.
    assert not result.verified and result.diverged_at == 3 and "is not open here" in result.message


def test_swapped_payloads_are_named(any_engine: Engine, case: str) -> None:
    third, fifth = payload_of(any_engine, case, 3), payload_of(any_engine, case, 5)
    sql(any_engine, "UPDATE events SET payload = :p WHERE instance_id = :i AND seq = 3", p=fifth, i=case)
    sql(any_engine, "UPDATE events SET payload = :p WHERE instance_id = :i AND seq = 5", p=third, i=case)
    assert kinds(any_engine.verify_chain(case)) == {(3, "edited"), (5, "edited")}
    result = any_engine.replay(case)
    assert result.diverged_at == 3 and "not ready" in result.message


def test_an_edited_stored_state_is_named(any_engine: Engine, case: str) -> None:
    with any_engine.store.engine.begin() as conn:
        state = json.loads(json.dumps(conn.execute(text("SELECT state FROM instances WHERE id = :i"),
                                                   {"i": case}).scalar_one()))
    if isinstance(state, str):
        state = json.loads(state)
    root = state["tasks"][state["root"]]
    root["data"]["subject"] = "Something else"
    sql(any_engine, "UPDATE instances SET state = :s WHERE id = :i", s=state, i=case)

    assert kinds(any_engine.verify_chain(case)) == {(5, "state_edited")}
    result = any_engine.replay(case)
    assert result.outcome == "diverged" and result.diverged_at == 5
    assert "stored state was edited" in result.message
    assert result.expected_state is not None and result.actual_state is not None
    assert any("subject" in d for d in result.differences())


def test_an_inserted_event_is_named(any_engine: Engine, case: str) -> None:
    last = only([e for e in any_engine.history(case) if e.seq == 5])
    sql(any_engine, "INSERT INTO events (instance_id, seq, at, actor, type, payload, state_hash, prev_hash, hash) "
                    "VALUES (:i, 6, :at, 'mallory', 'task_claimed', :p, :sh, :ph, :h)",
        i=case, at=last.at, p={"task_id": "x", "element_id": "approve"}, sh=last.state_hash, ph=last.hash,
        h="f" * 64)
    assert kinds(any_engine.verify_chain(case)) == {(6, "edited")}


def test_a_forged_but_well_chained_event_is_caught_by_replay(any_engine: Engine, case: str) -> None:
    """Someone who recomputes the hashes defeats the chain, but not replay: the inputs do not give the state."""
    last = only([e for e in any_engine.history(case) if e.seq == 5])
    forged = {"task_id": payload_of(any_engine, case, 3)["task_id"], "element_id": "review",
              "data": {"ok": False}}
    digest = audit.event_hash(case, 6, last.at, "mallory", "task_completed", forged, last.state_hash, last.hash)
    sql(any_engine, "INSERT INTO events (instance_id, seq, at, actor, type, payload, state_hash, prev_hash, hash) "
                    "VALUES (:i, 6, :at, 'mallory', 'task_completed', :p, :sh, :ph, :h)",
        i=case, at=last.at, p=forged, sh=last.state_hash, ph=last.hash, h=digest)
    assert any_engine.verify_chain(case).ok
    result = any_engine.replay(case)
    assert result.diverged_at == 6 and not result.verified


def test_a_deleted_instance_row_is_named(any_engine: Engine, case: str) -> None:
    for table in ("tasks", "timers", "instance_fields"):
        sql(any_engine, f"DELETE FROM {table} WHERE instance_id = :i", i=case)
    sql(any_engine, "DELETE FROM instances WHERE id = :i", i=case)
    assert (None, "no_instance") in kinds(any_engine.verify_chain(case))
    result = any_engine.replay(case)
    assert not result.verified and "instance row is missing" in result.message
    assert any(not r.ok for r in any_engine.verify_all())


def test_the_command_line_reports_tampering_and_exits_non_zero(engine: Engine, clock: FakeClock,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    engine.deploy(FIXTURES / "packages" / "simple")
    good = engine.start("simple", START, "alice").id
    bad = engine.start("simple", {**START, "ref": "R-2"}, "alice").id
    engine.complete(open_task(engine, bad, "review").id, {"ok": False}, "alice")
    payload = payload_of(engine, bad, 2)
    payload["data"]["ok"] = True
    sql(engine, "UPDATE events SET payload = :p WHERE instance_id = :i AND seq = 2", p=payload, i=bad)
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", str(engine.store.url))
    runner = CliRunner()

    result = runner.invoke(rp.audit_group, ["verify", "--all"])
    assert result.exit_code == 1
    assert f"{bad} event #2: task_completed was edited" in result.output and good not in result.output
    assert runner.invoke(rp.audit_group, ["verify", good]).exit_code == 0
    result = runner.invoke(rp.replay_command, ["--all"])
    assert result.exit_code == 1 and "1 verified, 1 diverged, 0 failed" in result.output
    assert f"{bad}: diverged: diverged at event #2" in result.output
    result = runner.invoke(rp.audit_group, ["verify", "no-such-case"])
    assert result.exit_code == 1 and "no case no-such-case" in result.output


def test_stored_state_hash_is_what_the_last_event_recorded(any_engine: Engine, case: str) -> None:
    with any_engine.store.read() as s:
        from engine.store import InstanceRow

        row = s.get(InstanceRow, case)
        assert row is not None
        assert runtime.state_hash(row.state) == any_engine.history(case)[-1].state_hash
