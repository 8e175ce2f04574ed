"""Task forms come from JSON Schema: every widget renders, strings become the schema's types, and a refused
form comes back (422) with each error beside its field and everything entered still there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine import Engine

from .conftest import open_task

WIDGETS = Path(__file__).parent / "packages" / "widgets"

GOOD = {
    "name": "Ada Lovelace", "story": "x" * 250, "notes": "line one\nline two", "count": "4", "ratio": "0.5",
    "urgent": "true", "agree": "true", "kind": "major_issue", "mood": "sad", "when": "2026-01-09",
    "meeting": "2026-01-09T14:30", "email": "ada@example.org", "steps": ["call", "", "visit"],
    "scores": ["3", "5"], "tags": ["blue"], "contact.phone": "+49 30 1234", "contact.email": "",
    "contact.best_time": "2026-01-10T08:00",
}


@pytest.fixture
def widgets(web_engine: Engine) -> tuple[Engine, Any]:
    web_engine.deploy(WIDGETS)
    instance = web_engine.start("widgets", {"label": "W1"}, "alice")
    return web_engine, open_task(web_engine, instance.id, "fill")


def field_html(html: str, name: str) -> str:
    """The HTML of one field's wrapper."""
    match = re.search(rf'<div class="field[^"]*" data-field="{re.escape(name)}">(.*?)</div>\s*(?=<div class="field|'
                      rf'<div class="form-actions|</fieldset>)', html, re.S)
    assert match, f"no field {name} in page"
    return match.group(1)


def test_every_widget_is_rendered_from_the_schema(as_user: Any, widgets: tuple[Engine, Any]) -> None:
    _, task = widgets
    html = as_user("alice").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'name="name"' in html and 'minlength="2"' in html
    assert "Your full name" in html  # help text from the description
    assert re.search(r'<label for="f-name">Name <abbr class="req"', html)  # required mark
    assert re.search(r'<textarea id="f-story" name="story"', html)  # maxLength > 200 → long text
    assert re.search(r'<textarea id="f-notes" name="notes"', html)  # x-widget: textarea
    assert re.search(r'<input type="number" id="f-count" name="count" value="3"[^>]*step="1"', html)  # default
    assert re.search(r'<input type="number" id="f-ratio" name="ratio" value=""[^>]*step="any"', html)
    assert re.search(r'<input type="checkbox" id="f-urgent" name="urgent"', html)
    assert 'name="agree" value="true"' in html and 'name="agree" value="false"' in html  # yes/no radios
    assert re.search(r'<select id="f-kind" name="kind"', html) and ">Major issue</option>" in html
    assert 'type="radio" name="mood" value="happy"' in html
    assert 'type="date" id="f-when"' in html
    assert 'type="datetime-local" id="f-meeting"' in html
    assert 'type="email" id="f-email"' in html
    assert html.count('name="steps"') == 2  # an array offers empty rows to fill
    assert 'type="checkbox" name="tags" value="red"' in html  # array of enum → checkboxes
    assert "<legend>Contact" in html and 'name="contact.phone"' in html  # one level of nesting


def test_submitted_strings_become_the_schema_types(as_user: Any, widgets: tuple[Engine, Any]) -> None:
    engine, task = widgets
    response = as_user("alice").post(f"/tasks/{task.id}/complete", GOOD)
    assert response.status_code == 303
    completed = [e for e in engine.history(task.instance_id) if e.type == "task_completed"][-1]
    data = completed.payload["data"]
    assert data["count"] == 4 and data["ratio"] == 0.5
    assert data["urgent"] is True and data["agree"] is True
    assert data["kind"] == "major_issue" and data["mood"] == "sad"
    assert data["when"] == "2026-01-09"
    assert data["meeting"] == "2026-01-09T14:30:00+01:00"  # read in the app's time zone (Berlin)
    assert data["steps"] == ["call", "visit"] and data["scores"] == [3, 5] and data["tags"] == ["blue"]
    assert data["contact"] == {"phone": "+49 30 1234", "best_time": "2026-01-10T08:00:00+01:00"}
    assert data["notes"] == "line one\r\nline two" or data["notes"] == "line one\nline two"
    assert engine.instance(task.instance_id).status == "completed"


def test_an_unchecked_checkbox_is_false(as_user: Any, widgets: tuple[Engine, Any]) -> None:
    engine, task = widgets
    form = {k: v for k, v in GOOD.items() if k != "urgent"}
    assert as_user("alice").post(f"/tasks/{task.id}/complete", form).status_code == 303
    data = [e for e in engine.history(task.instance_id) if e.type == "task_completed"][-1].payload["data"]
    assert data["urgent"] is False


def test_engine_validation_errors_show_beside_each_field_with_values_kept(
        as_user: Any, widgets: tuple[Engine, Any]) -> None:
    engine, task = widgets
    form = {**GOOD, "name": "A", "email": "not-an-address", "count": "0", "agree": "", "contact.phone": "",
            "steps": ["", "ok"]}
    response = as_user("alice").post(f"/tasks/{task.id}/complete", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "is too short" in field_html(html, "name") and 'value="A"' in field_html(html, "name")
    assert "email" in field_html(html, "email") and 'value="not-an-address"' in field_html(html, "email")
    assert "minimum" in field_html(html, "count")
    assert "this field is required" in field_html(html, "agree")
    assert "this field is required" in field_html(html, "contact.phone")
    assert 'value="ok"' in html and "Ada" not in field_html(html, "name")
    assert 'value="major_issue" selected' in html and 'value="sad" checked' in html  # choices kept
    assert 'name="tags" value="blue" checked' in html
    assert ">line one\nline two</textarea>" in html or ">line one\r\nline two</textarea>" in html
    assert engine.task(task.id).status == "ready"


def test_values_that_cannot_be_converted_are_refused_without_reaching_the_engine(
        as_user: Any, widgets: tuple[Engine, Any]) -> None:
    engine, task = widgets
    form = {**GOOD, "count": "three", "ratio": "1/2", "meeting": "tomorrow", "scores": ["x"], "name": ""}
    response = as_user("alice").post(f"/tasks/{task.id}/complete", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "enter a whole number" in field_html(html, "count") and 'value="three"' in html
    assert "enter a number" in field_html(html, "ratio")
    assert "enter a date and time" in field_html(html, "meeting")
    assert "enter a whole number" in field_html(html, "scores")
    assert "this field is required" in field_html(html, "name")  # other problems are listed at the same time
    assert engine.task(task.id).status == "ready"
    assert [e.type for e in engine.history(task.instance_id)] == ["instance_started"]
