"""Every role × every action × own or other group, in the HTML pages: allowed, or 403 (404 for what the user
may not see) with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Engine

from .matrix import CASES, case_id, prepare, refused_with, took_effect


@pytest.mark.parametrize(("side", "action", "role", "allowed"), CASES, ids=case_id)
def test_html_authorization(as_user: Any, web_engine: Engine, side: str, action: str, role: str,
                            allowed: bool) -> None:
    scene = prepare(web_engine, side, action)
    browser = as_user(role)
    if action == "read_task":
        response = browser.get(f"/tasks/{scene.task_id}")
    elif action == "read_case":
        response = browser.get(f"/cases/{scene.instance_id}")
        assert browser.get(f"/cases/{scene.instance_id}/diagram.json").status_code == response.status_code
    elif action == "complete":
        response = browser.post(f"/tasks/{scene.task_id}/complete",
                                {k: "true" if v is True else v for k, v in scene.data.items()})
    elif action == "assign":
        response = browser.post(f"/supervisor/tasks/{scene.task_id}/assign", {"assignee": scene.assignee})
    elif action == "start":
        assert browser.get(f"/start/{scene.process_id}").status_code == (200 if allowed else 403)
        response = browser.post(f"/start/{scene.process_id}", scene.start_data)
    else:
        response = browser.post(f"/tasks/{scene.task_id}/{action}")
    if allowed:
        assert response.status_code in (200, 303), response.get_data(as_text=True)
        assert action.startswith("read") or took_effect(web_engine, scene, action, role)
    else:
        status = refused_with(side, action, role)
        assert response.status_code == status, response.get_data(as_text=True)
        assert ("Not allowed" if status == 403 else "Not found") in response.get_data(as_text=True)
        assert not took_effect(web_engine, scene, action, role)
