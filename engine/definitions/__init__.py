"""Loading and validating process packages: manifest, BPMN, forms, DMN, expressions — every problem at once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .. import locales
from ..errors import PackageInvalid, Problem
from .bpmn import _check_bpmn, _check_tasks_against_bpmn
from .checker import Checker
from .dataflow import check_dataflow
from .dmn import check_dmn_files
from .durations import _check_durations
from .expression_check import HELPER_NAMES, check_bpmn_expressions, check_manifest_expressions
from .forms import _check_forms
from .manifest import _check_manifest, _yaml_lines, schema_problems
from .package import (
    ARCHIVE_MAX_BYTES,
    ARCHIVE_MAX_ENTRIES,
    MANIFEST,
    PACKAGE_SUFFIXES,
    Package,
    content_hash,
    load_schema,
    read_package_archive,
    read_package_files,
    write_package_archive,
)

__all__ = [
    "ARCHIVE_MAX_BYTES", "ARCHIVE_MAX_ENTRIES", "HELPER_NAMES", "MANIFEST", "PACKAGE_SUFFIXES", "Package",
    "check_files", "content_hash", "load_package", "load_schema", "read_package_archive", "read_package_files",
    "schema_problems", "write_package_archive", "_yaml_lines",
]


def load_package(root: str | Path, *, calendars: Iterable[str] | None = None,
                 groups: Iterable[str] | None = None) -> Package:
    """Read and validate a package folder or .zip archive; raises PackageInvalid listing every problem."""
    root = Path(root)
    if root.is_file() and root.suffix == ".zip":
        files = read_package_archive(root.read_bytes(), root.name)
        return check_files(files, label=root.stem, calendars=calendars, groups=groups)
    if not root.is_dir():
        raise PackageInvalid([Problem(str(root), "not a package: neither a folder nor a .zip archive")])
    if not (root / MANIFEST).exists():
        raise PackageInvalid([Problem(str(root / MANIFEST), "missing manifest")])
    return check_files(read_package_files(root), label=root.name, calendars=calendars, groups=groups)


def check_files(files: dict[str, str], *, label: str = "", calendars: Iterable[str] | None = None,
                groups: Iterable[str] | None = None) -> Package:
    chk = Checker(files, set(calendars) if calendars is not None else None,
                   set(groups) if groups is not None else None)
    manifest = _check_manifest(chk)
    if manifest is None:
        raise PackageInvalid(chk.problems)
    dmn_ok = check_dmn_files(chk, manifest)
    compiled = _check_bpmn(chk, manifest, dmn_ok)
    _check_forms(chk, manifest)
    bpmn_file = manifest.get("bpmn")
    bpmn_parses = isinstance(bpmn_file, str) and bpmn_file in chk.files and not any(
        p.file == bpmn_file and p.message.startswith("not well-formed XML") for p in chk.problems)
    if bpmn_parses:
        check_bpmn_expressions(chk, str(bpmn_file))
    check_manifest_expressions(chk, manifest)
    _check_durations(chk, manifest)
    if compiled is not None:
        _check_tasks_against_bpmn(chk, manifest, compiled)
        check_dataflow(chk, manifest)
    locale_errors, warnings = locales.check(files, locales.package_facts(
        files, manifest, compiled.user_tasks() if compiled is not None else []))
    chk.problems.extend(locale_errors)
    if chk.problems:
        raise PackageInvalid(chk.finished())
    return Package(str(manifest["id"]), manifest, files, content_hash(files), tuple(warnings))


