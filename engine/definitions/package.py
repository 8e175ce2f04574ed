"""A process package: its files (from a folder or a zip archive), content hash and compiled form."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..archive import TooLarge, package_paths, read_zip_entry
from ..errors import PackageInvalid, Problem
from ..runtime import CompiledProcess, compile_process

MANIFEST = "process.yaml"


@lru_cache(maxsize=4)
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in the project's schemas/ folder."""
    here = Path(__file__).resolve().parent.parent / "schemas" / name
    if here.exists():
        result: dict[str, Any] = json.loads(here.read_text())
        return result
    text = resources.files("engine").joinpath("..", "schemas", name).read_text()  # pragma: no cover
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@dataclass(frozen=True)
class Package:
    """A validated process package, ready to store as an immutable definition version."""

    process_id: str
    manifest: dict[str, Any]
    files: dict[str, str]
    content_hash: str
    warnings: tuple[Problem, ...] = ()  # worth fixing, never blocking (e.g. an untranslated label)

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def bpmn_process(self) -> str:
        return str(self.manifest["process"])

    def form(self, relpath: str | None) -> dict[str, Any] | None:
        if not relpath:
            return None
        loaded: dict[str, Any] = json.loads(self.files[relpath])
        return loaded

    def compile(self) -> CompiledProcess:
        bpmn = {p: t for p, t in self.files.items() if p.endswith(".bpmn")}
        dmn = {p: t for p, t in self.files.items() if p.endswith(".dmn")}
        from .interop import normalise

        return compile_process(self.bpmn_process, *normalise(bpmn, dmn))


def content_hash(files: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return digest.hexdigest()


PACKAGE_SUFFIXES = frozenset({".yaml", ".yml", ".bpmn", ".dmn", ".json", ".md"})
ARCHIVE_MAX_ENTRIES = 500
ARCHIVE_MAX_BYTES = 10 * 1024 * 1024  # uncompressed, all files together


def read_package_files(root: Path) -> dict[str, str]:
    """Every text file of a package, keyed by its path relative to the package root."""
    files: dict[str, str] = {}
    problems: list[Problem] = []
    for path, refused in package_paths(root, PACKAGE_SUFFIXES):
        rel = path.relative_to(root).as_posix()
        if refused:
            problems.append(Problem(rel, refused))
            continue
        try:
            files[rel] = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            problems.append(Problem(rel, f"not UTF-8 text (byte {err.start}): save the file as UTF-8"))
        except OSError as err:
            problems.append(Problem(rel, f"cannot be read ({err.strerror or err})"))
    if problems:
        raise PackageInvalid(problems)
    return files


def write_package_archive(files: Mapping[str, str], folder: str) -> bytes:
    """A zip of package files inside `folder`, as `read_package_archive` reads it back (a fixed entry time,
    so the same files always give the same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            entry = zipfile.ZipInfo(f"{folder}/{path}", date_time=(2000, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, files[path])
    return buffer.getvalue()


def read_package_archive(data: bytes, label: str = "archive") -> dict[str, str]:
    """The package files inside a zip archive, keyed by path. The archive may hold the package at its
    root or inside one folder (a zipped package folder). Refuses, listing every problem, an archive
    that is not a zip, is too large, has unsafe paths or text that is not UTF-8, or has no manifest."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as err:
        raise PackageInvalid([Problem(label, f"not a zip archive ({err})")]) from err
    if len(entries) > ARCHIVE_MAX_ENTRIES:
        raise PackageInvalid([Problem(label, f"more than {ARCHIVE_MAX_ENTRIES} files")])
    if sum(i.file_size for i in entries) > ARCHIVE_MAX_BYTES:
        raise PackageInvalid([Problem(label, f"more than {ARCHIVE_MAX_BYTES // (1024 * 1024)} MiB unpacked")])
    problems: list[Problem] = []
    wanted: dict[str, zipfile.ZipInfo] = {}
    for info in entries:
        name = info.filename.replace("\\", "/")
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or ":" in parts[0]:
            problems.append(Problem(label, "unsafe path in the archive", name))
        elif not any(part.startswith((".", "__MACOSX")) for part in parts) and Path(name).suffix in PACKAGE_SUFFIXES:
            wanted[name] = info
    tops = {name.split("/")[0] for name in wanted}
    prefix = next(iter(tops)) + "/" if len(tops) == 1 and MANIFEST not in wanted and "/" in next(iter(wanted)) else ""
    files: dict[str, str] = {}
    unpacked = 0
    for name, info in sorted(wanted.items()):
        try:
            raw = read_zip_entry(archive, info, ARCHIVE_MAX_BYTES - unpacked)
        except TooLarge as err:
            problems.append(Problem(label, str(err), name))
            break
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, EOFError) as err:
            problems.append(Problem(label, f"cannot be unpacked ({err})", name))
            continue
        unpacked += len(raw)
        if len(raw) != info.file_size:  # a forged size in the directory must not get past the limit
            problems.append(Problem(label, "size does not match the archive's directory", name))
            continue
        try:
            files[name[len(prefix):]] = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(name[len(prefix):], "not UTF-8 text"))
    if not problems and MANIFEST not in files:
        problems.append(Problem(MANIFEST, f"missing manifest: {label} has no {MANIFEST} at its root or in its folder"))
    if problems:
        raise PackageInvalid(problems)
    return files


