"""Timer throughput and lateness of `flowdesk worker` processes on PostgreSQL: 1 worker, then 3.

A burst of N one-minute timers falls due at the same instant D while the workers wait for it. Each
run prints timers fired per second (N over the time from D to the last firing) and the p50/p99
lateness (fire time minus due time), then the ratio of the 3-worker run to the 1-worker run.

    .venv/bin/python benchmarks/timers.py [-n 400] [--url postgresql://postgres@127.0.0.1:5432/test]

Each run uses a fresh schema that is dropped afterwards. About a minute in all on two cores.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from engine import Engine, FakeClock, settings  # noqa: E402
from engine.store import TimerRow, WorkerRow  # noqa: E402

PACKAGE = ROOT / "tests" / "fixtures" / "packages" / "minute_wait"
ORG = ROOT / "tests" / "fixtures" / "org.yaml"
FLOWDESK = ROOT / ".venv" / "bin" / "flowdesk"


@dataclass(frozen=True)
class Result:
    workers: int
    timers: int
    per_second: float
    p50: float
    p99: float
    cpu_ms: float | None  # worker CPU per timer after start-up; steadier than rates on a busy machine


@contextmanager
def fresh_schema(base: str) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'drop schema "{schema}" cascade')


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout}s")
        time.sleep(0.05)


def run(base: str, n_workers: int, n: int, seed_rate: float) -> Result:
    with fresh_schema(base) as url, tempfile.TemporaryFile() as logs:
        setup = Engine(url)
        setup.load_org(ORG)
        setup.deploy(PACKAGE)
        env = {**os.environ, "FLOWDESK_DATABASE_URL": url}
        procs = [subprocess.Popen([str(FLOWDESK), "worker", "--id", f"bench-{i}"], env=env, stdout=logs,
                                  stderr=subprocess.STDOUT) for i in range(n_workers)]
        try:
            def registered() -> bool:
                with setup.store.read() as s:
                    return s.scalar(select(func.count()).select_from(WorkerRow)) == n_workers

            wait_until(registered, 60)
            idle_cpu = [cpu_seconds(proc.pid) for proc in procs]  # imports and start-up, not firing
            # Every timer falls due at D: far enough ahead that seeding finishes and the workers sleep
            # until D (they wake at the next due time), so the burst is measured, not the seeding.
            due = datetime.now(UTC) + timedelta(seconds=n / seed_rate * 1.5 + 3)
            seeder = Engine(url, clock=FakeClock(due - timedelta(minutes=1)), migrate=False)
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: seeder.start_instance("minute_wait", {"ref": f"B-{i}"}, "bench"), range(n)))
            early = datetime.now(UTC) > due

            def drained() -> bool:
                with setup.store.read() as s:
                    return not s.scalar(select(func.count()).select_from(TimerRow).where(TimerRow.status == "pending"))

            wait_until(drained, 300)
            with setup.store.read() as s:
                rows = s.execute(select(TimerRow.due_at, TimerRow.fired_at)).all()
            cpu = [None if a is None or b is None else b - a
                   for a, b in zip(idle_cpu, (cpu_seconds(proc.pid) for proc in procs), strict=True)]
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=30)
            setup.close()
    if early:
        print(f"  (warning: seeding ran past the due time; {n_workers}-worker figures include seeding load)")
    fired_at = [(due_at, fired) for due_at, fired in rows if fired is not None]
    lateness = sorted((fired - due_at).total_seconds() for due_at, fired in fired_at)
    span = max(fired for _, fired in fired_at) - due
    cpu_ms = None if None in cpu else sum(c for c in cpu if c is not None) / n * 1000
    return Result(n_workers, n, n / span.total_seconds(), statistics.median(lateness),
                  lateness[min(len(lateness) - 1, int(len(lateness) * 0.99))], cpu_ms)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_seed_rate(base: str) -> float:
    """Starts per second on this machine (the run's lead time depends on it)."""
    with fresh_schema(base) as url:
        eng = Engine(url, clock=FakeClock(datetime.now(UTC)))
        eng.load_org(ORG)
        eng.deploy(PACKAGE)
        began = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: eng.start_instance("minute_wait", {"ref": f"S-{i}"}, "bench"), range(80)))
        rate = 80 / (time.perf_counter() - began)
        eng.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=400, help="timers per run (default 400)")
    parser.add_argument("--url", default=settings.get("FLOWDESK_TEST_PG_URL"), help="PostgreSQL base URL")
    args = parser.parse_args()
    seed_rate = measure_seed_rate(args.url)
    print(f"{args.n} one-minute timers falling due at once; workers are `flowdesk worker` processes on PostgreSQL")
    print(f"  ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the runs)")
    results = []
    for k in (1, 3):
        r = run(args.url, k, args.n, seed_rate)
        results.append(r)
        cpu = f"   worker CPU {r.cpu_ms:5.1f} ms/timer" if r.cpu_ms is not None else ""
        print(f"  {k} worker{'s' if k > 1 else ' '}: {r.per_second:7.1f} timers/s   "
              f"lateness p50 {r.p50:6.2f}s  p99 {r.p99:6.2f}s{cpu}")
    one, three = results
    print(f"  ratio 3/1: throughput x{three.per_second / one.per_second:.2f}, "
          f"p50 lateness x{three.p50 / one.p50:.2f}, p99 lateness x{three.p99 / one.p99:.2f}")
    print(f"  (load average {os.getloadavg()[0]:.1f} after; other work on the machine moves these figures)")


if __name__ == "__main__":
    main()
