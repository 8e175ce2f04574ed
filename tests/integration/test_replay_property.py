"""Property: whatever valid path cases take, replaying the log so far gives exactly the live state.

Hypothesis drives random valid paths through the shipped processes — form data drawn from each task's
JSON Schema (so every branch gets taken), claims, the fake clock moving so timers fire, return-visit
requests and payment messages — and after every step replays every case and compares.
"""

from __future__ import annotations

import csv
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine import Engine, FakeClock
from engine.definitions import check_files, read_package_files
from tests.conftest import FIXTURES, MONDAY_MORNING, PROCESSES
from tests.histories.driver import Driver

SHIPPED = ("complaint", "repair", "return_visit")
PAYMENT = FIXTURES / "packages" / "payment"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database with the organisation and the processes deployed, copied for every example."""
    path = tmp_path_factory.mktemp("replay_property") / "template.db"
    engine = Engine(f"sqlite:///{path}", clock=FakeClock(MONDAY_MORNING))
    engine.load_org(PROCESSES / "org.yaml")
    for process_id in SHIPPED:
        engine.deploy(PROCESSES / process_id)
    # An order that waits for a payment message: the shipped processes only start cases by message.
    engine.deploy_package(check_files(read_package_files(PAYMENT)))
    engine.close()
    return path


@pytest.fixture(scope="module")
def customers() -> list[str]:
    with (PROCESSES / "customers.csv").open(encoding="utf-8") as fh:
        return [row["customer_id"] for row in csv.DictReader(fh)]


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Iterator[Callable[[], tuple[Engine, FakeClock]]]:
    engines: list[Engine] = []

    def make() -> tuple[Engine, FakeClock]:
        path = tmp_path / f"{uuid.uuid4().hex}.db"
        shutil.copy(template, path)
        clock = FakeClock(MONDAY_MORNING)
        engine = Engine(f"sqlite:///{path}", clock=clock, migrate=False)
        engines.append(engine)
        return engine, clock

    yield make
    for engine in engines:
        engine.close()


def assert_log_reproduces_live_state(engine: Engine, step: str) -> None:
    for instance in engine.instances(limit=1000):
        result = engine.replay(instance.id)
        assert result.verified, f"after {step}: {instance.process_id} {instance.id}: {result.message}"
        chain = engine.verify_chain(instance.id)
        assert chain.ok, f"after {step}: {[str(p) for p in chain.problems]}"
        last = engine.history(instance.id)[-1]
        snapshot = engine.state_at(instance.id, last.seq)
        assert snapshot.data == instance.data, f"after {step}: time travel to #{last.seq} differs from live data"
        live_tasks = {t.id for t in engine.tasks(instance_id=instance.id)}
        assert {t.task_id for t in snapshot.ready_tasks} == live_tasks


ACTIONS = ("work", "work", "work", "time", "start", "pay")


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_replaying_the_log_so_far_reproduces_the_live_state_after_every_step(
        fresh: Callable[[], tuple[Engine, FakeClock]], customers: list[str], data: st.DataObject) -> None:
    engine, clock = fresh()
    rnd = data.draw(st.randoms(use_true_random=False), label="choices")
    driver = Driver(engine, clock, rnd, customers)
    kinds = ["complaint", "repair", "payment"]
    first = data.draw(st.sampled_from(kinds), label="first case")
    driver.start(first)
    assert_log_reproduces_live_state(engine, f"start {first}")
    orders = 0
    for number in range(data.draw(st.integers(4, 12), label="steps")):
        action = data.draw(st.sampled_from(ACTIONS), label=f"action {number}")
        if action == "start":
            process_id = data.draw(st.sampled_from(kinds))
            driver.start(process_id)
            action = f"start {process_id}"
        elif action == "pay":
            waiting = [i for i in engine.instances(process_id="payment", status="running") if i.business_key]
            if waiting:
                orders += 1
                engine.send_message("payment_received", rnd.choice(waiting).business_key, {"amount": orders})
            driver.run_due()
        elif action == "time":
            clock.advance(minutes=data.draw(st.sampled_from([30, 240, 1440, 4000]), label="minutes"))
            driver.run_due()
        else:
            action = driver.step()
        assert_log_reproduces_live_state(engine, f"step {number} ({action})")
    for instance in engine.instances(limit=1000):
        for recorded in engine.history(instance.id):
            event(recorded.type)
