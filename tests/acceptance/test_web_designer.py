"""Designers change a process by uploading its files: validate, deploy as the next version, read any version.

derek: designer; root: admin; audrey: auditor (reads, never deploys); alice: staff; sam: supervisor.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from engine import Engine
from tests.helpers import copy_package, edit, zip_package

Token = Callable[[str], dict[str, str]]


def upload(data: bytes, name: str = "simple.zip") -> tuple[io.BytesIO, str]:
    return io.BytesIO(data), name


@pytest.fixture
def changed(tmp_path: Path) -> bytes:
    """The simple package under a new name: a new version when deployed."""
    pkg = copy_package("simple", tmp_path)
    edit(pkg / "process.yaml", "name: ", "name: Revised ")
    return zip_package(pkg, folder="simple")


@pytest.fixture
def broken(tmp_path: Path) -> bytes:
    pkg = copy_package("simple", tmp_path / "broken")
    edit(pkg / "process.yaml", "Desk: desk", "Desk: nobody")
    edit(pkg / "simple.bpmn", "<bpmn:flowNodeRef>chase</bpmn:flowNodeRef>", "")
    return zip_package(pkg)


def versions(engine: Engine) -> list[int]:
    return [d.version for d in engine.definitions("simple")]


@pytest.mark.parametrize(("user", "reads", "deploys"), [
    ("derek", True, True), ("root", True, True), ("audrey", True, False), ("alice", False, False),
    ("sam", False, False)])
def test_who_reads_versions_and_who_deploys(as_user: Any, web_engine: Engine, changed: bytes, user: str,
                                           reads: bool, deploys: bool) -> None:
    browser = as_user(user)
    index = browser.get("/designer")
    assert index.status_code == (200 if reads else 403)
    assert browser.get("/designer/simple/1").status_code == (200 if reads else 403)
    page = index.get_data(as_text=True)
    assert ('name="package"' in page) == deploys
    assert ('href="/designer"' in browser.get("/tasks").get_data(as_text=True)) == reads  # the menu
    response = browser.post("/designer/packages", {"package": upload(changed), "action": "deploy"})
    assert response.status_code == (303 if deploys else 403)
    assert versions(web_engine) == ([1, 2] if deploys else [1])


def test_a_designer_deploys_a_new_version_and_sees_it(as_user: Any, web_engine: Engine, changed: bytes) -> None:
    derek = as_user("derek")
    response = derek.post("/designer/packages", {"package": upload(changed), "action": "deploy"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/designer/simple/2")
    page = derek.get("/designer/simple/2").get_data(as_text=True)
    assert "simple version 2 deployed" in page and "Revised" in page and "by derek" in page
    assert 'id="diagram-data"' in page and "bpmn:definitions" in page
    assert web_engine.definition("simple").version == 2 and web_engine.definition("simple").deployed_by == "derek"

    again = derek.post("/designer/packages", {"package": upload(changed), "action": "deploy"})
    assert again.headers["Location"].endswith("/designer/simple/2")
    assert "identical to simple version 2: nothing deployed" in derek.get("/designer/simple/2").get_data(as_text=True)
    assert versions(web_engine) == [1, 2]


def test_validate_only_deploys_nothing(as_user: Any, web_engine: Engine, changed: bytes) -> None:
    derek = as_user("derek")
    response = derek.post("/designer/packages", {"package": upload(changed), "action": "validate"})
    assert response.status_code == 303
    assert "simple.zip is valid" in derek.get("/designer").get_data(as_text=True)
    assert versions(web_engine) == [1]


@pytest.mark.parametrize("action", ["validate", "deploy"])
def test_every_problem_is_listed_with_file_line_and_element(as_user: Any, web_engine: Engine, broken: bytes,
                                                           action: str) -> None:
    response = as_user("derek").post("/designer/packages", {"package": upload(broken), "action": action})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "2 problems" in page and "nothing was deployed" in page
    assert "<code>Desk</code>" in page and "nobody" in page and "<code>chase</code>" in page
    assert "<code>process.yaml</code>" in page and "<code>simple.bpmn</code>" in page
    assert versions(web_engine) == [1]


@pytest.mark.parametrize(("files", "message"), [
    ({}, "choose a .zip of the package folder"),
    ({"package": upload(b"", "")}, "choose a .zip of the package folder"),
    ({"package": upload(b"GIF89a not a zip", "cat.gif")}, "not a zip archive"),
], ids=["no file", "empty file field", "not a zip"])
def test_a_bad_upload_is_a_clear_problem(as_user: Any, web_engine: Engine, files: dict[str, Any],
                                        message: str) -> None:
    response = as_user("derek").post("/designer/packages", {**files, "action": "deploy"})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert versions(web_engine) == [1]


def test_an_upload_without_the_csrf_token_is_refused(as_user: Any, web_engine: Engine, changed: bytes) -> None:
    response = as_user("derek").client.post("/designer/packages",
                                            data={"package": upload(changed), "action": "deploy"})
    assert response.status_code == 400 and versions(web_engine) == [1]


def test_a_version_page_shows_each_file_as_text(as_user: Any) -> None:
    derek = as_user("derek")
    page = derek.get("/designer/simple/1?file=process.yaml").get_data(as_text=True)
    assert '<pre class="file" id="file-text">' in page and "id: simple" in page
    bpmn = derek.get("/designer/simple/1?file=simple.bpmn").get_data(as_text=True)
    assert "&lt;bpmn:definitions" in bpmn  # shown as text, never as markup
    assert 'id="file-text"' not in derek.get("/designer/simple/1?file=../../etc/passwd").get_data(as_text=True)
    assert derek.get("/designer/simple/9").status_code == 404
    assert derek.get("/designer/nothing/1").status_code == 404


def test_the_api_deploys_and_validates_packages(app: Flask, token: Token, web_engine: Engine, changed: bytes,
                                                broken: bytes) -> None:
    client, derek = app.test_client(), token("derek")

    def post(path: str, data: bytes, headers: dict[str, str] = derek) -> Any:
        return client.post(f"/api/v1{path}", data={"package": upload(data)}, headers=headers)

    assert post("/definitions/validate", changed).get_json() == {"valid": True, "problems": []}
    checked = post("/definitions/validate", broken).get_json()
    assert checked["valid"] is False
    assert {(p["file"], p["element"]) for p in checked["problems"]} == {("process.yaml", "Desk"),
                                                                       ("simple.bpmn", "chase")}
    assert all(p["line"] for p in checked["problems"])
    assert versions(web_engine) == [1]

    created = post("/definitions", changed)
    assert created.status_code == 201
    assert (created.get_json()["process_id"], created.get_json()["version"]) == ("simple", 2)
    same = post("/definitions", changed)
    assert same.status_code == 200 and same.get_json()["version"] == 2

    refused = post("/definitions", broken)
    assert refused.status_code == 422 and refused.get_json()["error"] == "package_invalid"
    assert {d["element"] for d in refused.get_json()["details"]} == {"Desk", "chase"}

    missing = client.post("/api/v1/definitions", data={}, headers=derek)
    assert missing.status_code == 400 and "'package'" in missing.get_json()["message"]
    for user in ("alice", "audrey", "sam"):
        assert post("/definitions", changed, token(user)).status_code == 403
        assert post("/definitions/validate", changed, token(user)).status_code == 403
    assert versions(web_engine) == [1, 2]


def test_a_downloaded_version_is_the_package_to_edit_and_deploy_again(as_user: Any, web_engine: Engine,
                                                                     tmp_path: Path) -> None:
    import zipfile

    derek = as_user("derek")
    response = derek.get("/designer/simple/1/package.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert 'filename=simple-v1.zip' in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        archive.extractall(tmp_path)
    assert sorted(p.relative_to(tmp_path / "simple").as_posix() for p in (tmp_path / "simple").rglob("*.*")) == \
        sorted(web_engine.definition_files("simple", 1))
    again = derek.post("/designer/packages", {"package": upload(response.data), "action": "deploy"})
    assert again.status_code == 303 and versions(web_engine) == [1]  # unchanged: the same version
    edit(tmp_path / "simple" / "process.yaml", "name: ", "name: Edited ")
    edited = zip_package(tmp_path / "simple", folder="simple")
    assert derek.post("/designer/packages", {"package": upload(edited), "action": "deploy"}).status_code == 303
    assert versions(web_engine) == [1, 2]
    assert as_user("alice").get("/designer/simple/1/package.zip").status_code == 403
    assert derek.get("/designer/simple/7/package.zip").status_code == 404
