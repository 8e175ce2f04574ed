"""The task API: lists and filters, a task with its form, claim, unclaim, assign, complete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask

from engine import Engine, FakeClock

from .conftest import open_task, start_simple, to_approval

Token = Callable[[str], dict[str, str]]


def test_work_lists_with_totals_and_paging(app: Flask, token: Token, web_engine: Engine, clock: FakeClock) -> None:
    ids = []
    for n in range(3):
        ids.append(open_task(web_engine, start_simple(web_engine, f"R-{n}"), "review").id)
        clock.advance(minutes=5)
    web_engine.claim(ids[0], "alice")
    client, alice = app.test_client(), token("alice")
    mine = client.get("/api/v1/tasks?list=mine", headers=alice).get_json()
    assert [t["id"] for t in mine["items"]] == [ids[0]] and mine["total"] == 1
    page = client.get("/api/v1/tasks?list=available&limit=1&offset=1", headers=alice).get_json()
    assert [t["id"] for t in page["items"]] == [ids[2]] and page["total"] == 2
    assert page["limit"] == 1 and page["offset"] == 1
    due = web_engine.task(ids[0]).due_at
    assert due is not None
    clock.set(due + timedelta(minutes=1))
    overdue = client.get("/api/v1/tasks?list=overdue", headers=alice).get_json()
    assert overdue["total"] >= 1 and ids[0] in [t["id"] for t in overdue["items"]]


def test_filters(app: Flask, token: Token, web_engine: Engine, clock: FakeClock) -> None:
    key = open_task(web_engine, start_simple(web_engine, "R-1", customer_id="C1"), "review")
    clock.advance(minutes=1)  # the list is ordered by due time: make the two distinct
    general = open_task(web_engine, start_simple(web_engine, "R-2", customer_id="C2"), "review")
    client, alice = app.test_client(), token("alice")

    def ids(query: str) -> list[str]:
        response = client.get(f"/api/v1/tasks?{query}", headers=alice)
        assert response.status_code == 200, response.get_json()
        return [t["id"] for t in response.get_json()["items"]]

    assert ids("field=tier:key") == [key.id]
    assert ids("list=all&field=tier:general") == [general.id]
    assert ids("process_id=simple") == [key.id, general.id]
    assert ids(f"instance_id={general.instance_id}") == [general.id]
    assert ids("group=desk&assignee=alice") == []
    assert ids("due_before=2026-01-01") == []
    assert ids("status=completed") == []
    assert len(ids("status=any")) == 2


def test_a_task_carries_its_form_and_the_case_data(app: Flask, token: Token, web_engine: Engine) -> None:
    _, approve = to_approval(web_engine)
    body = app.test_client().get(f"/api/v1/tasks/{approve.id}", headers=token("hana")).get_json()
    assert body["name"] == "Approve" and body["group"] == "heads" and body["status"] == "ready"
    assert body["form"]["required"] == ["approved"]
    assert body["data"]["customer"]["name"] == "Acme Ltd" and body["fields"]["tier"] == "key"


def test_claim_unclaim_assign_and_complete(app: Flask, token: Token, web_engine: Engine) -> None:
    instance_id = start_simple(web_engine)
    review = open_task(web_engine, instance_id, "review")
    client = app.test_client()
    url = f"/api/v1/tasks/{review.id}"
    assert client.post(f"{url}/claim", headers=token("alice")).get_json()["assignee"] == "alice"
    assert client.post(f"{url}/claim", headers=token("bob")).status_code == 409
    assert client.post(f"{url}/unclaim", headers=token("alice")).get_json()["assignee"] is None
    assigned = client.post(f"{url}/assign", json={"assignee": "bob"}, headers=token("sam"))
    assert assigned.status_code == 200 and assigned.get_json()["assignee"] == "bob"
    refused = client.post(f"{url}/complete", json={"data": {"ok": True}}, headers=token("alice"))
    assert refused.status_code == 409 and refused.get_json()["error"] == "task_held_by_other"
    done = client.post(f"{url}/complete", json={"data": {"ok": True, "note": "fine"}}, headers=token("bob"))
    assert done.status_code == 200
    body = done.get_json()
    assert body["id"] == instance_id and [t["element_id"] for t in body["open_tasks"]] == ["approve"]
    assert web_engine.task(review.id).completed_by == "bob"
    again = client.post(f"{url}/complete", json={"data": {"ok": True}}, headers=token("bob"))
    assert again.status_code == 409 and again.get_json()["error"] == "task_not_ready"
    unassign = client.post(f"/api/v1/tasks/{body['open_tasks'][0]['id']}/assign", json={"assignee": None},
                           headers=token("root"))
    assert unassign.status_code == 200 and unassign.get_json()["assignee"] is None
