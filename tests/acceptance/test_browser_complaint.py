"""A whole complaint in a real browser, as the people who handle it would: the desk registers it, the
department head investigates and proposes, the leader approves, the desk records the customer's
confirmation, the supervisor archives it, and the case page shows the diagram with the path taken."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Engine
from web import create_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "demo-pass"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent (make browser installs it)"),
]


@pytest.fixture
def base_url(shipped: Engine, live_server: Callable[[Any], str]) -> str:
    app = create_app({"ENGINE": shipped, "SECRET_KEY": "browser-test", "TIMEZONE": "Asia/Shanghai"})
    return live_server(app)


@pytest.fixture
def page(base_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        problems: list[str] = []
        expected = "status of 422"  # the refused form, on purpose
        tab.on("console", lambda msg: problems.append(msg.text)
               if msg.type == "error" and expected not in msg.text else None)
        tab.on("pageerror", lambda err: problems.append(str(err)))
        yield tab
        context.close()
        browser.close()
        assert problems == [], f"the browser reported errors: {problems}"


class Desk:
    """What a person does in the browser, step by step, with a screenshot after each."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.shots = 0

    def shot(self, name: str) -> None:
        self.shots += 1
        self.page.screenshot(path=str(ARTIFACTS / f"complaint-{self.shots:02d}-{name}.png"), full_page=True)

    def log_in(self, username: str) -> None:
        self.page.goto("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        assert self.page.url.endswith("/tasks")

    def log_out(self) -> None:
        self.page.click("text=Log out")
        assert "/login" in self.page.url

    def open_task(self, name: str) -> None:
        """Find the task among the group's unclaimed ones, open it and claim it."""
        self.page.goto("/tasks?list=available")
        self.page.click(f"table.tasks a:text-is(\"{name}\")")
        assert self.page.locator("h1").inner_text() == name
        self.page.click("button:text-is('Claim')")
        assert "You hold" in self.page.locator(".flash").inner_text()

    def complete(self, name: str) -> None:
        self.shot(name.split()[0].lower())
        self.page.click("button:text-is('Complete task')")
        assert f"Done: {name}." in self.page.locator(".flash").inner_text()


def test_a_complaint_from_registration_to_archive(page: Any, shipped: Engine) -> None:
    desk = Desk(page)

    # The service desk agent registers the complaint from the start form.
    desk.log_in("dora")
    page.click("nav >> text=Start a case")
    page.click("text=Customer complaint handling")
    page.fill("#f-case_no", "CMP-2026-0042")
    page.fill("#f-customer_id", "C001")
    page.fill("#f-complainant", "Wang Li")
    page.fill("#f-contact", "+86 138 0000 0042")
    page.select_option("#f-channel", "phone")
    page.fill("#f-subject", "The technician was rude and left without finishing.")
    page.fill("#f-against", "Technician on the 3 January visit")
    page.fill("#f-desired_solution", "An apology and the repair finished")
    desk.shot("register")
    page.click("button:text-is('Start the case')")
    assert "Case started: Complaint CMP-2026-0042 — Huaxin Logistics Co." in page.locator(".flash").inner_text()
    assert "Huaxin Logistics Co." in page.locator(".customer").inner_text()  # the customer's file came along
    desk.shot("case-started")

    # Judge: a refused form keeps what was entered and says what is missing.
    desk.open_task("Judge whether the complaint is established")
    page.check("input[name=established][value=true]")
    page.click("button:text-is('Complete task')")
    assert page.locator("[data-field=judgement_reason] .field-errors").inner_text() == "this field is required"
    assert page.locator("input[name=established][value=true]").is_checked()
    desk.shot("judge-refused")
    page.fill("#f-judgement_reason", "The visit report confirms the technician left early.")
    desk.complete("Judge whether the complaint is established")

    desk.open_task("Classify the complaint")
    page.select_option("#f-category", "staff_conduct")
    page.fill("#f-classification_note", "Conduct of our technician.")
    desk.complete("Classify the complaint")

    desk.open_task("Tell the customer the investigation time")
    page.check("input[name=customer_told][value=true]")
    desk.complete("Tell the customer the investigation time")
    desk.log_out()

    # The department head investigates and proposes solutions.
    desk.log_in("hank")
    desk.open_task("Investigate the cause and the responsible person")
    assert "Huaxin Logistics Co." in page.locator(".customer").inner_text()
    assert "Conduct of our technician." in page.locator(".main-col").inner_text()  # the case so far
    page.fill("#f-cause", "The technician was double-booked and rushed.")
    page.fill("#f-responsible_person", "Ted Technician")
    desk.complete("Investigate the cause and the responsible person")

    desk.open_task("Propose solutions")
    rows = page.locator("fieldset[data-array=solutions] input")
    rows.nth(0).fill("Apologise in person and finish the repair free of charge")
    rows.nth(1).fill("Refund the visit fee")
    desk.complete("Propose solutions")
    desk.log_out()

    # The competent leader approves one proposal.
    desk.log_in("leo")
    desk.open_task("Review the proposals and approve one")
    assert "Refund the visit fee" in page.locator(".main-col").inner_text()
    page.check("input[name=decision][value=approve]")
    page.fill("#f-chosen_solution", "Apologise in person and finish the repair free of charge")
    page.fill("#f-instructions", "Hank to visit with Ted this week.")
    page.check("input[name=solvable_soon][value=true]")
    desk.complete("Review the proposals and approve one")
    desk.log_out()

    desk.log_in("hank")
    desk.open_task("Implement the solution and inform the customer")
    page.fill("#f-implementation", "Visited, apologised, finished the repair.")
    page.fill("#f-accountability", "Ted retrained on visit conduct.")
    page.check("input[name=customer_informed][value=true]")
    desk.complete("Implement the solution and inform the customer")
    desk.log_out()

    # The desk records the customer's confirmation.
    desk.log_in("dora")
    desk.open_task("Record the customer's confirmation")
    page.check("input[name=satisfaction][value=satisfied]")
    page.check("input[name=customer_signed][value=true]")
    page.fill("#f-feedback", "Happy with how it was handled.")
    desk.complete("Record the customer's confirmation")
    desk.log_out()

    # The supervisor archives it; the case page shows the whole story.
    desk.log_in("sophie")
    desk.open_task("Archive the case and fill the classification statistics")
    page.fill("#f-improvement_actions", "No double-booking of technicians.")
    desk.complete("Archive the case and fill the classification statistics")

    page.wait_for_selector("#diagram[data-ready=true]")
    assert page.get_attribute("#diagram", "data-warnings") == "0"  # bpmn-js drew every element
    assert page.locator("#case-status").text_content() == "completed"
    history = page.locator("ol.history").inner_text()
    for who in ("Dora Desk", "Hank Head", "Leo Leader", "Sophie Supervisor"):
        assert who in history
    assert "Apologise in person and finish the repair free of charge" in history  # the data entered
    fields = page.locator("dl.fields").inner_text()
    assert "Staff conduct" in fields or "staff_conduct" in fields
    for element in ("judge", "investigate", "propose", "approve", "confirm", "archive"):
        assert page.locator(f".djs-element.highlight-done[data-element-id={element}]").count() == 1, element
    assert page.locator(".djs-connection.highlight-flow").count() >= 10  # the path taken is drawn
    assert page.locator(".djs-element.highlight-done[data-element-id=reply]").count() == 0  # not taken
    page.locator("#diagram").scroll_into_view_if_needed()
    desk.shot("case-completed")
    instance = shipped.instances(process_id="complaint")[0]
    assert instance.status == "completed" and instance.fields["outcome"] == "resolved"


def flow_elements(xml: str) -> set[str]:
    """Ids of the tasks, events, gateways and sequence flows of a BPMN file's processes."""
    from lxml import etree

    bpmn = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
    kinds = ("task", "Task", "Event", "Gateway", "sequenceFlow", "subProcess", "callActivity")
    return {el.get("id") for process in etree.fromstring(xml.encode()).iter(f"{bpmn}process")
            for el in process.iter(f"{bpmn}*") if el.get("id") and etree.QName(el).localname.endswith(kinds)}


def test_every_shipped_diagram_opens_cleanly_in_bpmn_js(page: Any, shipped: Engine) -> None:
    """The designer's version page draws each shipped process with bpmn-js: no import warning, every element."""
    desk = Desk(page)
    desk.log_in("derek")
    page.click("nav >> text=Processes")
    processes = sorted({d.process_id for d in shipped.definitions()})
    assert processes == ["complaint", "member_campaign", "repair", "return_visit"]
    for process_id in processes:
        page.goto(f"/designer/{process_id}/1")
        page.wait_for_selector("#diagram[data-ready]")
        assert page.get_attribute("#diagram", "data-ready") == "true", process_id
        assert page.get_attribute("#diagram", "data-warnings") == "0", process_id
        drawn = set(page.eval_on_selector_all("[data-element-id]", "els => els.map(e => e.dataset.elementId)"))
        assert flow_elements(shipped.definition_bpmn(process_id, 1)) <= drawn, process_id
        page.screenshot(path=str(ARTIFACTS / f"designer-{process_id}.png"), full_page=True)
