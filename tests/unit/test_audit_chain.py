"""The hash chain on its own: built in memory, then edited, deleted, inserted and reordered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from engine.audit import GENESIS, event_hash, verify_events
from engine.model import Event

CASE = "case-1"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def chain(n: int) -> list[Event]:
    events: list[Event] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        type_ = "instance_started" if seq == 1 else "task_completed"
        at, payload, state = T0 + timedelta(minutes=seq), {"data": {"n": seq}}, f"{seq:064x}"
        digest = event_hash(CASE, seq, at, "alice", type_, payload, state, prev)
        events.append(Event(CASE, seq, at, "alice", type_, payload, state, prev, digest))
        prev = digest
    return events


def found(events: list[Event], stored: str | None = None) -> set[tuple[int | None, str]]:
    return {(p.seq, p.kind) for p in verify_events(CASE, events, stored)}


def test_an_untouched_chain_has_no_problems() -> None:
    events = chain(4)
    assert found(events, events[-1].state_hash) == set()


def test_an_edited_payload_is_named() -> None:
    events = chain(4)
    events[2] = replace(events[2], payload={"data": {"n": 99}})
    assert found(events) == {(3, "edited")}


def test_a_deleted_event_is_a_gap() -> None:
    events = chain(5)
    del events[1:3]
    problems = verify_events(CASE, events)
    assert {(p.seq, p.kind) for p in problems} == {(2, "deleted")}
    assert "event #2–#3 is missing" in problems[0].message


def test_a_deleted_and_renumbered_event_shows_as_moved() -> None:
    events = chain(4)
    del events[1]
    events = [replace(e, seq=i + 1) for i, e in enumerate(events)]
    problems = {(p.seq, p.kind) for p in verify_events(CASE, events)}
    assert (2, "reordered") in problems and (2, "prev_mismatch") in problems


def test_swapped_events_are_reordered() -> None:
    events = chain(4)
    a, b = events[1], events[2]
    events[1], events[2] = replace(b, seq=2), replace(a, seq=3)
    problems = verify_events(CASE, events)
    assert {(p.seq, p.kind) for p in problems} >= {(2, "reordered"), (3, "reordered")}
    assert any("recorded as #3 now stands at #2" in p.message for p in problems)


def test_an_event_inserted_at_the_end_without_its_hash() -> None:
    events = chain(3)
    events.append(replace(events[-1], seq=4, hash="0" * 64, prev_hash=events[-1].hash))
    assert found(events) == {(4, "edited")}


def test_a_stored_state_not_recorded_by_the_last_event() -> None:
    events = chain(2)
    assert found(events, "f" * 64) == {(2, "state_edited")}


def test_no_events_and_a_wrong_first_event() -> None:
    assert found([]) == {(None, "no_events")}
    events = chain(2)[1:]
    assert (1, "deleted") in found(events)


def test_a_duplicate_sequence_number_in_an_export() -> None:
    events = chain(3)
    events.insert(2, events[1])
    assert (2, "duplicate") in found(events)


def test_the_last_change_after_the_last_event() -> None:
    events = chain(2)
    problems = verify_events(CASE, events, None, events[-1].at + timedelta(seconds=1))
    assert {(p.seq, p.kind) for p in problems} == {(2, "after_last")}
    assert verify_events(CASE, events, None, events[-1].at) == []
