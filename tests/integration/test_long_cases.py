"""A case that loops hundreds of times (a complaint reopened again and again) still finishes, and each step
costs the same as the first: finished history is pruned from the stored workflow state."""

from __future__ import annotations

import json

from engine import Engine
from tests.conftest import only
from tests.helpers import FIXTURES


def stored_state_size(engine: Engine, instance_id: str) -> int:
    # Measured through the store on purpose: this is what every command reads and writes.
    from engine.store import InstanceRow

    with engine.store.read() as s:
        row = s.get(InstanceRow, instance_id)
        assert row is not None
        return len(json.dumps(row.state))


def test_a_case_looping_four_hundred_times_finishes_with_bounded_state(engine: Engine) -> None:
    engine.deploy(FIXTURES / "packages" / "loop")
    instance_id = engine.start("loop", {}, "alice").id
    sizes = []
    for round_ in range(400):
        task = only(engine.tasks(instance_id=instance_id))
        engine.complete(task.id, {"again": True}, "alice")
        if round_ % 50 == 49:
            sizes.append(stored_state_size(engine, instance_id))
    inst = engine.complete(only(engine.tasks(instance_id=instance_id)).id, {"again": False}, "alice")

    assert inst.status == "completed"
    assert len([e for e in engine.history(instance_id) if e.type == "task_completed"]) == 401
    # Unpruned, the state grows by about a kilobyte a round (400 KB here); pruned it stays small.
    assert max(sizes) < 60_000, sizes
    assert engine.diagram(instance_id)["completed"] == ["e", "g", "m", "s", "work"]
