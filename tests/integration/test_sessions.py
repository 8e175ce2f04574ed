"""Server-side sessions and per-address lockout, on SQLite and PostgreSQL (issue: hardening, sessions)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import Engine, FakeClock, NotAllowed


def test_a_session_ends_on_logout_and_an_old_token_is_refused(any_engine: Engine) -> None:
    token = any_engine.start_session("alice")
    assert any_engine.session_user(token).username == "alice"
    any_engine.end_session(token)
    with pytest.raises(NotAllowed, match="log in again"):
        any_engine.session_user(token)


def test_a_password_change_ends_every_session_of_that_user_but_the_one_kept(any_engine: Engine) -> None:
    phone, laptop, kiosk = (any_engine.start_session("alice") for _ in range(3))
    bobs = any_engine.start_session("bob")
    any_engine.set_password("alice", "brand-new-secret", keep_session=laptop)
    assert any_engine.session_user(laptop).username == "alice"
    for ended in (phone, kiosk):
        with pytest.raises(NotAllowed):
            any_engine.session_user(ended)
    assert any_engine.session_user(bobs).username == "bob"  # other users keep theirs
    any_engine.set_password("alice", "another-secret")  # an admin's reset keeps none
    with pytest.raises(NotAllowed):
        any_engine.session_user(laptop)


def test_end_sessions_keeps_only_the_named_one(any_engine: Engine) -> None:
    first, second = any_engine.start_session("alice"), any_engine.start_session("alice")
    assert any_engine.end_sessions("alice", keep=second) == 1
    assert any_engine.session_user(second).username == "alice"
    with pytest.raises(NotAllowed):
        any_engine.session_user(first)
    assert any_engine.end_sessions("alice") == 1


def test_deactivation_ends_every_session_and_no_new_one_starts(any_engine: Engine) -> None:
    token = any_engine.start_session("bob")
    any_engine.set_user_active("bob", False)
    with pytest.raises(NotAllowed):
        any_engine.session_user(token)
    with pytest.raises(NotAllowed):
        any_engine.start_session("bob")
    any_engine.set_user_active("bob", True)
    with pytest.raises(NotAllowed):
        any_engine.session_user(token)  # reactivation does not bring old sessions back


def test_sessions_expire(any_engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDESK_SESSION_HOURS", "2")
    token = any_engine.start_session("alice")
    clock.advance(timedelta(hours=1, minutes=59))
    assert any_engine.session_user(token).username == "alice"
    clock.advance(timedelta(minutes=2))
    with pytest.raises(NotAllowed):
        any_engine.session_user(token)


def fail(engine: Engine, times: int, address: str, username: str = "bob") -> None:
    for _ in range(times):
        with pytest.raises(NotAllowed):
            engine.authenticate(username, "wrong", address=address, max_failures=5)


def test_five_wrong_passwords_lock_out_only_that_address_not_the_account(any_engine: Engine) -> None:
    fail(any_engine, 5, "203.0.113.9")
    with pytest.raises(NotAllowed, match="too many failed attempts"):
        any_engine.authenticate("bob", "bob-pass", address="203.0.113.9")
    # The real bob, elsewhere, is not locked out by someone guessing his password.
    assert any_engine.authenticate("bob", "bob-pass", address="198.51.100.7").username == "bob"


def test_lockouts_from_one_address_double_and_a_success_forgets_them(any_engine: Engine, clock: FakeClock) -> None:
    address = "203.0.113.9"
    fail(any_engine, 5, address)
    clock.advance(timedelta(seconds=61))  # the first lockout lasts one minute
    fail(any_engine, 5, address)
    clock.advance(timedelta(seconds=61))  # the second lasts two
    with pytest.raises(NotAllowed, match="too many failed attempts"):
        any_engine.authenticate("bob", "bob-pass", address=address)
    clock.advance(timedelta(seconds=60))
    assert any_engine.authenticate("bob", "bob-pass", address=address).username == "bob"
    fail(any_engine, 4, address)  # counting starts afresh after a success
    assert any_engine.authenticate("bob", "bob-pass", address=address).username == "bob"


def test_unknown_names_are_throttled_like_real_ones(any_engine: Engine) -> None:
    fail(any_engine, 5, "203.0.113.9", username="nobody")
    with pytest.raises(NotAllowed, match="too many failed attempts"):
        any_engine.authenticate("nobody", "x", address="203.0.113.9")
