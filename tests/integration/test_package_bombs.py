"""Findings of the hardening review: package reading does bounded work — a YAML anchor bomb, a zip with a
forged entry size and a 50 MB stray file are refused (or passed over) without being expanded or read."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
from pathlib import Path

import pytest

from engine import Engine, PackageInvalid
from engine.archive import YAMLTooLarge, load_yaml
from engine.definitions import read_package_archive, write_package_archive
from tests.conftest import FIXTURES

SIMPLE = FIXTURES / "packages" / "simple"


def anchor_bomb() -> str:
    """About 400 bytes that expand to 9**10 strings."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_yaml_anchor_bomb_is_refused_before_it_is_expanded() -> None:
    assert len(anchor_bomb()) < 1024
    with pytest.raises(YAMLTooLarge, match="expands to more than"):
        load_yaml(anchor_bomb())
    with pytest.raises(YAMLTooLarge, match="nested too deeply"):
        load_yaml("[" * 5000 + "]" * 5000)
    assert load_yaml("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}  # ordinary aliases still work


def test_a_manifest_that_is_an_anchor_bomb_is_refused_at_deploy(engine: Engine, tmp_path: Path) -> None:
    package = tmp_path / "simple"
    shutil.copytree(SIMPLE, package)
    (package / "process.yaml").write_text(anchor_bomb() + (SIMPLE / "process.yaml").read_text())
    with pytest.raises(PackageInvalid) as err:
        engine.deploy(package)
    (problem,) = err.value.problems
    assert problem.file == "process.yaml" and "expands to more than" in problem.message


def test_an_org_file_that_is_an_anchor_bomb_is_refused(engine: Engine, tmp_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(anchor_bomb())
    with pytest.raises(PackageInvalid, match="expands to more than"):
        engine.load_org(org)


def forge_sizes(data: bytes, size: int) -> bytes:
    """The zip with every entry's uncompressed size in the central directory replaced by `size`."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at != -1:
        struct.pack_into("<I", out, at + 24, size)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def zipped_simple_with(extra_name: str, extra: bytes) -> bytes:
    files = {p.relative_to(SIMPLE).as_posix(): p.read_text() for p in SIMPLE.rglob("*") if p.is_file()}
    buffer = io.BytesIO(write_package_archive(files, "simple"))
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"simple/{extra_name}", extra)
    return buffer.getvalue()


def test_a_zip_whose_directory_understates_a_huge_entry_is_refused_without_unpacking_it() -> None:
    # 64 MiB of zeros deflate to ~64 KiB; the directory claims every entry holds 100 bytes.
    data = forge_sizes(zipped_simple_with("forms/huge.json", b"0" * (64 * 1024 * 1024)), 100)
    assert len(data) < 1024 * 1024
    with pytest.raises(PackageInvalid) as err:
        read_package_archive(data, "forged.zip")
    assert any(p.element == "simple/forms/huge.json" for p in err.value.problems)


def test_a_zip_whose_directory_overstates_an_entry_is_refused_before_reading() -> None:
    data = forge_sizes(zipped_simple_with("forms/x.json", b"{}"), 3 * 1024 ** 3)
    with pytest.raises(PackageInvalid, match="MiB unpacked"):
        read_package_archive(data, "forged.zip")


def test_an_entry_that_really_unpacks_past_the_file_limit_stops_at_the_limit() -> None:
    data = zipped_simple_with("forms/big.json", b" " * (5 * 1024 * 1024))
    with pytest.raises(PackageInvalid) as err:
        read_package_archive(data, "big.zip")
    assert [p.message for p in err.value.problems if p.element == "simple/forms/big.json"] == [
        "unpacks to more than 4096 KiB"]


def test_a_50_mb_stray_file_in_a_package_folder_is_never_read(engine: Engine, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "simple"
    shutil.copytree(SIMPLE, package)
    for name in ("recording.mp4", "notes.json", ".git/objects/pack.json"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        with (package / name).open("wb") as f:
            f.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing written
    read: list[str] = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.name) or real(self))
    with pytest.raises(PackageInvalid) as err:
        engine.deploy(package)
    assert [(p.file, p.message) for p in err.value.problems] == [("notes.json", "larger than 4 MiB: not read")]
    assert not {"recording.mp4", "notes.json", "pack.json"} & set(read)
    (package / "notes.json").unlink()
    assert engine.deploy(package).process_id == "simple"  # the video and .git are passed over
