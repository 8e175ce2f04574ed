"""Export files without a database: JSON Lines keep the entered order, CSV opens in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from engine.audit import (
    HistoryInvalid,
    entered_data,
    event_from_record,
    event_record,
    read_jsonl,
    summarize,
    to_csv,
    to_jsonl,
)
from engine.model import Event

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def event(seq: int, type_: str, payload: dict[str, object]) -> Event:
    return Event("case-1", seq, AT, "alice", type_, payload, "s" * 64, "p" * 64, "h" * 64)


def test_json_lines_round_trip_and_keep_the_order_fields_were_entered_in() -> None:
    started = event(1, "instance_started", {"process_id": "simple", "definition_version": 2,
                                            "data": {"zeta": 1, "alpha": 2}})
    lines = list(to_jsonl([event_record(started)]))
    assert lines[0].endswith("\n") and lines[0].index('"zeta"') < lines[0].index('"alpha"')
    back = event_from_record(read_jsonl(lines)[0])
    assert back == started and list(back.payload["data"]) == ["zeta", "alpha"]


def test_bad_lines_are_named_by_number() -> None:
    with pytest.raises(HistoryInvalid, match="line 2: not JSON"):
        read_jsonl(['{"record": "event"}', "{oops"])
    with pytest.raises(HistoryInvalid, match="line 1: not an export record"):
        read_jsonl([json.dumps([1, 2])])


def test_csv_has_one_row_per_event_with_the_case_header() -> None:
    header = {"record": "instance", "instance_id": "case-1", "process_id": "simple", "definition_version": 2,
              "business_key": "R-1"}
    events = [event(1, "instance_started", {"data": {"subject": "Tap"}}),
              event(2, "task_completed", {"task_id": "t1", "element_id": "review", "data": {"ok": True}}),
              event(3, "timer_fired", {"element_id": "review_overdue", "due_at": "2026-01-05T12:00:00+00:00"})]
    text = "".join(to_csv([{"record": "calendars"}, header, *map(event_record, events)]))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["type"] for r in rows] == ["instance_started", "task_completed", "timer_fired"]
    assert {r["business_key"] for r in rows} == {"R-1"} and rows[1]["element_id"] == "review"
    assert json.loads(rows[1]["data"]) == {"ok": True}
    assert rows[2]["summary"] == "timer review_overdue fired (due 2026-01-05T12:00:00+00:00)"


def test_what_each_event_says() -> None:
    assert summarize(event(1, "task_assigned", {"element_id": "approve", "assignee": None})) == \
        "assigned approve to nobody"
    assert summarize(event(1, "instance_started", {"process_id": "return_visit", "definition_version": 1,
                                                   "message": {"name": "return_visit_request"}})) == \
        "started return_visit v1 by message return_visit_request"
    assert entered_data(event(1, "message_delivered", {"name": "paid", "payload": {"amount": 3}})) == {"amount": 3}
    assert entered_data(event(1, "task_claimed", {"task_id": "t"})) == {}
