"""Findings of the hardening review: form `$ref`s resolve only inside the form, are checked at deploy, and
validation never reaches the network (these tests run with sockets blocked)."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, FormInvalid, PackageInvalid, forms
from tests.conftest import FIXTURES

SIMPLE = FIXTURES / "packages" / "simple"
START = {"subject": "Broken tap", "ref": "R-1", "customer_id": "C1"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every attempt to open an outside connection is recorded and refused (the database is a local file)."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))  # type: ignore[arg-type]
    yield attempts
    assert attempts == [], f"validation tried to reach the network: {attempts}"


def simple_with_start_form(tmp_path: Path, form: dict[str, Any]) -> Path:
    package = tmp_path / "simple"
    shutil.copytree(SIMPLE, package)
    (package / "forms" / "start.json").write_text(json.dumps(form))
    return package


def start_form(**extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = json.loads((SIMPLE / "forms" / "start.json").read_text())
    form["properties"].update(extra.pop("properties", {}))
    form.update(extra)
    return form


@pytest.mark.parametrize("ref", ["http://127.0.0.1:9/customer.json", "https://example.org/schema#/x",
                                 "file:///etc/passwd", "review.json", "//evil/x"])
def test_a_form_ref_to_anything_outside_the_form_is_refused_at_deploy(engine: Engine, tmp_path: Path,
                                                                      no_network: list[Any], ref: str) -> None:
    package = simple_with_start_form(tmp_path, start_form(properties={"customer": {"$ref": ref}}))
    with pytest.raises(PackageInvalid) as err:
        engine.deploy(package)
    problem = next(p for p in err.value.problems if p.file == "forms/start.json")
    assert problem.element == "/properties/customer" and "points outside the form" in problem.message
    assert engine.definitions() == []


def test_a_form_ref_to_a_missing_definition_is_refused_at_deploy(engine: Engine, tmp_path: Path,
                                                                 no_network: list[Any]) -> None:
    form = start_form(properties={"customer": {"$ref": "#/$defs/customer"}}, **{"$defs": {"other": {}}})
    with pytest.raises(PackageInvalid) as err:
        engine.deploy(simple_with_start_form(tmp_path, form))
    assert [(p.file, p.element) for p in err.value.problems] == [("forms/start.json", "/properties/customer")]
    assert "points to nothing the form defines" in err.value.problems[0].message


def test_refs_inside_the_form_deploy_and_validate_offline(engine: Engine, tmp_path: Path,
                                                          no_network: list[Any]) -> None:
    form = start_form(properties={"customer_id": {"$ref": "#/$defs/customer_id"}},
                      **{"$defs": {"customer_id": {"type": "string", "pattern": "^C[0-9]+$"}}})
    engine.deploy(simple_with_start_form(tmp_path, form))
    assert engine.start("simple", START, "alice").status == "running"
    with pytest.raises(FormInvalid) as err:
        engine.start("simple", {**START, "customer_id": "nobody"}, "alice")
    assert list(err.value.details) == ["customer_id"]


def test_a_stored_form_with_an_outside_ref_fails_clearly_without_fetching(no_network: list[Any]) -> None:
    # A form stored before references were checked at deploy: submitting to it names the problem, offline.
    form = {"type": "object", "properties": {"x": {"$ref": "http://127.0.0.1:9/x.json"}}}
    with pytest.raises(FormInvalid) as err:
        forms.validate(form, {"x": 1})
    assert "a process designer must fix the form" in err.value.details["(form)"][0]
    missing = {"type": "object", "properties": {"x": {"$ref": "#/$defs/nothing"}}}
    with pytest.raises(FormInvalid):
        forms.validate(missing, {"x": 1})
