"""Replay rebuilds a case from its definition version and its events alone, and proves the stored state."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine import Engine, FakeClock, NotFound
from engine import replay as rp
from tests.conftest import FIXTURES, only

PACKAGES = FIXTURES / "packages"
START = {"subject": "Broken tap", "ref": "R-1", "customer_id": "C1"}


def package(name: str) -> Path:
    """A fixture package (a missing one fails the test when it is deployed)."""
    return PACKAGES / name


def open_task(engine: Engine, instance_id: str, element_id: str) -> Any:
    return only([t for t in engine.tasks(instance_id=instance_id) if t.element_id == element_id])


def assert_verified(engine: Engine, instance_id: str) -> rp.ReplayResult:
    result: rp.ReplayResult = engine.replay(instance_id)
    assert result.verified, result.message
    assert result.outcome == "verified" and result.diverged_at is None and result.failure is None
    assert result.events_checked == len(engine.history(instance_id))
    assert engine.verify_chain(instance_id).ok
    return result


@pytest.fixture
def simple(any_engine: Engine) -> Engine:
    any_engine.deploy(PACKAGES / "simple")
    return any_engine


def test_a_reviewed_and_approved_request_replays_to_its_stored_state(simple: Engine, clock: FakeClock) -> None:
    case = simple.start("simple", START, "alice").id
    review = open_task(simple, case, "review")
    simple.claim(review.id, "alice")
    clock.advance(minutes=20)
    simple.complete(review.id, {"ok": True, "note": "fine"}, "alice")
    clock.advance(hours=3)
    simple.complete(open_task(simple, case, "approve").id, {"approved": True}, "hana")

    result = assert_verified(simple, case)
    assert result.events_checked == 4
    assert result.actual_state is not None and result.actual_state == result.expected_state
    assert simple.instance(case).status == "completed"


def test_an_overdue_review_timer_and_termination_replay(simple: Engine, clock: FakeClock) -> None:
    case = simple.start("simple", START, "alice").id
    clock.advance(hours=30)  # past 4 office hours of Berlin's Monday
    assert simple.run_due() == 1
    assert {t.element_id for t in simple.tasks(instance_id=case)} == {"review", "chase"}
    assert_verified(simple, case)
    simple.terminate(case, "customer withdrew", "sam")
    result = assert_verified(simple, case)
    assert [e.type for e in simple.history(case)] == ["instance_started", "timer_fired", "instance_terminated"]
    assert simple.state_at(case, result.events_checked).status == "terminated"


def test_reminder_cycles_and_a_deadline_replay(engine: Engine, clock: FakeClock) -> None:
    engine.deploy(package("reminders"))
    case = engine.start("reminders", {"cycle": "R3/PT1H", "deadline": "P2D"}, "alice").id
    for _ in range(6):
        clock.advance(hours=1, minutes=1)
        engine.run_due()
        assert_verified(engine, case)
    clock.advance(days=2)
    engine.run_due()
    assert_verified(engine, case)
    assert sum(e.type == "timer_fired" for e in engine.history(case)) >= 4


def test_a_payment_message_to_a_waiting_order_replays(any_engine: Engine, clock: FakeClock) -> None:
    any_engine.deploy(package("payment"))
    case = any_engine.start("payment", {"order_no": "O-1"}, "alice").id
    any_engine.send_message("payment_received", "O-1", {"amount": 12, "by": "card"})
    clock.advance(minutes=5)
    any_engine.run_due()
    assert [e.type for e in any_engine.history(case)] == ["instance_started", "message_delivered"]
    assert_verified(any_engine, case)
    any_engine.complete(open_task(any_engine, case, "ship").id, {"note": "sent"}, "bob")
    assert_verified(any_engine, case)


def test_a_case_started_by_a_message_replays(engine: Engine, clock: FakeClock) -> None:
    engine.deploy(package("inquiry"))
    engine.send_message("customer_inquiry", None, {"question": "Where is my kettle?"})
    engine.run_due()
    case = only(engine.instances(process_id="inquiry")).id
    assert only(engine.history(case)).payload["message"]["name"] == "customer_inquiry"
    assert_verified(engine, case)


def test_office_hours_timer_replays_with_the_calendar(engine: Engine, clock: FakeClock) -> None:
    engine.deploy(package("office_wait"))
    clock.set(datetime(2026, 1, 9, 15, 0, tzinfo=UTC))  # Friday afternoon in Berlin
    case = engine.start("office_wait", {"wait_for": "PT5H"}, "alice").id
    due = only(engine.timers(instance_id=case)).due_at
    assert due.weekday() == 0  # the following Monday: weekend hours do not count
    clock.set(due + timedelta(minutes=1))
    engine.run_due()
    assert_verified(engine, case)


def test_a_case_under_an_older_version_replays_against_that_version(engine: Engine, clock: FakeClock,
                                                                    tmp_path: Path) -> None:
    engine.deploy(PACKAGES / "simple")
    old = engine.start("simple", START, "alice").id
    newer = tmp_path / "simple"
    shutil.copytree(PACKAGES / "simple", newer)
    bpmn = newer / "simple.bpmn"
    bpmn.write_text(bpmn.read_text().replace("score = len(subject) * 2", "score = len(subject) * 3"))
    assert engine.deploy(newer).version == 2

    engine.complete(open_task(engine, old, "review").id, {"ok": True}, "alice")
    new = engine.start("simple", {**START, "ref": "R-2"}, "alice").id
    engine.complete(open_task(engine, new, "review").id, {"ok": True}, "alice")
    assert engine.instance(old).data["score"] == 20 and engine.instance(new).data["score"] == 30
    assert_verified(engine, old)
    assert_verified(engine, new)
    assert engine.state_at(old, 2).data["score"] == 20

    # The same events against the newer version do not give the recorded state: the version matters.
    stored = rp.load(engine, old)
    v2 = rp.load(engine, new).version
    wrong = rp.replay_events(v2, stored.world, old, stored.events, stored.state)
    assert not wrong.verified and wrong.diverged_at == 2 and wrong.failure is None
    assert "data" in " ".join(wrong.differences()) or wrong.differences()


def test_state_at_every_event_is_the_state_it_recorded(simple: Engine, clock: FakeClock) -> None:
    case = simple.start("simple", START, "alice").id
    review = open_task(simple, case, "review")
    simple.complete(review.id, {"ok": True}, "alice")
    clock.advance(hours=1)
    simple.complete(open_task(simple, case, "approve").id, {"approved": False}, "hana")

    first = simple.state_at(case, 1)
    assert first.matches_record and first.status == "running"
    assert [t.element_id for t in first.ready_tasks] == ["review"] and first.ready_tasks[0].task_id == review.id
    assert first.data["subject"] == "Broken tap" and "ok" not in first.data
    assert [e for e, _due in first.waiting_timers] == ["review_overdue"]
    second = simple.state_at(case, 2)
    assert [t.element_id for t in second.ready_tasks] == ["approve"]
    assert {"review", "prepare"} <= set(second.completed_elements) and second.data["score"] == 20
    last = simple.state_at(case, 3)
    assert last.status == "completed" and last.ready_tasks == () and last.data == simple.instance(case).data
    with pytest.raises(NotFound):
        simple.state_at(case, 4)


def test_variable_history_keeps_every_value_with_who_and_when(simple: Engine, clock: FakeClock) -> None:
    case = simple.start("simple", START, "alice").id
    clock.advance(hours=1)
    simple.complete(open_task(simple, case, "review").id, {"ok": True, "note": "first look"}, "bob")
    clock.advance(hours=1)
    simple.complete(open_task(simple, case, "approve").id, {"approved": True}, "hana")
    history = simple.variable_history(case)
    start = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    assert history["subject"] == [(1, start, "alice", "Broken tap")]
    assert history["customer.tier"] == [(1, start, "alice", "key")]
    assert history["note"] == [(2, start + timedelta(hours=1), "bob", "first look")]
    assert history["score"] == [(2, start + timedelta(hours=1), "bob", 20)]
    assert history["approved"] == [(3, start + timedelta(hours=2), "hana", True)]
    timeline = simple.timeline(case)
    assert [e.summary for e in timeline] == ["started simple v1", "completed review", "completed approve"]
    assert timeline[1].entered == {"ok": True, "note": "first look"}
    assert {c.field for c in timeline[1].changes} >= {"ok", "note", "score", "reviewer_group", "approve_due"}


def test_a_process_failure_while_replaying_is_not_a_divergence(engine: Engine, clock: FakeClock) -> None:
    engine.deploy(package("reminders"))
    case = engine.start("reminders", {"cycle": "R2/PT1H", "deadline": "P1D"}, "alice").id
    stored = rp.load(engine, case)
    first = stored.events[0]
    broken = rp.Event(first.instance_id, 1, first.at, first.actor, first.type,
                      {**first.payload, "data": {"cycle": "nonsense", "deadline": "P1D"}},
                      first.state_hash, first.prev_hash, first.hash)
    result = rp.replay_events(stored.version, stored.world, case, [broken], stored.state)
    assert result.outcome == "failed" and result.failure and result.diverged_at == 1
    assert not result.verified


def test_an_unknown_case_cannot_be_replayed(engine: Engine) -> None:
    with pytest.raises(NotFound):
        engine.replay("no-such-case")
    with pytest.raises(NotFound):
        engine.verify_chain("no-such-case")


def test_an_export_replays_on_an_empty_database(simple: Engine, clock: FakeClock, tmp_path: Path) -> None:
    case = simple.start("simple", START, "alice").id
    clock.advance(hours=30)
    simple.run_due()
    simple.complete(open_task(simple, case, "review").id, {"ok": True}, "alice")
    text = "".join(simple.export_history([case]))
    records = rp.read_jsonl(text.splitlines())
    assert [r["record"] for r in records[:3]] == ["calendars", "definition", "instance"]
    assert records[2]["content_hash"] == records[1]["content_hash"] and "simple.bpmn" in records[1]["files"]

    empty = Engine(f"sqlite:///{tmp_path / 'empty.db'}", clock=clock)
    try:
        results = empty.replay_history(records)
    finally:
        empty.close()
    assert [(r.instance_id, r.outcome) for r in results] == [(case, "verified")]
    assert rp.verify_history(records)[0].ok

    # A definition whose files were changed in the file no longer matches its content hash.
    bad = [dict(r) for r in records]
    bad[1] = {**bad[1], "files": {**bad[1]["files"], "process.yaml": bad[1]["files"]["process.yaml"] + "\n# x"}}
    assert rp.replay_history(None, bad)[0].failure is not None


@pytest.fixture
def cli_db(monkeypatch: pytest.MonkeyPatch, sqlite_url: str, clock: FakeClock) -> Iterator[Engine]:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", sqlite_url)
    eng = Engine(sqlite_url, clock=clock)
    eng.load_org(FIXTURES / "org.yaml")
    eng.deploy(PACKAGES / "simple")
    yield eng
    eng.close()


def test_the_command_line_verifies_replays_and_exports(cli_db: Engine, clock: FakeClock, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [cli_db.start("simple", {**START, "ref": f"R-{i}"}, "alice").id for i in range(3)]
    cli_db.complete(open_task(cli_db, cases[0], "review").id, {"ok": True}, "alice")
    runner = CliRunner()

    result = runner.invoke(rp.audit_group, ["verify", "--all"])
    assert result.exit_code == 0, result.output
    assert "3 instance(s), 4 event(s) checked: chains intact" in result.output
    result = runner.invoke(rp.replay_command, ["--all"])
    assert result.exit_code == 0 and "3 verified, 0 diverged, 0 failed" in result.output
    result = runner.invoke(rp.replay_command, [cases[0], "-v"])
    assert result.exit_code == 0 and f"{cases[0]}: verified" in result.output

    out = tmp_path / "history.jsonl"
    result = runner.invoke(rp.export_command, ["--process", "simple", "--since", "2026-01-05", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sum(json.loads(line)["record"] == "instance" for line in out.read_text().splitlines()) == 3
    csv_out = tmp_path / "history.csv"
    result = runner.invoke(rp.export_command, ["--instance", cases[0], "--format", "csv", "-o", str(csv_out)])
    assert result.exit_code == 0, result.output
    assert csv_out.read_text().splitlines()[0].startswith("instance_id,process_id")

    monkeypatch.setenv("FLOWDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    result = runner.invoke(rp.replay_command, ["--file", str(out)])
    assert result.exit_code == 0 and "3 instance(s): 3 verified" in result.output, result.output
    result = runner.invoke(rp.audit_group, ["verify", "--file", str(out)])
    assert result.exit_code == 0, result.output

    lines = out.read_text().splitlines()
    lines = [line for line in lines if not ('"record":"event"' in line and '"seq":2' in line)]
    out.write_text("\n".join(lines) + "\n")
    result = runner.invoke(rp.audit_group, ["verify", "--file", str(out)])
    assert result.exit_code == 1, result.output
    assert f"{cases[0]} event #1: stored state edited" in result.output
    assert f"{cases[0]} instance: the export header lists 2 events but the file holds 1" in result.output

    assert runner.invoke(rp.replay_command, []).exit_code == 2
    assert runner.invoke(rp.export_command, []).exit_code == 2


def test_the_commands_are_part_of_flowdesk() -> None:
    from engine.cli import main

    assert {"audit", "replay", "export"} <= set(main.commands)
    assert CliRunner().invoke(main, ["audit", "verify", "--help"]).exit_code == 0


def test_a_command_committed_while_auditing_is_not_mistaken_for_tampering(
        simple: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored state and the events are read from one snapshot: a claim committed between the two
    reads (PostgreSQL's READ COMMITTED would show it to the second) must not look like a deleted event."""
    from engine import audit

    case = simple.start("simple", START, "alice").id
    review = open_task(simple, case, "review")
    read_history = audit.history
    holders = iter(["alice", "bob", "alice", "bob"])

    def history_with_a_concurrent_command(session: Any, instance_id: str) -> list[Any]:
        clock.advance(minutes=1)
        task = simple.task(review.id)
        if task.assignee:
            simple.unclaim(review.id, task.assignee)
        else:
            simple.claim(review.id, next(holders))
        return read_history(session, instance_id)

    monkeypatch.setattr(audit, "history", history_with_a_concurrent_command)
    assert simple.verify_chain(case).ok
    assert simple.replay(case).verified
    records = rp.read_jsonl("".join(simple.export_history([case])).splitlines())
    monkeypatch.setattr(audit, "history", read_history)
    assert rp.verify_history(records)[0].ok
    assert len(simple.history(case)) == 4


def test_a_timer_fired_early_by_hand_replays_at_its_due_time(simple: Engine, clock: FakeClock) -> None:
    case = simple.start("simple", START, "alice").id
    timer = only(simple.timers(instance_id=case))
    assert simple.fire_timer(timer.id, "sam")
    fired = simple.history(case)[-1]
    assert fired.type == "timer_fired" and fired.actor == "sam" and fired.at > clock.now()
    clock.advance(minutes=10)  # the next command is recorded earlier than the timer's due time
    simple.complete(open_task(simple, case, "chase").id, {"ok": True}, "bob")
    assert_verified(simple, case)
