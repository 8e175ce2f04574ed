"""Regenerate the golden histories: real runs of the shipped processes, exported as JSON Lines.

    .venv/bin/python -m tests.histories.record

Each file is what `flowdesk export` writes (calendars, definition files, case headers, events), so
`flowdesk replay --file tests/histories/complaint.jsonl` replays it on an empty database, and
tests/integration/test_replay_golden.py does so in CI. Re-record only on purpose: a golden history
that stops replaying means the engine changed what recorded inputs produce.
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import yaml

from engine import Engine, FakeClock
from engine.definitions import check_files, read_package_files
from tests.histories.driver import Driver

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
HERE = Path(__file__).resolve().parent
SHIPPED = ("complaint", "repair", "return_visit")
MONDAY = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
FRIDAY_EVENING = datetime(2026, 1, 9, 9, 30, tzinfo=UTC)  # 17:30 in Shanghai: office hours end soon


def customers() -> list[str]:
    with (PROCESSES / "customers.csv").open(encoding="utf-8") as fh:
        return [row["customer_id"] for row in csv.DictReader(fh)]


def fresh_engine(workdir: Path, name: str, start: datetime) -> tuple[Engine, FakeClock]:
    clock = FakeClock(start)
    engine = Engine(f"sqlite:///{workdir / name}.db", clock=clock)
    engine.load_org(PROCESSES / "org.yaml")
    return engine, clock


def run_until_quiet(driver: Driver, ids: list[str] | None, steps: int) -> None:
    """Random valid steps; stops early once nothing is open and no timer is pending."""
    for _ in range(steps):
        driver.run_due()  # deliver messages thrown by the last step (return-visit requests)
        if not driver.engine.tasks() and not driver.engine.timers():
            break
        driver.step(ids)


def record_shipped(workdir: Path) -> Engine:
    """Complaints and repairs down random valid paths; their return visits start by message."""
    engine, clock = fresh_engine(workdir, "shipped", MONDAY)
    for process_id in SHIPPED:
        engine.deploy(PROCESSES / process_id)
    for seed, process_id in enumerate(["complaint", "repair", "complaint", "repair", "complaint", "complaint"]):
        driver = Driver(engine, clock, random.Random(1000 + seed), customers())
        driver.start(process_id)
        run_until_quiet(driver, None, 80)
    return engine


def older_complaint_files() -> dict[str, str]:
    """complaint as it was before its overdue timers counted office hours (version 1)."""
    files = read_package_files(PROCESSES / "complaint")
    manifest = yaml.safe_load(files["process.yaml"])
    manifest.pop("timers", None)
    files["process.yaml"] = ("# Version 1: overdue timers counted plain hours.\n"
                             + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    return files


def record_versions(workdir: Path) -> Engine:
    """A complaint started under version 1 keeps it after version 2 is deployed, beside a version 2 case."""
    engine, clock = fresh_engine(workdir, "versions", FRIDAY_EVENING)
    engine.deploy_package(check_files(older_complaint_files()))
    driver = Driver(engine, clock, random.Random(7), customers())
    old = driver.start("complaint")
    driver.step([old])
    assert engine.deploy(PROCESSES / "complaint").version == 2
    new = driver.start("complaint")
    run_until_quiet(driver, [old, new], 40)
    assert {i.definition_version for i in engine.instances()} == {1, 2}
    return engine


def write(engine: Engine, path: Path, *, process_id: str | None = None) -> int:
    ids = [i.id for i in sorted(engine.instances(process_id=process_id, limit=10_000),
                                key=lambda i: (i.created_at, i.id))]
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(engine.export_history(ids))
    return len(ids)


def main() -> int:
    missing = [p for p in SHIPPED if not (PROCESSES / p / "process.yaml").exists()]
    if missing:
        print(f"shipped processes missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shipped = record_shipped(work)
        for process_id in SHIPPED:
            n = write(shipped, HERE / f"{process_id}.jsonl", process_id=process_id)
            print(f"{process_id}.jsonl: {n} case(s)")
        shipped.close()
        versions = record_versions(work)
        n = write(versions, HERE / "complaint_versions.jsonl")
        print(f"complaint_versions.jsonl: {n} case(s) under versions 1 and 2")
        versions.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
