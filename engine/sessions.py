"""Server-side login sessions and login throttling.

A browser holds only a random session token; the database holds its hash. Logging out, changing or
resetting a password and deactivating an account delete the user's rows, so a cookie saved before
that stops working on its next request. Failed logins are counted per (account, client address):
someone guessing from one address is slowed down with a growing lockout there, while the account
keeps working from everywhere else.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from . import org, settings
from .clock import Clock
from .errors import NotAllowed
from .model import User
from .store import Base, Store, UserRow, UTCDateTime

# Lockouts double with each one in a row from the same address, up to this.
MAX_LOCK = timedelta(hours=1)
# An address/name pair with no failure for this long starts afresh.
FORGET_AFTER = timedelta(days=1)


class SessionRow(Base):
    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginFailureRow(Base):
    """Failed logins of one account name from one client address (no foreign key: unknown names count too)."""

    __tablename__ = "login_failures"
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    strikes: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """The Engine's session and login methods (mixed into engine.Engine)."""

    store: Store
    clock: Clock

    def user(self, username: str) -> User:  # provided by Engine
        raise NotImplementedError

    def start_session(self, username: str) -> str:
        """A new login session for an active user: the token to hand to the browser (only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        hours = float(settings.get("FLOWDESK_SESSION_HOURS"))
        with self.store.transaction() as s:
            row = s.get(UserRow, username)
            if row is None or not row.active:
                raise NotAllowed(f"no active user {username!r}")
            s.add(SessionRow(token_hash=token_hash(token), username=username, created_at=now,
                             expires_at=now + timedelta(hours=hours)))
        return token

    def session_user(self, token: str) -> User:
        """The user a session token belongs to; NotAllowed when it was ended, expired or never existed."""
        with self.store.read() as s:
            row = s.get(SessionRow, token_hash(token)) if token else None
            if row is None or row.expires_at <= self.clock.now():
                raise NotAllowed("the session has ended; log in again")
            user = s.get(UserRow, row.username)
            if user is None or not user.active:
                raise NotAllowed("the session has ended; log in again")
            username = row.username
        return self.user(username)

    def end_session(self, token: str) -> None:
        """Log one session out (unknown tokens are ignored)."""
        with self.store.transaction() as s:
            s.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash(token)))

    def end_sessions(self, username: str, keep: str | None = None) -> int:
        """End every session of the user, except the one whose token is `keep`; how many were ended."""
        with self.store.transaction() as s:
            return end_user_sessions(s, username, keep)

    def check_login(self, username: str, password: str, address: str, *, max_failures: int,
                    lock_for: timedelta) -> None:
        """Raise NotAllowed unless the password is right and this address is not locked out for this name."""
        now = self.clock.now()
        address = (address or "unknown")[:64]
        with self.store.transaction() as s:
            failure = s.get(LoginFailureRow, (username, address))
            if failure is not None and failure.last_failed_at + FORGET_AFTER < now:
                s.delete(failure)
                s.flush()
                failure = None
            if failure is not None and failure.locked_until is not None and failure.locked_until > now:
                wait = int((failure.locked_until - now).total_seconds()) + 1
                raise NotAllowed(f"too many failed attempts from your address; try again in {wait} seconds")
            user = s.get(UserRow, username)
            if user is not None and user.active and org.check_password(user.password_hash, password):
                if failure is not None:
                    s.delete(failure)
                return
            if failure is None:
                failure = LoginFailureRow(username=username, address=address, failures=0, strikes=0,
                                          last_failed_at=now)
                s.add(failure)
            failure.failures += 1
            failure.last_failed_at = now
            if failure.failures >= max_failures:
                failure.strikes += 1
                failure.failures = 0
                failure.locked_until = now + min(lock_for * 2 ** (failure.strikes - 1), MAX_LOCK)
        # Outside the transaction, so the counted failure is committed before the refusal.
        raise NotAllowed("unknown user or wrong password")


def end_user_sessions(s: Any, username: str, keep: str | None = None) -> int:
    """Delete the user's session rows inside an open transaction `s` (all but `keep`)."""
    q = delete(SessionRow).where(SessionRow.username == username)
    if keep:
        q = q.where(SessionRow.token_hash != token_hash(keep))
    result = s.execute(q)
    return int(getattr(result, "rowcount", 0) or 0)


def forget_failures(s: Any, username: str) -> None:
    """Clear every lockout of an account (an admin reactivating or resetting it)."""
    s.execute(delete(LoginFailureRow).where(LoginFailureRow.username == username))


def open_sessions(s: Any, username: str) -> int:
    return len(list(s.scalars(select(SessionRow.token_hash).where(SessionRow.username == username))))
