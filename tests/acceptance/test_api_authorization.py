"""Every role × every action × own or other group, over the API with bearer tokens: allowed, or 403 as JSON
(404 for what the caller may not see)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from engine import Engine

from .matrix import CASES, case_id, prepare, refused_with, took_effect


@pytest.mark.parametrize(("side", "action", "role", "allowed"), CASES, ids=case_id)
def test_api_authorization(app: Flask, token: Callable[[str], dict[str, str]], web_engine: Engine, side: str,
                           action: str, role: str, allowed: bool) -> None:
    scene = prepare(web_engine, side, action)
    client, headers = app.test_client(), token(role)
    response: Any
    if action == "read_task":
        response = client.get(f"/api/v1/tasks/{scene.task_id}", headers=headers)
    elif action == "read_case":
        response = client.get(f"/api/v1/instances/{scene.instance_id}", headers=headers)
        for tail in ("history", "timers", "diagram"):
            other = client.get(f"/api/v1/instances/{scene.instance_id}/{tail}", headers=headers)
            assert other.status_code == response.status_code, tail
    elif action == "complete":
        response = client.post(f"/api/v1/tasks/{scene.task_id}/complete", json={"data": scene.data},
                               headers=headers)
    elif action == "assign":
        response = client.post(f"/api/v1/tasks/{scene.task_id}/assign", json={"assignee": scene.assignee},
                               headers=headers)
    elif action == "start":
        response = client.post(f"/api/v1/processes/{scene.process_id}/start", json={"data": scene.start_data},
                               headers=headers)
    else:
        response = client.post(f"/api/v1/tasks/{scene.task_id}/{action}", headers=headers)
    if allowed:
        assert response.status_code in (200, 201), response.get_json()
        assert action.startswith("read") or took_effect(web_engine, scene, action, role)
    else:
        status = refused_with(side, action, role)
        assert response.status_code == status, response.get_json()
        assert response.get_json()["error"] == ("not_allowed" if status == 403 else "not_found")
        assert not took_effect(web_engine, scene, action, role)


@pytest.mark.parametrize(("role", "sees"), [("alice", {"desk"}), ("hana", {"heads"}), ("sam", {"desk"}),
                                            ("audrey", {"desk", "heads"}), ("root", {"desk", "heads"})])
def test_task_and_case_lists_hold_only_what_the_user_may_see(app: Flask, token: Callable[[str], dict[str, str]],
                                                             web_engine: Engine, role: str, sees: set[str]) -> None:
    prepare(web_engine, "desk", "read_task")
    prepare(web_engine, "heads", "read_task")
    client, headers = app.test_client(), token(role)
    tasks = client.get("/api/v1/tasks", headers=headers).get_json()["items"]
    assert {t["group"] for t in tasks} == sees
    cases = client.get("/api/v1/instances", headers=headers).get_json()["items"]
    assert {c["process_id"] for c in cases} == {{"desk": "simple", "heads": "heads_note"}[g] for g in sees}
    timers = client.get("/api/v1/timers", headers=headers).get_json()["items"]
    assert {t["element_id"] for t in timers} == ({"review_overdue"} if "desk" in sees else set())
    if sees == {"desk"}:
        assert client.get("/api/v1/tasks?group=heads", headers=headers).status_code == 403
