"""An auditor searches cases, reads a timeline, travels back in time, replays and exports — over HTTP."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from sqlalchemy import text

from engine import Engine, FakeClock
from engine.replay import read_jsonl, replay_history
from tests.acceptance.conftest import Browser, start_simple, to_approval


def _approved_case(engine: Engine, clock: FakeClock) -> str:
    instance_id, approve = to_approval(engine, "R-77")
    clock.advance(hours=1)
    engine.complete(approve.id, {"approved": True}, "hana")
    return instance_id


def test_staff_cannot_open_the_audit_pages(as_user: Callable[[str], Browser], web_engine: Engine) -> None:
    instance_id = start_simple(web_engine)
    alice = as_user("alice")
    assert alice.get("/audit/").status_code == 403
    assert alice.get(f"/audit/cases/{instance_id}").status_code == 403
    assert alice.get(f"/audit/export?instance={instance_id}").status_code == 403


def test_auditor_finds_cases_by_process_key_field_actor_and_date(
        as_user: Callable[[str], Browser], web_engine: Engine, clock: FakeClock) -> None:
    done = _approved_case(web_engine, clock)
    other = start_simple(web_engine, "R-78")
    audrey = as_user("audrey")

    page = audrey.get("/audit/?process=simple").get_data(as_text=True)
    assert done in page and other in page and "intact" in page
    page = audrey.get("/audit/?key=R-77").get_data(as_text=True)
    assert done in page and other not in page
    page = audrey.get("/audit/?actor=hana").get_data(as_text=True)
    assert done in page and other not in page
    page = audrey.get("/audit/?f.outcome=&f.tier=key").get_data(as_text=True)
    assert done in page and other in page
    assert '<input name="f.tier" value="key"' in page and '<input name="f.outcome" value=""' in page
    page = audrey.get("/audit/?since=2026-01-06").get_data(as_text=True)
    assert "No cases match" in page
    page = audrey.get("/audit/?since=2026-01-05&until=2026-01-05").get_data(as_text=True)
    assert done in page


def test_timeline_shows_who_did_what_the_data_and_what_changed(
        as_user: Callable[[str], Browser], web_engine: Engine, clock: FakeClock) -> None:
    instance_id = _approved_case(web_engine, clock)
    page = as_user("audrey").get(f"/audit/cases/{instance_id}").get_data(as_text=True)
    assert 'id="timeline"' in page
    for seq in (1, 2, 3):
        assert f'id="event-{seq}"' in page
    assert "Alice Desk" in page and "Hana Head" in page
    assert "completed approve" in page
    # The review's data entered and the values it set through the script task.
    assert "reviewer_group" in page and "heads" in page
    assert 'data-ok="true"' in page
    assert 'id="variables"' in page and "approved" in page


def test_replay_button_shows_verified_then_the_wrong_event_after_tampering(
        as_user: Callable[[str], Browser], web_engine: Engine, clock: FakeClock) -> None:
    instance_id = _approved_case(web_engine, clock)
    audrey = as_user("audrey")
    page = audrey.post(f"/audit/cases/{instance_id}/replay").get_data(as_text=True)
    assert 'data-outcome="verified"' in page

    with web_engine.store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET payload = :p WHERE instance_id = :i AND seq = 2"),
                     {"p": json.dumps({"task_id": open_task_id(web_engine, instance_id, 2), "element_id": "review",
                                       "data": {"ok": False}}), "i": instance_id})
    page = audrey.post(f"/audit/cases/{instance_id}/replay").get_data(as_text=True)
    assert 'data-outcome="diverged"' in page
    assert "First wrong event" in page and 'href="#event-2"' in page
    assert 'data-ok="false"' in page and "was edited" in page


def open_task_id(engine: Engine, instance_id: str, seq: int) -> str:
    return str(next(e for e in engine.history(instance_id) if e.seq == seq).payload["task_id"])


def test_as_of_view_shows_the_case_as_it_was(as_user: Callable[[str], Browser], web_engine: Engine,
                                            clock: FakeClock) -> None:
    instance_id = _approved_case(web_engine, clock)
    audrey = as_user("audrey")
    page = audrey.get(f"/audit/cases/{instance_id}/events/1").get_data(as_text=True)
    assert 'data-element="review"' in page and 'data-matches="true"' in page
    assert 'id="as-of-status">running' in page and "reviewer_group" not in _data_section(page)
    page = audrey.get(f"/audit/cases/{instance_id}/events/2").get_data(as_text=True)
    assert 'data-element="approve"' in page and "reviewer_group" in _data_section(page)
    page = audrey.get(f"/audit/cases/{instance_id}/events/3").get_data(as_text=True)
    assert 'id="as-of-status">completed' in page
    assert audrey.get(f"/audit/cases/{instance_id}/events/9").status_code == 404


def _data_section(page: str) -> str:
    return page.split('id="as-of-data"', 1)[1].split("</section>", 1)[0]


def test_exports_replay_back_and_open_in_a_spreadsheet(as_user: Callable[[str], Browser], web_engine: Engine,
                                                       clock: FakeClock) -> None:
    instance_id = _approved_case(web_engine, clock)
    start_simple(web_engine, "R-90")
    audrey = as_user("audrey")

    response = audrey.get(f"/audit/export?instance={instance_id}&format=jsonl")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    results = replay_history(None, read_jsonl(response.get_data(as_text=True).splitlines()))
    assert [(r.instance_id, r.verified) for r in results] == [(instance_id, True)]

    response = audrey.get("/audit/export?process=simple&format=csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["business_key"] for r in rows} == {"R-77", "R-90"}
    assert [r["type"] for r in rows if r["instance_id"] == instance_id] == [
        "instance_started", "task_completed", "task_completed"]

    everything = audrey.get("/audit/export?process=simple").get_data(as_text=True)
    assert all(r.verified for r in replay_history(None, read_jsonl(everything.splitlines())))
    assert audrey.get("/audit/export?format=xml").status_code == 400


def test_every_chain_at_once(as_user: Callable[[str], Browser], web_engine: Engine, clock: FakeClock) -> None:
    instance_id = _approved_case(web_engine, clock)
    start_simple(web_engine, "R-2")
    audrey = as_user("audrey")
    assert 'data-ok="true"' in audrey.get("/audit/verify").get_data(as_text=True)
    with web_engine.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE instance_id = :i AND seq = 2"), {"i": instance_id})
    page = audrey.get("/audit/verify").get_data(as_text=True)
    assert 'data-ok="false"' in page and instance_id in page and "event #2 is missing (deleted)" in page


def test_the_menu_offers_the_audit_to_auditors_only(as_user: Callable[[str], Browser], web_engine: Engine) -> None:
    start_simple(web_engine)
    assert 'href="/audit/"' in as_user("audrey").get("/tasks").get_data(as_text=True)
    assert 'href="/audit/"' not in as_user("alice").get("/tasks").get_data(as_text=True)


def test_a_bad_date_in_the_search_is_a_clear_error(as_user: Callable[[str], Browser], web_engine: Engine) -> None:
    response = as_user("audrey").get("/audit/?since=yesterday")
    assert response.status_code == 400 and "is not a date" in response.get_data(as_text=True)


def test_the_values_column_is_the_engines_variable_history(web_engine: Engine, clock: FakeClock) -> None:
    from web.audit import _variables

    instance_id = _approved_case(web_engine, clock)
    assert _variables(web_engine.timeline(instance_id)) == web_engine.variable_history(instance_id)
