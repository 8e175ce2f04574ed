"""In a real browser: an auditor logs in, reads a case's timeline, replays it, and looks at it as of an event."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from engine import Engine, FakeClock
from tests.acceptance.conftest import to_approval

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture
def page() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM),
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            tab = browser.new_page()
            tab.set_default_timeout(15_000)
            yield tab
        finally:
            browser.close()


def test_auditor_reads_the_timeline_and_replays_the_case(page: Any, app: Flask, web_engine: Engine,
                                                         clock: FakeClock,
                                                         live_server: Callable[[Flask], str]) -> None:
    instance_id, approve = to_approval(web_engine, "R-501")
    clock.advance(hours=2)
    web_engine.complete(approve.id, {"approved": True}, "hana")
    base = live_server(app)

    page.goto(f"{base}/login")
    page.fill("input[name=username]", "audrey")
    page.fill("input[name=password]", "audrey-pass")
    page.click("button[type=submit]")
    page.goto(f"{base}/audit/?key=R-501")
    page.click(f"a[href='/audit/cases/{instance_id}']")

    timeline = page.locator("#timeline > li")
    assert timeline.count() == 3
    assert "completed review" in timeline.nth(1).inner_text()
    assert "Hana Head" in timeline.nth(2).inner_text()
    assert page.get_attribute("#chain-status", "data-ok") == "true"

    page.click("#replay-button")
    page.wait_for_selector("#replay-result")
    assert page.get_attribute("#replay-result", "data-outcome") == "verified"
    assert "3 events replayed" in page.inner_text("#replay-result")

    page.click("#event-2 a.as-of")
    page.wait_for_selector("#as-of")
    assert page.get_attribute("#as-of", "data-matches") == "true"
    assert page.locator("#as-of-tasks li[data-element=approve]").count() == 1
    assert page.inner_text("#as-of-status").lower() == "running"
    # The diagram renders with bpmn-js (served locally) once the viewer script has run.
    page.wait_for_selector("#diagram[data-ready]")
    assert page.get_attribute("#diagram", "data-ready") == "true"
    assert page.get_attribute("#diagram", "data-warnings") == "0"
