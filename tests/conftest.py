"""Fixtures shared by every test: a fake clock, a fresh database per test, small composable helpers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# Hashing demo passwords at full strength would dominate every test's setup; stored hashes record their
# own round count, so logins still verify.
os.environ.setdefault("FLOWDESK_PASSWORD_HASH_ROUNDS", "1000")

from engine import Engine, FakeClock, settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
PROCESSES = ROOT / "processes"

# Monday 5 January 2026, 09:00 in Shanghai (01:00 UTC) — the start of an office day.
MONDAY_MORNING = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def pg_available(url: str) -> str | None:
    """None when PostgreSQL answers at url, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except Exception as err:  # noqa: BLE001 - any failure means "not available", with its reason
        return str(err).splitlines()[0] if str(err) else type(err).__name__


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL base URL; skipped with a reason when absent, a failure when CI demands it."""
    url = settings.get("FLOWDESK_TEST_PG_URL")
    reason = pg_available(url)
    if reason is not None:
        if os.environ.get("FLOWDESK_TEST_PG") == "1":
            pytest.fail(f"FLOWDESK_TEST_PG=1 but PostgreSQL is not reachable at {url}: {reason}")
        pytest.skip(f"PostgreSQL not reachable at {url} ({reason}); set FLOWDESK_TEST_PG=1 to require it")
    return url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    sep = "&" if "?" in pg_server else "?"
    yield f"{pg_server}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'drop schema "{schema}" cascade')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flowdesk.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flowdesk.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_MORNING)


@pytest.fixture
def engine(sqlite_url: str, clock: FakeClock) -> Iterator[Engine]:
    """An engine on a fresh SQLite database with the test organisation loaded."""
    eng = Engine(sqlite_url, clock=clock)
    eng.load_org(FIXTURES / "org.yaml")
    yield eng
    eng.close()


@pytest.fixture
def any_engine(db_url: str, clock: FakeClock) -> Iterator[Engine]:
    """Like `engine`, on SQLite and on PostgreSQL."""
    eng = Engine(db_url, clock=clock)
    eng.load_org(FIXTURES / "org.yaml")
    yield eng
    eng.close()


@pytest.fixture
def shipped(sqlite_url: str, clock: FakeClock) -> Iterator[Engine]:
    """An engine with processes/org.yaml loaded and every shipped package deployed."""
    eng = Engine(sqlite_url, clock=clock)
    eng.load_org(PROCESSES / "org.yaml")
    for manifest in sorted(PROCESSES.glob("*/process.yaml")):
        eng.deploy(manifest.parent)
    yield eng
    eng.close()


def only(items: list[Any]) -> Any:
    """The single item of a list, with a helpful failure when there are more or fewer."""
    assert len(items) == 1, f"expected exactly one, got {len(items)}: {items}"
    return items[0]
