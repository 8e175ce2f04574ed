"""The task page shows what matters: the manifest's `show:` facts labelled from the forms, times in the
calendar's zone and durations in words, everything else behind "All data"; forms take their defaults from
the case (the chosen proposal, the follow-up complaint); related cases are linked both ways."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from engine import Engine
from tests.scenarios.steps import ANSWERS, ESTABLISHED, drive_complaint, register_complaint, the_task, the_visit, work
from web import create_app

from .conftest import Browser


@pytest.fixture
def app(shipped: Engine) -> Flask:
    return create_app({"ENGINE": shipped, "SECRET_KEY": "test-secret", "TESTING": True, "TIMEZONE": "UTC"})


@pytest.fixture
def login(as_user: Callable[[str], Browser]) -> Callable[[str], Browser]:
    return as_user  # over the shipped processes: `app` is overridden above


def facts(html: str) -> list[tuple[str, str]]:
    box = re.search(r'<dl class="data facts-first">(.*?)</dl>\s*<details', html, re.S)
    assert box, "no facts on the task page"
    return [(label, re.sub(r"<[^>]+>", " ", value).split()[0] if value else "")
            for label, value in re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd></div>", box.group(1), re.S)]


def all_data(html: str) -> str:
    box = re.search(r'<details class="all-data">(.*?)</details>', html, re.S)
    assert box, "no All data disclosure"
    return box.group(1)


def test_the_leader_sees_the_proposals_first_and_the_first_is_offered(
        shipped: Engine, login: Callable[[str], Browser]) -> None:
    case = register_complaint(shipped)
    drive_complaint(shipped, case.id, "approve")
    task = the_task(shipped, case.id, "approve")
    html = login("leo").get(f"/tasks/{task.id}").get_data(as_text=True)
    labels = [label for label, _ in facts(html)]
    assert labels == ["What the complaint is about", "Solution the customer wants", "Cause", "Solutions",
                      "Solution rounds"]
    assert "Replace the heater" in html.split('<details class="all-data">')[0]
    assert "Approve due" not in html.split('<details class="all-data">')[0]  # internal values stay inside
    assert "Approve due" in all_data(html) and "8 hours" in all_data(html)
    assert re.search(r'name="chosen_solution" value="Replace the part free of charge"', html)


def test_times_are_shown_in_the_calendars_zone(shipped: Engine, login: Callable[[str], Browser]) -> None:
    case = register_complaint(shipped)
    judge = the_task(shipped, case.id, "judge")
    html = login("dora").get(f"/tasks/{judge.id}").get_data(as_text=True)
    resolve_by = datetime.fromisoformat(shipped.instance(case.id).data["resolve_by"])
    local = resolve_by.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%a %d %b %Y, %H:%M")  # the office calendar
    assert f"<dt>Resolve by</dt><dd>{local}</dd>" in html or local in html.split('<details class="all-data">')[0]
    assert shipped.instance(case.id).data["resolve_by"] not in html.split('<details class="all-data">')[0]
    assert ("Complaint number", "CMP-2026-0001") in facts(html)


def test_the_follow_up_complaint_is_pre_filled_and_linked_to_its_visit_and_complaint(
        shipped: Engine, login: Callable[[str], Browser]) -> None:
    first = register_complaint(shipped, case_no="CMP-2026-0100", customer_id="C001")
    for step in ESTABLISHED:
        work(shipped, first.id, step, **ANSWERS[step])
    shipped.run_due()
    visit = the_visit(shipped, "CMP-2026-0100")
    contact = the_task(shipped, visit.id, "contact_customer")
    desk = login("sam")
    html = desk.get(f"/tasks/{contact.id}").get_data(as_text=True)
    assert f'href="/cases/{first.id}"' in html  # the specialist sees the complaint the visit follows
    work(shipped, visit.id, "contact_customer", reached=True, contact_channel="phone")
    work(shipped, visit.id, "record_visit", satisfaction="dissatisfied", improve="The technician was late.")
    shipped.run_due()
    (follow_up,) = shipped.instances(process_id="complaint", business_key="FU-CMP-2026-0100")
    register = the_task(shipped, follow_up.id, "register_followup")
    html = login("dora").get(f"/tasks/{register.id}").get_data(as_text=True)
    assert 'name="case_no" value="FU-CMP-2026-0100"' in html
    assert 'name="customer_id" value="C001"' in html
    assert re.search(r'name="channel"[^>]*>.*?<option value="phone" selected', html, re.S)
    assert "The technician was late." in html.split('id="f-desired_solution"')[1][:200]
    assert f'href="/cases/{visit.id}"' in html

    case_pages = {i: login("sophie").get(f"/cases/{i}").get_data(as_text=True)
                  for i in (first.id, visit.id, follow_up.id)}
    assert f'href="/cases/{visit.id}"' in case_pages[first.id]
    assert f'href="/cases/{first.id}"' in case_pages[visit.id]
    assert f'href="/cases/{follow_up.id}"' in case_pages[visit.id]
    assert f'href="/cases/{visit.id}"' in case_pages[follow_up.id]
    related = shipped.related_cases(visit.id)
    assert [(r.relation, r.instance_id) for r in related] == [("follows", first.id), ("led_to", follow_up.id)]


def test_a_task_without_show_lists_its_business_fields(engine: Engine) -> None:
    from tests.conftest import FIXTURES
    from tests.helpers import open_task, start_simple

    engine.deploy(FIXTURES / "packages" / "simple")
    review = open_task(engine, start_simple(engine, ref="R-5"), "review")
    view = engine.task_view(review.id)
    assert [(f.path, f.label) for f in view.facts] == [("customer.tier", "Tier")]
    assert view.defaults == {} and view.timezone == "Europe/Berlin"  # the office calendar of the test organisation
