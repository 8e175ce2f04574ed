"""Leases, firing and delivery under real concurrency (threads), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from engine import Engine, FakeClock
from engine.timers import claim_timers
from tests.conftest import FIXTURES


def side_by_side(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same moment; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as err:  # noqa: BLE001 - the test inspects what each call did
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def due_cases(engine: Engine, clock: FakeClock, n: int) -> list[str]:
    engine.deploy(FIXTURES / "packages" / "minute_wait")
    ids = [engine.start("minute_wait", {"ref": f"C-{i}"}).id for i in range(n)]
    clock.advance(minutes=2)
    return ids


def test_concurrent_claims_never_lease_one_timer_twice(any_engine: Engine, clock: FakeClock) -> None:
    due_cases(any_engine, clock, 12)

    def claim(owner: str) -> Callable[[], list[int]]:
        def go() -> list[int]:
            now = clock.now()
            with any_engine.store.transaction() as s:
                return [c.id for c in claim_timers(s, owner, now, now + timedelta(seconds=30), 5)]
        return go

    claimed = side_by_side(claim("a"), claim("b"), claim("c"))
    ids = [tid for batch in claimed for tid in batch]
    assert len(ids) == len(set(ids)), "a timer was leased twice"
    assert set(ids) == {t.id for t in any_engine.timers()}, "three batches of five cover all twelve"
    owners = {t.id: t.lease_owner for t in any_engine.timers()}
    for owner, batch in zip("abc", claimed, strict=True):
        assert {owners[tid] for tid in batch} <= {owner}


def test_two_workers_firing_the_same_timer_at_once_fire_it_once(any_engine: Engine, clock: FakeClock) -> None:
    (case_id,) = due_cases(any_engine, clock, 1)
    (timer,) = any_engine.timers()
    results = side_by_side(lambda: any_engine.fire_timer(timer.id, "a"), lambda: any_engine.fire_timer(timer.id, "b"))
    assert sorted(map(repr, results)) == ["False", "True"]
    assert [e.type for e in any_engine.history(case_id)].count("timer_fired") == 1


def test_two_workers_delivering_the_same_message_at_once_deliver_it_once(any_engine: Engine) -> None:
    any_engine.deploy(FIXTURES / "packages" / "payment")
    any_engine.deploy(FIXTURES / "packages" / "inquiry")
    order = any_engine.start("payment", {"order_no": "Z-1"})
    paid = any_engine.send_message("payment_received", "Z-1", {"amount": 1})
    asked = any_engine.send_message("customer_inquiry", None, {"question": "?"})

    assert side_by_side(lambda: any_engine.deliver_message(paid), lambda: any_engine.deliver_message(paid)) == [
        order.id, order.id]
    started = side_by_side(lambda: any_engine.deliver_message(asked), lambda: any_engine.deliver_message(asked))
    assert started[0] == started[1] and isinstance(started[0], str)
    assert [e.type for e in any_engine.history(order.id)].count("message_delivered") == 1
    assert len(any_engine.instances(process_id="inquiry")) == 1
