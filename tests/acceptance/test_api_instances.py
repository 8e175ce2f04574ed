"""The process and case API: processes, definitions, start, instances with filters, history, timers, diagram."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from engine import Engine

from .conftest import START, open_task, start_simple, to_approval

Token = Callable[[str], dict[str, str]]


def test_processes_and_definitions(app: Flask, token: Token) -> None:
    client, alice = app.test_client(), token("alice")
    processes = {p["process_id"]: p for p in client.get("/api/v1/processes", headers=alice).get_json()["items"]}
    assert set(processes) == {"simple", "widgets", "heads_note"}
    simple = processes["simple"]
    assert simple["version"] == 1 and simple["starters"] == ["desk"] and simple["may_start"] is True
    assert simple["start_form"]["required"] == ["subject", "ref", "customer_id"]
    assert processes["heads_note"]["may_start"] is False
    assert "tier" in simple["fields"]
    assert client.get("/api/v1/processes/simple", headers=alice).get_json()["name"] == "Simple review"
    versions = client.get("/api/v1/definitions?process_id=simple", headers=alice).get_json()["items"]
    assert [d["version"] for d in versions] == [1]
    assert client.get("/api/v1/definitions/simple/1", headers=alice).get_json()["process_id"] == "simple"
    assert client.get("/api/v1/definitions/simple/9", headers=alice).status_code == 404
    assert client.get("/api/v1/processes/nothing", headers=alice).status_code == 404


def test_start_a_case(app: Flask, token: Token, web_engine: Engine) -> None:
    response = app.test_client().post("/api/v1/processes/simple/start", json={"data": START},
                                      headers=token("alice"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "running" and body["business_key"] == "R-1" and body["started_by"] == "alice"
    assert body["data"]["customer"]["tier"] == "key"
    assert [t["element_id"] for t in body["open_tasks"]] == ["review"]
    assert web_engine.instance(body["id"]).title == "Request Broken tap"


def test_instances_filter_and_detail(app: Flask, token: Token, web_engine: Engine) -> None:
    first, _ = to_approval(web_engine, "R-1")
    second = start_simple(web_engine, "R-2", customer_id="C2")
    client, alice = app.test_client(), token("alice")

    def ids(query: str) -> list[str]:
        response = client.get(f"/api/v1/instances?{query}", headers=alice)
        assert response.status_code == 200, response.get_json()
        return [i["id"] for i in response.get_json()["items"]]

    assert set(ids("")) == {first, second}
    assert ids("business_key=R-2") == [second]
    assert ids("field=tier:key") == [first]
    assert set(ids("status=running&process_id=simple&started_by=alice")) == {first, second}
    assert ids("status=completed") == []
    assert len(ids("limit=1")) == 1 and len(ids("limit=1&offset=1")) == 1
    body = client.get(f"/api/v1/instances/{first}", headers=alice).get_json()
    assert body["fields"]["tier"] == "key" and body["data"]["ok"] is True
    assert [t["element_id"] for t in body["open_tasks"]] == ["approve"]


def test_history_timers_and_diagram(app: Flask, token: Token, web_engine: Engine) -> None:
    instance_id = start_simple(web_engine)
    review = open_task(web_engine, instance_id, "review")
    web_engine.complete(review.id, {"ok": True, "note": "checked"}, "alice")
    client, alice = app.test_client(), token("alice")
    events = client.get(f"/api/v1/instances/{instance_id}/history", headers=alice).get_json()["items"]
    assert [e["type"] for e in events] == ["instance_started", "task_completed"]
    assert events[1]["actor"] == "alice" and events[1]["payload"]["data"]["note"] == "checked"
    assert events[1]["prev_hash"] == events[0]["hash"]
    timers = client.get(f"/api/v1/instances/{instance_id}/timers", headers=alice).get_json()["items"]
    assert [(t["element_id"], t["status"]) for t in timers] == [("review_overdue", "cancelled")]
    assert client.get(f"/api/v1/timers?instance_id={instance_id}", headers=alice).get_json()["items"] == []
    cancelled = client.get(f"/api/v1/timers?instance_id={instance_id}&status=cancelled", headers=alice)
    assert len(cancelled.get_json()["items"]) == 1
    diagram = client.get(f"/api/v1/instances/{instance_id}/diagram", headers=alice).get_json()
    assert "review" in diagram["completed"] and diagram["current"] == ["approve"]


def test_me(app: Flask, token: Token) -> None:
    body = app.test_client().get("/api/v1/me", headers=token("sam")).get_json()
    assert body == {"username": "sam", "name": "Sam Supervisor", "groups": ["desk", "supervisors"],
                    "roles": ["supervisor"], "supervises": ["desk", "supervisors"]}
