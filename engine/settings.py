"""Every setting in one registry: environment variables prefixed FLOWDESK_, with embedded defaults.

The CLI's --help, the README and a test all read this table, so a setting cannot go undocumented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("FLOWDESK_DATABASE_URL", "sqlite:///var/flowdesk.db",
            "SQLAlchemy URL; SQLite (WAL) embedded by default, postgresql://... to scale out"),
    Setting("FLOWDESK_PROCESSES", "processes", "Folder of shipped process packages and org.yaml"),
    Setting("FLOWDESK_HOST", "127.0.0.1", "Address `flowdesk serve` listens on"),
    Setting("FLOWDESK_PORT", "5000", "Port `flowdesk serve` listens on"),
    Setting("FLOWDESK_SECRET_KEY", "", "Secret for session cookies; a random one per start when empty"),
    Setting("FLOWDESK_DEFAULT_CALENDAR", "office", "Calendar whose time zone today() and task due times use"),
    Setting("FLOWDESK_DEFAULT_LOCALE", "en",
            "Language for users who chose none and whose browser asks for none FlowDesk speaks (en, zh_CN)"),
    Setting("FLOWDESK_POLL_SECONDS", "2", "Longest the worker sleeps before looking for due timers again"),
    Setting("FLOWDESK_LEASE_SECONDS", "30", "How long a worker's claim on a timer lasts without a heartbeat"),
    Setting("FLOWDESK_LOGIN_ATTEMPTS", "5",
            "Failed logins of one account from one address before that address is locked out for it (1 min, doubling)"),
    Setting("FLOWDESK_SESSION_HOURS", "12", "How long a login session lasts (logout, password change and "
            "deactivation end it sooner)"),
    Setting("FLOWDESK_PASSWORD_HASH_ROUNDS", "120000",
            "PBKDF2 rounds for new password hashes (the test suite lowers it to stay fast)"),
    Setting("FLOWDESK_METRICS_TOKEN", "",
            "Bearer token that /metrics requires; when empty, /metrics answers only to this machine (loopback)"),
    Setting("FLOWDESK_SECURE_COOKIES", "auto",
            "Mark session cookies Secure: auto (when the request came over HTTPS), 1 (always) or 0 (never)"),
    Setting("FLOWDESK_MAX_DURATION_DAYS", "3650",
            "Longest duration, and furthest date from now, that a due time or timer from case data or a "
            "manifest may give; longer ones fail the process with a clear message"),
    Setting("FLOWDESK_TEST_PG", "", "Tests: 1 makes the PostgreSQL tests mandatory (CI sets it)"),
    Setting("FLOWDESK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test",
            "Tests: the PostgreSQL database the PostgreSQL tests use"),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    """The setting's value from the environment, or its default."""
    return os.environ.get(name) or _BY_NAME[name].default


def get_int(name: str) -> int:
    return int(get(name))


def describe() -> str:
    return "\n".join(f"  {s.name:<28} {s.help} (default: {s.default or 'none'})" for s in SETTINGS)
