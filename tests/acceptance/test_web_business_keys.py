"""A duplicate case number is refused on the web (409, the form kept, a link to the existing case) and by
the API (409 with the existing case's id and URL)."""

from __future__ import annotations

import re
from typing import Any

from engine import Engine

from .conftest import START, start_simple
from .test_web_forms import field_html


def test_the_start_form_refuses_a_taken_number_and_links_to_its_case(as_user: Any, web_engine: Engine) -> None:
    existing = start_simple(web_engine, "R-77")
    response = as_user("alice").post("/start/simple", {**START, "ref": "R-77", "subject": "Second tap"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "R-77 is already used by another case" in field_html(html, "ref")
    link = re.search(r'<a href="([^"]+)" class="existing-case">', html)
    assert link and link.group(1) == f"/cases/{existing}"
    assert 'value="Second tap"' in html  # nothing typed is lost
    assert len(web_engine.instances(process_id="simple")) == 1


def test_the_api_answers_409_with_the_existing_case(web_engine: Engine, app: Any, token: Any) -> None:
    existing = start_simple(web_engine, "R-78")
    response = app.test_client().post("/api/v1/processes/simple/start", json={"data": {**START, "ref": "R-78"}},
                                      headers=token("alice"))
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "duplicate_business_key"
    assert body["details"]["existing_instance_id"] == existing
    assert body["details"]["existing_url"] == f"/api/v1/instances/{existing}"
    assert app.test_client().get(body["details"]["existing_url"], headers=token("alice")).status_code == 200
