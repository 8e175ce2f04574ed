"""How much the engine costs on top of SpiffWorkflow: the same multi-step process run to completion
(a) purely in memory with SpiffWorkflow and (b) through Engine on SQLite, with the ratio (b)/(a).

    .venv/bin/python benchmarks/engine_throughput.py [-n 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from engine import Engine, FakeClock  # noqa: E402

PACKAGE = ROOT / "tests" / "fixtures" / "packages" / "simple"
ORG = ROOT / "tests" / "fixtures" / "org.yaml"
START = {"subject": "Broken tap", "ref": "R-1", "customer_id": "C1"}
STEPS = [("review", {"ok": True, "note": "fine"}), ("approve", {"approved": True})]


def pure_spiff(n: int) -> float:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(PACKAGE / "simple.bpmn"))
    spec = parser.get_spec("simple_review")
    began = time.perf_counter()
    for _ in range(n):
        wf = BpmnWorkflow(spec)
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update(START | {"customer": {"tier": "key"}})
        wf.do_engine_steps()
        for element, data in STEPS:
            task = next(t for t in wf.get_tasks(state=TaskState.READY) if t.task_spec.bpmn_id == element)
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
        assert wf.is_completed()
    return n / (time.perf_counter() - began)


def through_engine(n: int, db: Path) -> float:
    engine = Engine(f"sqlite:///{db}", clock=FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)))
    engine.load_org(ORG)
    engine.deploy(PACKAGE)
    began = time.perf_counter()
    for _ in range(n):
        inst = engine.start("simple", START, "alice")
        for element, data in STEPS:
            task = next(t for t in engine.tasks(instance_id=inst.id) if t.element_id == element)
            inst = engine.complete(task.id, data, "alice" if element == "review" else "hana")
        assert inst.status == "completed"
    rate = n / (time.perf_counter() - began)
    engine.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="instances per run (default 200)")
    args = parser.parse_args()
    pure_spiff(10)  # warm caches
    a = pure_spiff(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        b = through_engine(args.n, Path(tmp) / "bench.db")
    print(f"process: simple review (start + {len(STEPS)} user tasks + script + boundary timer), n={args.n}")
    print(f"(a) SpiffWorkflow in memory : {a:10.1f} instances/s")
    print(f"(b) Engine on SQLite        : {b:10.1f} instances/s")
    print(f"ratio (b)/(a)               : {b / a:10.3f}")


if __name__ == "__main__":
    main()
