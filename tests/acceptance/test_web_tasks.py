"""The task lists and the task page: lists with counts, filters, paging; claim, release, complete."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Flask

from engine import Engine, FakeClock

from .conftest import open_task, start_simple, to_approval


def counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', html)}


def rows(html: str) -> list[str]:
    return re.findall(r'data-task="([^"]+)"', html)


def test_lists_show_my_tasks_my_groups_unclaimed_and_counts(as_user: Any, web_engine: Engine) -> None:
    first, second = start_simple(web_engine, "R-1"), start_simple(web_engine, "R-2")
    mine = open_task(web_engine, first, "review")
    web_engine.claim(mine.id, "alice")
    other = open_task(web_engine, second, "review")
    alice = as_user("alice")
    html = alice.get("/tasks").get_data(as_text=True)
    assert counts(html) == {"mine": 1, "available": 1, "overdue": 0, "soon": 0, "all": 2}
    assert rows(html) == [mine.id]
    assert rows(alice.get("/tasks?list=available").get_data(as_text=True)) == [other.id]
    assert set(rows(alice.get("/tasks?list=all").get_data(as_text=True))) == {mine.id, other.id}
    hana = as_user("hana").get("/tasks?list=all").get_data(as_text=True)
    assert rows(hana) == [] and counts(hana)["all"] == 0  # not her group


def test_overdue_and_due_soon_follow_the_clock(as_user: Any, web_engine: Engine, clock: FakeClock) -> None:
    instance_id = start_simple(web_engine)
    review = open_task(web_engine, instance_id, "review")
    assert review.due_at is not None
    alice = as_user("alice")
    clock.set(review.due_at - timedelta(hours=1))
    html = alice.get("/tasks?list=soon").get_data(as_text=True)
    assert counts(html)["soon"] == 1 and counts(html)["overdue"] == 0 and rows(html) == [review.id]
    assert "due soon" in html
    clock.set(review.due_at + timedelta(minutes=1))
    html = alice.get("/tasks?list=overdue").get_data(as_text=True)
    assert counts(html)["overdue"] == 1 and counts(html)["soon"] == 0 and rows(html) == [review.id]
    assert "badge-overdue" in html


def test_tasks_are_sorted_by_due_time_and_paginated(app: Flask, as_user: Any, web_engine: Engine,
                                                   clock: FakeClock) -> None:
    app.config["PAGE_SIZE"] = 2
    ids = []
    for n in range(5):
        ids.append(open_task(web_engine, start_simple(web_engine, f"R-{n}"), "review").id)
        clock.advance(minutes=10)
    alice = as_user("alice")
    first = alice.get("/tasks?list=available").get_data(as_text=True)
    assert rows(first) == ids[:2] and "Page 1 of 3" in first and 'rel="next"' in first
    third = alice.get("/tasks?list=available&page=3").get_data(as_text=True)
    assert rows(third) == ids[4:] and 'rel="prev"' in third


def test_filters_by_process_business_field_and_due_date(as_user: Any, web_engine: Engine) -> None:
    key = open_task(web_engine, start_simple(web_engine, "R-1", customer_id="C1"), "review")  # tier key
    general = open_task(web_engine, start_simple(web_engine, "R-2", customer_id="C2"), "review")  # tier general
    alice = as_user("alice")
    keyed = alice.get("/tasks?list=all&f.tier=key").get_data(as_text=True)
    assert rows(keyed) == [key.id]
    assert '<input name="f.tier" value="key"' in keyed and "Business fields (1)" in keyed  # the filter is kept
    assert rows(alice.get("/tasks?list=all&f.tier=general").get_data(as_text=True)) == [general.id]
    assert rows(alice.get("/tasks?list=all&process=nothing").get_data(as_text=True)) == []
    assert set(rows(alice.get("/tasks?list=all&process=simple").get_data(as_text=True))) == {key.id, general.id}
    assert key.due_at is not None
    day = key.due_at.date().isoformat()
    assert len(rows(alice.get(f"/tasks?list=all&due_before={day}").get_data(as_text=True))) == 2
    assert rows(alice.get("/tasks?list=all&due_before=2026-01-01").get_data(as_text=True)) == []
    assert alice.get("/tasks?list=all&f.nope=1").status_code == 400
    assert alice.get("/tasks?list=all&due_before=soon").status_code == 400
    assert alice.get("/tasks?list=everything").status_code == 400


def test_the_task_page_shows_the_customer_file_the_case_data_and_the_form(as_user: Any,
                                                                         web_engine: Engine) -> None:
    instance_id, approve = to_approval(web_engine)
    html = as_user("hana").get(f"/tasks/{approve.id}").get_data(as_text=True)
    assert "Customer file" in html and "Acme Ltd" in html  # the customer's file
    assert "Broken tap" in html and "Score" in html  # the case's data so far
    assert 'name="approved"' in html and "Complete task" in html
    assert "Request Broken tap" in html  # the case title


def test_claim_release_and_complete(as_user: Any, web_engine: Engine) -> None:
    instance_id = start_simple(web_engine)
    review = open_task(web_engine, instance_id, "review")
    alice, bob = as_user("alice"), as_user("bob")
    assert alice.post(f"/tasks/{review.id}/claim").status_code == 303
    assert web_engine.task(review.id).assignee == "alice"
    page = bob.get(f"/tasks/{review.id}").get_data(as_text=True)
    assert "alice holds this task" in page
    assert bob.post(f"/tasks/{review.id}/claim").status_code == 409  # held by another: a conflict
    assert bob.post(f"/tasks/{review.id}/unclaim").status_code == 403
    assert bob.post(f"/tasks/{review.id}/complete", {"ok": "true"}).status_code == 409
    assert alice.post(f"/tasks/{review.id}/unclaim").status_code == 303
    assert web_engine.task(review.id).assignee is None
    response = bob.post(f"/tasks/{review.id}/complete", {"ok": "true", "note": "fine"})
    assert response.status_code == 303 and response.headers["Location"] == f"/cases/{instance_id}"
    done = web_engine.task(review.id)
    assert done.status == "completed" and done.completed_by == "bob"
    page = bob.get(f"/tasks/{review.id}").get_data(as_text=True)
    assert "completed" in page and "Complete task" not in page
    assert bob.post(f"/tasks/{review.id}/complete", {"ok": "true"}).status_code == 409
    assert bob.get("/tasks/no-such-task").status_code == 404
