"""Findings of the hardening review, through the engine: a due time from case data or a manifest that is too
long or too far away fails the process with a clear message (never an OverflowError), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from engine import Engine, FakeClock, PackageInvalid, ProcessFailed
from engine.expressions import ExpressionError
from engine.service.core import expression_helpers
from tests.conftest import FIXTURES, MONDAY_MORNING

BASE = FIXTURES / "packages" / "office_wait"


def due_package(tmp_path: Path, due: str, calendar: str | None = "office") -> Path:
    """office_wait whose resume task is due `due` (a literal or an '=expression'), optionally in office hours."""
    package = tmp_path / "office_wait"
    shutil.copytree(BASE, package)
    manifest = yaml.safe_load((package / "process.yaml").read_text())
    resume = {"form": "forms/done.json", "due": due}
    manifest["tasks"]["resume"] = {**resume, "calendar": calendar} if calendar else resume
    (package / "process.yaml").write_text(yaml.safe_dump(manifest))
    form = json.loads((package / "forms" / "start.json").read_text())
    form["properties"]["due_in"] = {"type": "string"}
    (package / "forms" / "start.json").write_text(json.dumps(form))
    return package


@pytest.mark.parametrize(("due_in", "calendar"), [("PT" + "9" * 12 + "H", "office"), ("P999999999D", None),
                                                  ("9999-12-31T23:59:59-12:00", "office"),
                                                  ("0001-01-01T00:00:00+14:00", None)])
def test_a_due_time_from_case_data_beyond_the_maximum_fails_the_process_clearly(
        any_engine: Engine, clock: FakeClock, tmp_path: Path, due_in: str, calendar: str | None) -> None:
    any_engine.deploy(due_package(tmp_path, "=due_in", calendar))
    instance = any_engine.start("office_wait", {"wait_for": "PT1M", "due_in": due_in}, "alice")
    clock.advance(timedelta(hours=8))  # the test office opens at 09:00 Berlin
    # The timer's command fails as a whole (the worker retries it later with back-off); nothing is half-written.
    with pytest.raises(ProcessFailed, match="FLOWDESK_MAX_DURATION_DAYS") as err:
        any_engine.run_due()
    assert err.value.element == "resume" and "due time of resume" in err.value.message
    assert any_engine.tasks(instance_id=instance.id) == []
    assert [t.status for t in any_engine.timers(instance_id=instance.id)] == ["pending"]


def test_a_due_time_within_the_maximum_still_works(any_engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    any_engine.deploy(due_package(tmp_path, "=due_in"))
    instance = any_engine.start("office_wait", {"wait_for": "PT1M", "due_in": "P300D"}, "alice")
    clock.advance(timedelta(hours=8))  # the test office opens at 09:00 Berlin
    any_engine.run_due()
    (task,) = any_engine.tasks(instance_id=instance.id)
    assert task.due_at is not None and task.due_at > MONDAY_MORNING + timedelta(days=400)


def test_a_manifest_due_beyond_the_maximum_is_refused_at_deploy(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(PackageInvalid) as err:
        engine.deploy(due_package(tmp_path, "PT" + "9" * 12 + "H"))
    (problem,) = err.value.problems
    assert problem.file == "process.yaml" and problem.element == "resume"
    assert "longer than the maximum of 3650 days" in problem.message


def test_a_business_timer_beyond_the_maximum_fails_the_process_at_its_element(engine: Engine) -> None:
    engine.deploy(BASE)
    with pytest.raises(ProcessFailed) as err:
        engine.start("office_wait", {"wait_for": "P5000D"}, "alice")
    assert err.value.element == "wait" and "maximum" in err.value.message


def test_add_duration_past_the_last_date_is_an_expression_error() -> None:
    helpers = expression_helpers(MONDAY_MORNING, None)
    with pytest.raises(ExpressionError, match="beyond the last date"):
        helpers["add_duration"]("9999-12-30T00:00:00+00:00", "P3D")
    with pytest.raises(ExpressionError, match="maximum"):
        helpers["add_duration"]("2026-01-01T00:00:00+00:00", "PT" + "9" * 12 + "H")
