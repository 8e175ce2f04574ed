"""A package sent as a zip archive (upload, API, CLI) deploys exactly like its folder; a bad archive is refused."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from engine import Engine, PackageInvalid
from engine.definitions import ARCHIVE_MAX_BYTES, read_package_archive, read_package_files, write_package_archive
from tests.helpers import FIXTURES, copy_package, edit, zip_package

SIMPLE = FIXTURES / "packages" / "simple"


def zipped(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("folder", [None, "simple"], ids=["at the root", "inside its folder"])
def test_an_archive_holds_the_same_files_as_the_folder(folder: str | None) -> None:
    extra = {"__MACOSX/simple/._process.yaml": b"\x00\x01", ".DS_Store": b"\x00", "simple/notes.png": b"\x89PNG"}
    if folder is None:
        extra = {"__MACOSX/._process.yaml": b"\x00\x01", ".DS_Store": b"\x00", "notes.png": b"\x89PNG"}
    assert read_package_archive(zip_package(SIMPLE, folder=folder, extra=extra)) == read_package_files(SIMPLE)


def test_an_archive_deploys_as_the_same_version_as_its_folder(engine: Engine) -> None:
    first = engine.deploy_archive(zip_package(SIMPLE, folder="simple"), "derek")
    assert (first.process_id, first.version, first.created) == ("simple", 1, True)
    assert engine.deploy(SIMPLE) == first.__class__("simple", 1, False, first.content_hash)
    assert engine.definition("simple").deployed_by == "derek"


def test_a_changed_archive_is_the_next_version_and_validates_first(engine: Engine, tmp_path: Path) -> None:
    engine.deploy(SIMPLE)
    pkg = copy_package("simple", tmp_path)
    edit(pkg / "process.yaml", "name: ", "name: Changed ")
    data = zip_package(pkg)
    assert engine.validate_archive(data) == []
    assert engine.deploy_archive(data).version == 2


def test_every_problem_of_an_archived_package_is_listed_with_its_location(engine: Engine, tmp_path: Path) -> None:
    pkg = copy_package("simple", tmp_path)
    edit(pkg / "process.yaml", "Desk: desk", "Desk: nobody")
    edit(pkg / "simple.bpmn", "<bpmn:flowNodeRef>chase</bpmn:flowNodeRef>", "")
    problems = engine.validate_archive(zip_package(pkg, folder="simple"))
    assert {(p.file, p.element) for p in problems} >= {("process.yaml", "Desk"), ("simple.bpmn", "chase")}
    with pytest.raises(PackageInvalid):
        engine.deploy_archive(zip_package(pkg))
    assert engine.definitions() == []


@pytest.mark.parametrize(("data", "expected"), [
    (b"this is not a zip", [("archive", None, "not a zip archive")]),
    (b"", [("archive", None, "not a zip archive")]),
    (zipped({"forms/a.json": "{}"}), [("process.yaml", None, "missing manifest")]),
    (zipped({"process.yaml": "id: x", "../evil.json": "{}", "/etc/x.json": "{}"}),
     [("archive", "../evil.json", "unsafe path"), ("archive", "/etc/x.json", "unsafe path")]),
    (zipped({"process.yaml": b"id: \xff\xfe"}), [("process.yaml", None, "not UTF-8 text")]),
    (zipped({f"f{i}.json": "{}" for i in range(501)}), [("archive", None, "more than 500 files")]),
], ids=["not a zip", "empty", "no manifest", "unsafe paths", "not utf-8", "too many files"])
def test_a_bad_archive_is_refused_with_every_reason(engine: Engine, data: bytes,
                                                   expected: list[tuple[str, str | None, str]]) -> None:
    problems = engine.validate_archive(data)
    assert [(p.file, p.element) for p in problems] == [(f, e) for f, e, _ in expected]
    assert all(m in p.message for p, (_, _, m) in zip(problems, expected, strict=True))
    with pytest.raises(PackageInvalid):
        engine.deploy_archive(data)
    assert engine.definitions() == []


def test_a_zip_bomb_is_refused_before_it_is_unpacked(engine: Engine) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("process.yaml", "id: bomb\n")
        archive.writestr("forms/big.json", b" " * (ARCHIVE_MAX_BYTES + 1))
    assert len(buffer.getvalue()) < 100_000  # it is small until unpacked
    [problem] = engine.validate_archive(buffer.getvalue())
    assert "MiB unpacked" in problem.message


def test_a_written_archive_reads_back_the_same_files_byte_for_byte_each_time() -> None:
    files = read_package_files(SIMPLE)
    data = write_package_archive(files, "simple")
    assert read_package_archive(data) == files
    assert write_package_archive(dict(reversed(list(files.items()))), "simple") == data  # deterministic
