"""Scenario fixtures: the shipped processes, deployed once per session and copied for every test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import Engine, FakeClock
from tests.conftest import MONDAY_MORNING, PROCESSES


@pytest.fixture(scope="session")
def shipped_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with processes/org.yaml loaded and every shipped package deployed."""
    path = tmp_path_factory.mktemp("shipped") / "flowdesk.db"
    eng = Engine(f"sqlite:///{path}", clock=FakeClock(MONDAY_MORNING))
    eng.load_org(PROCESSES / "org.yaml")
    for manifest in sorted(PROCESSES.glob("*/process.yaml")):
        eng.deploy(manifest.parent)
    eng.close()
    return path


@pytest.fixture
def shipped(shipped_database: Path, tmp_path: Path, clock: FakeClock) -> Iterator[Engine]:
    """Like the root `shipped` fixture (same clock, same files), without hashing passwords and parsing
    every package again for each test."""
    for suffix in ("", "-wal", "-shm"):
        source = shipped_database.with_name(shipped_database.name + suffix)
        if source.exists():
            shutil.copy(source, tmp_path / ("flowdesk.db" + suffix))
    eng = Engine(f"sqlite:///{tmp_path / 'flowdesk.db'}", clock=clock)
    yield eng
    eng.close()
