"""Cases: starting one from the start form, the case list, and the case page with history and diagram."""

from __future__ import annotations

import json
import re
from typing import Any

from engine import Engine

from .conftest import open_task, start_simple, to_approval


def test_the_start_page_lists_only_processes_the_user_may_start(as_user: Any) -> None:
    assert "/start/simple" in as_user("alice").get("/start").get_data(as_text=True)
    assert "/start/simple" in as_user("root").get("/start").get_data(as_text=True)  # admins may start all
    assert "/start/simple" not in as_user("hana").get("/start").get_data(as_text=True)
    assert as_user("hana").get("/start/simple").status_code == 403
    assert as_user("audrey").get("/start/simple").status_code == 403
    assert as_user("alice").get("/start/nothing").status_code == 404


def test_starting_a_case_from_the_start_form(as_user: Any, web_engine: Engine) -> None:
    alice = as_user("alice")
    form = alice.get("/start/simple").get_data(as_text=True)
    assert 'name="subject"' in form and 'name="amount" value="0"' in form  # default shown
    response = alice.post("/start/simple", {"subject": "Leaking roof", "ref": "R-9", "customer_id": "C2",
                                            "amount": "12"})
    assert response.status_code == 303
    instance = web_engine.instances()[0]
    assert response.headers["Location"] == f"/cases/{instance.id}"
    assert instance.data["amount"] == 12 and instance.started_by == "alice"
    page = alice.get(response.headers["Location"]).get_data(as_text=True)
    assert "Case started: Request Leaking roof" in page


def test_a_refused_start_form_keeps_what_was_entered(as_user: Any, web_engine: Engine) -> None:
    response = as_user("alice").post("/start/simple", {"subject": "ab", "ref": "R-9", "customer_id": "C404",
                                                       "amount": "-1"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "is too short" in html and 'value="ab"' in html and 'value="R-9"' in html
    assert "minimum" in html and 'value="-1"' in html
    assert web_engine.instances() == []
    html = as_user("alice").post("/start/simple", {"subject": "abc", "ref": "R", "customer_id": "C404",
                                                   "amount": "x"}).get_data(as_text=True)
    assert "enter a whole number" in html


def test_the_case_page_shows_status_fields_tasks_timers_history_and_diagram(as_user: Any,
                                                                           web_engine: Engine) -> None:
    instance_id = start_simple(web_engine)
    review = open_task(web_engine, instance_id, "review")
    web_engine.claim(review.id, "alice")
    alice = as_user("alice")
    html = alice.get(f"/cases/{instance_id}").get_data(as_text=True)
    assert "Request Broken tap" in html and 'id="case-status">running' in html
    assert "Tier" in html and ">key<" in html  # business field with its value
    assert f'/tasks/{review.id}' in html and "Alice Desk" in html  # open task and its holder
    assert "Review overdue — fires" in html  # the pending timer, by name
    assert "started the case" in html and "claimed" in html
    data = json.loads(re.search(r'id="diagram-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert data["current"] == ["review"] and "<bpmn:definitions" in data["xml"]
    assert "bpmn-navigated-viewer.production.min.js" in html and "diagram.js" in html

    alice.post(f"/tasks/{review.id}/complete", {"ok": "true", "note": "looks right"})
    html = alice.get(f"/cases/{instance_id}").get_data(as_text=True)
    assert "completed" in html and "<em>Review request</em>" in html
    assert "looks right" in html  # the data entered, in the history
    diagram = alice.get(f"/cases/{instance_id}/diagram.json").get_json()
    assert "review" in diagram["completed"] and diagram["current"] == ["approve"]


def test_the_case_list_shows_the_cases_the_user_has_a_part_in(as_user: Any, web_engine: Engine) -> None:
    instance_id, _ = to_approval(web_engine, "R-7")
    other = start_simple(web_engine, "R-8")
    hana = as_user("hana").get("/cases").get_data(as_text=True)
    assert f"/cases/{instance_id}" in hana and f"/cases/{other}" not in hana  # only the one at the heads
    alice = as_user("alice").get("/cases?status=running").get_data(as_text=True)
    assert f"/cases/{instance_id}" in alice and f"/cases/{other}" in alice
    assert f"/cases/{other}" in as_user("audrey").get("/cases").get_data(as_text=True)
    assert f"/cases/{other}" not in as_user("alice").get("/cases?key=R-7").get_data(as_text=True)
    by_tier = as_user("alice").get("/cases?f.tier=general").get_data(as_text=True)
    assert f"/cases/{other}" not in by_tier and '<input name="f.tier" value="general"' in by_tier
    assert as_user("alice").get("/cases?status=lost").status_code == 400
