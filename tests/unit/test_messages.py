"""Message delivery through the messages table: correlation, waiting for a receiver, idempotence."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from engine import Engine, FakeClock
from engine.store import MessageRow
from engine.timers import Worker, messages_group
from tests.conftest import FIXTURES, only


@pytest.fixture
def shop(engine: Engine) -> Engine:
    engine.deploy(FIXTURES / "packages" / "payment")
    engine.deploy(FIXTURES / "packages" / "inquiry")
    return engine


def worker(engine: Engine, name: str = "w") -> Worker:
    return Worker(engine, worker_id=name, lease_seconds=30)


def message_row(engine: Engine, message_id: int) -> SimpleNamespace:
    """The stored message as plain values (the public Message has no lease or attempts)."""
    with engine.store.read() as s:
        row = s.get(MessageRow, message_id)
        assert row is not None
        return SimpleNamespace(**{c.key: getattr(row, c.key) for c in MessageRow.__table__.columns})


def deliveries(engine: Engine, instance_id: str) -> list[dict[str, object]]:
    return [e.payload for e in engine.history(instance_id) if e.type == "message_delivered"]


def test_a_message_reaches_the_waiting_case_with_its_correlation_key(shop: Engine) -> None:
    other = shop.start("payment", {"order_no": "A-2"})
    order = shop.start("payment", {"order_no": "A-1"})
    mid = shop.send_message("payment_received", "A-1", {"amount": 42})

    assert worker(shop).run_once() == 1
    assert [t.element_id for t in shop.tasks(instance_id=order.id)] == ["ship"]
    assert shop.instance(order.id).data["payment"] == {"amount": 42}
    assert shop.tasks(instance_id=other.id) == []
    row = message_row(shop, mid)
    assert (row.status, row.target_instance_id, row.attempts, row.lease_owner) == ("delivered", order.id, 1, None)
    assert only(deliveries(shop, order.id))["message_id"] == mid


def test_a_message_nobody_waits_for_yet_stays_pending_and_visible_until_someone_does(
        shop: Engine, clock: FakeClock) -> None:
    mid = shop.send_message("payment_received", "B-1", {"amount": 7})
    w = worker(shop)
    assert w.run_once() == 0
    row = message_row(shop, mid)
    assert (row.status, row.attempts, row.lease_owner) == ("pending", 1, None)
    assert row.lease_until is not None and row.lease_until > clock.now()  # the next try, after a back-off
    assert [m.id for m in shop.messages(status="pending")] == [mid]

    order = shop.start("payment", {"order_no": "B-1"})
    assert w.run_once() == 0  # still backing off
    clock.set(row.lease_until + timedelta(milliseconds=1))
    assert w.run_once() == 1
    assert [t.element_id for t in shop.tasks(instance_id=order.id)] == ["ship"]
    assert message_row(shop, mid).attempts == 2


def test_back_off_between_attempts_grows(shop: Engine, clock: FakeClock) -> None:
    mid = shop.send_message("payment_received", "nobody", {})
    w = worker(shop)
    gaps = []
    for _ in range(4):
        assert w.run_once() == 0
        retry_at = message_row(shop, mid).lease_until
        assert retry_at is not None
        gaps.append(retry_at - clock.now())
        clock.set(retry_at + timedelta(milliseconds=1))
    assert gaps == sorted(gaps) and gaps[0] < gaps[-1]
    assert message_row(shop, mid).attempts == 4


def test_delivering_a_message_twice_delivers_it_once(shop: Engine) -> None:
    order = shop.start("payment", {"order_no": "C-1"})
    mid = shop.send_message("payment_received", "C-1", {"amount": 1})
    assert shop.deliver_message(mid) == order.id
    assert shop.deliver_message(mid) == order.id
    assert worker(shop).run_once() == 0
    assert shop.run_due() == 0
    assert len(deliveries(shop, order.id)) == 1
    assert len(shop.tasks(instance_id=order.id)) == 1


def test_a_second_message_for_a_case_that_no_longer_waits_stays_pending(shop: Engine) -> None:
    order = shop.start("payment", {"order_no": "D-1"})
    first = shop.send_message("payment_received", "D-1", {"amount": 1})
    second = shop.send_message("payment_received", "D-1", {"amount": 1})
    assert worker(shop).run_once() == 1
    assert message_row(shop, first).target_instance_id == order.id
    assert message_row(shop, second).status == "pending"
    assert len(deliveries(shop, order.id)) == 1


def test_a_message_with_another_key_or_name_does_not_reach_the_case(shop: Engine) -> None:
    order = shop.start("payment", {"order_no": "E-1"})
    wrong_key = shop.send_message("payment_received", "E-2", {})
    wrong_name = shop.send_message("refund_received", "E-1", {})
    assert worker(shop).run_once() == 0
    assert {message_row(shop, m).status for m in (wrong_key, wrong_name)} == {"pending"}
    assert deliveries(shop, order.id) == []


def test_a_message_start_event_starts_one_case_however_often_it_is_delivered(shop: Engine) -> None:
    mid = shop.send_message("customer_inquiry", None, {"question": "Opening hours?"})
    started = shop.deliver_message(mid)
    assert started is not None
    assert shop.deliver_message(mid) == started
    assert worker(shop).run_once() == 0
    inquiries = shop.instances(process_id="inquiry")
    assert [i.id for i in inquiries] == [started]
    assert inquiries[0].data["inquiry"] == {"question": "Opening hours?"}
    assert [t.element_id for t in shop.tasks(instance_id=started)] == ["answer"]


def test_a_message_leased_by_another_worker_is_left_to_it(shop: Engine, clock: FakeClock) -> None:
    order = shop.start("payment", {"order_no": "F-1"})
    mid = shop.send_message("payment_received", "F-1", {})
    with shop.store.transaction() as s:
        row = s.get(MessageRow, mid)
        assert row is not None
        row.lease_owner, row.lease_until = "other", clock.now() + timedelta(seconds=30)
    assert worker(shop).run_once() == 0
    assert shop.deliver_message(mid, lease_owner="mine") is None
    clock.advance(seconds=31)
    assert worker(shop).run_once() == 1
    assert message_row(shop, mid).target_instance_id == order.id


def test_messages_command_lists_pending_messages_with_attempts_and_sends_new_ones(
        shop: Engine, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COLUMNS", "300")  # Rich would wrap the table at 80
    runner = CliRunner()
    sent = runner.invoke(messages_group, ["send", "payment_received", "--key", "G-1", "--data", '{"amount": 3}'],
                         catch_exceptions=False)
    assert sent.exit_code == 0, sent.output
    mid = only(shop.messages()).id
    worker(shop).run_once()
    listed = runner.invoke(messages_group, [], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert "payment_received" in listed.output and "G-1" in listed.output and "1 message(s)" in listed.output
    assert message_row(shop, mid).attempts == 1
    bad = runner.invoke(messages_group, ["send", "x", "--data", "[1]"])
    assert bad.exit_code == 2
