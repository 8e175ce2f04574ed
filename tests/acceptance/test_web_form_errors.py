"""A refused form says each field's problem once, beside the field, and lists them all at the top with a
link to each field — an empty submit of the complaint start form shows seven problems, not forty-nine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from engine import Engine, FormInvalid
from tests.conftest import PROCESSES
from web import create_app

from .conftest import Browser, open_task
from .test_web_forms import WIDGETS, field_html


def summary_links(html: str) -> list[tuple[str, str]]:
    box = re.search(r'<div class="form-errors"[^>]*>(.*?)</div>', html, re.S)
    assert box, "no error summary at the top of the form"
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', box.group(1))


def test_the_engine_names_each_missing_field_once(engine: Engine) -> None:
    engine.deploy(WIDGETS)
    instance = engine.start("widgets", {"label": "W1"}, "alice")
    task = open_task(engine, instance.id, "fill")
    with pytest.raises(FormInvalid) as refused:
        engine.complete(task.id, {}, "alice")
    errors = refused.value.field_errors
    assert {k for k in errors} == {"name", "count", "agree", "kind", "when", "contact"}
    assert all(messages == ["this field is required"] for messages in errors.values())


def test_an_empty_task_form_shows_each_error_once_with_a_linked_summary(as_user: Any, web_engine: Engine) -> None:
    web_engine.deploy(WIDGETS)
    instance = web_engine.start("widgets", {"label": "W1"}, "alice")
    task = open_task(web_engine, instance.id, "fill")
    response = as_user("alice").post(f"/tasks/{task.id}/complete", {"count": "", "contact.phone": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for name in ("name", "count", "agree", "kind", "when", "contact"):
        assert field_html(html, name).count("this field is required") == 1, name
    assert html.count("this field is required") == 2 * 6  # beside each field, and once in the summary
    links = summary_links(html)
    assert [label for _, label in links] == ["Name", "Count", "Agreed?", "Kind", "When", "Contact"]
    for anchor, _ in links:
        assert f'id="{anchor}"' in html, f"the summary links to #{anchor}, which is not on the page"


@pytest.fixture
def shipped_app(shipped: Engine) -> Flask:
    return create_app({"ENGINE": shipped, "SECRET_KEY": "test-secret", "TESTING": True})


@pytest.fixture
def desk(shipped_app: Flask) -> Iterator[Browser]:
    browser = Browser(shipped_app.test_client())
    token = shipped_app.extensions["flowdesk"].start_session("dora")
    with browser.client.session_transaction() as session:
        session["sid"] = token
        session["csrf_token"] = "csrf-dora"
    yield browser


def test_an_empty_complaint_registration_lists_its_seven_problems_once(desk: Browser) -> None:
    assert PROCESSES.joinpath("complaint", "forms", "register.json").exists()
    response = desk.post("/start/complaint", {})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.count("this field is required") == 2 * 7
    assert "Problems to fix before this form can be sent: 7" in html
    assert [a for a, _ in summary_links(html)] == [
        "f-case_no", "f-customer_id", "f-complainant", "f-contact", "f-channel", "f-subject", "f-against"]


def test_an_unknown_customer_is_shown_beside_the_customer_field(desk: Browser) -> None:
    response = desk.post("/start/complaint", {
        "case_no": "CMP-9", "customer_id": "NOPE", "complainant": "Li", "contact": "1", "channel": "phone",
        "subject": "Late", "against": "Repair"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "no customers record &#39;NOPE&#39;" in field_html(html, "customer_id")
    assert summary_links(html) == [("f-customer_id", "Customer")]
