"""Supervisors see their groups' overdue and escalated tasks, reassign them, and see each member's load."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from engine import Engine, FakeClock

from .conftest import open_task, start_simple, to_approval


def section(html: str, table_id: str) -> list[str]:
    match = re.search(rf'<table class="list" id="{table_id}">(.*?)</table>', html, re.S)
    return re.findall(r'data-task="([^"]+)"', match.group(1)) if match else []


def test_overdue_and_escalated_tasks_of_the_supervised_groups(as_user: Any, web_engine: Engine,
                                                             clock: FakeClock) -> None:
    instance_id = start_simple(web_engine)
    review = open_task(web_engine, instance_id, "review")
    _, approve = to_approval(web_engine)  # a heads task: not sam's
    assert review.due_at is not None
    clock.set(review.due_at + timedelta(hours=1))
    web_engine.run_due()  # the review's deadline timer fires and starts the chase task
    chase = open_task(web_engine, instance_id, "chase")
    html = as_user("sam").get("/supervisor").get_data(as_text=True)
    assert section(html, "overdue") == [review.id]
    assert set(section(html, "escalated")) == {review.id, chase.id}
    assert approve.id not in html
    admin = as_user("root").get("/supervisor").get_data(as_text=True)
    assert approve.id in section(admin, "overdue")  # admins supervise every group


def test_a_supervisor_reassigns_a_task_to_another_member(as_user: Any, web_engine: Engine) -> None:
    review = open_task(web_engine, start_simple(web_engine), "review")
    web_engine.claim(review.id, "alice")
    sam = as_user("sam")
    response = sam.post(f"/supervisor/tasks/{review.id}/assign", {"assignee": "bob"})
    assert response.status_code == 303 and response.headers["Location"] == "/supervisor"
    assert web_engine.task(review.id).assignee == "bob"
    assert sam.post(f"/supervisor/tasks/{review.id}/assign", {"assignee": "hana"}).status_code == 400
    assert web_engine.task(review.id).assignee == "bob"
    response = sam.post(f"/supervisor/tasks/{review.id}/assign",
                        {"assignee": "", "next": f"/tasks/{review.id}"})
    assert response.headers["Location"] == f"/tasks/{review.id}"
    assert web_engine.task(review.id).assignee is None
    history = [e.type for e in web_engine.history(review.instance_id)]
    assert history.count("task_assigned") == 2
    # The task page offers the same to the supervisor, and not to staff.
    assert "Assign to" in sam.get(f"/tasks/{review.id}").get_data(as_text=True)
    assert "Assign to" not in as_user("alice").get(f"/tasks/{review.id}").get_data(as_text=True)


def test_workload_per_member(as_user: Any, web_engine: Engine, clock: FakeClock) -> None:
    for n in range(3):
        task = open_task(web_engine, start_simple(web_engine, f"R-{n}"), "review")
        web_engine.claim(task.id, "alice" if n < 2 else "bob")
    assert task.due_at is not None
    clock.set(task.due_at + timedelta(minutes=5))
    html = as_user("sam").get("/supervisor").get_data(as_text=True)
    desk = re.search(r'data-group="desk">(.*?)</table>', html, re.S).group(1)  # type: ignore[union-attr]
    loads = dict(re.findall(r'data-member="(\w+)"><td>[^<]*</td><td class="num">(\d+)</td>', desk))
    assert loads == {"alice": "2", "bob": "1", "sam": "0"}
    assert "3 open · 0 unclaimed · 3 overdue" in html


def test_the_supervisor_page_is_for_supervisors(as_user: Any) -> None:
    for name in ("alice", "hana", "audrey"):
        assert as_user(name).get("/supervisor").status_code == 403
    assert as_user("sam").get("/supervisor").status_code == 200
