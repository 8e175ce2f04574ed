"""Small composable helpers for tests that read like the handbook."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from engine import Engine, Task

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def copy_package(name: str, dest: Path) -> Path:
    """A writable copy of a fixture package, for tests that edit process files."""
    target = dest / name
    shutil.copytree(FIXTURES / "packages" / name, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def open_task(engine: Engine, instance_id: str, element_id: str) -> Task:
    """The one ready task of this element in the case."""
    found = [t for t in engine.tasks(instance_id=instance_id) if t.element_id == element_id]
    ready = [t.element_id for t in engine.tasks(instance_id=instance_id)]
    assert len(found) == 1, f"expected one ready {element_id}, got {ready}"
    return found[0]


def start_simple(engine: Engine, **data: Any) -> str:
    payload = {"subject": "Broken tap", "ref": "R-1", "customer_id": "C1"} | data
    return engine.start("simple", payload, "alice").id


def zip_package(root: Path, *, folder: str | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """The bytes of a zip holding the package at `root`, at the archive's root or inside `folder`."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                name = path.relative_to(root).as_posix()
                archive.write(path, f"{folder}/{name}" if folder else name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()
