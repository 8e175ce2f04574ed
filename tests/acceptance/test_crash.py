"""Crash test: `flowdesk serve` and `flowdesk worker` are SIGKILLed at random moments while API clients
complete tasks and timers fall due. Afterwards every acknowledged completion is stored, every timer fired
exactly once, and `flowdesk audit verify --all` and `flowdesk replay --all` pass. Bounded (~30 s of kills
per database; the counts go to var/crash-test.jsonl)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest

from engine import Engine, FakeClock
from tests.conftest import FIXTURES, ROOT
from tests.integration.test_workers import firings, pending_timers, wait_for

FLOWDESK = ROOT / ".venv" / "bin" / "flowdesk"
CASES = 40
KILL_SECONDS = 25.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """The server and the worker, restartable, each logging to its own file."""

    def __init__(self, url: str, port: int, workdir: Path) -> None:
        self.env = {**os.environ, "FLOWDESK_DATABASE_URL": url, "FLOWDESK_POLL_SECONDS": "0.2",
                    "FLOWDESK_LEASE_SECONDS": "2", "FLOWDESK_SECRET_KEY": "crash-test"}
        self.port, self.workdir = port, workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[IO[bytes]] = []
        self.kills: Counter[str] = Counter()

    def start(self, name: str) -> None:
        args = ["serve", "--no-worker", "--port", str(self.port)] if name == "server" else ["worker"]
        self.logs.append((self.workdir / f"{name}-{len(self.logs)}.log").open("wb"))
        self.procs[name] = subprocess.Popen([str(FLOWDESK), *args], env=self.env, cwd=self.workdir,
                                            stdout=self.logs[-1], stderr=subprocess.STDOUT)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.kills[name] += 1

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for log in self.logs:
            log.close()


def call(base: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, None


def client(base: str, token: str, stop: threading.Event, acknowledged: list[str], errors: list[str]) -> None:
    """Claim and complete ready follow-up tasks; a completion answered 200 is acknowledged."""
    while not stop.is_set():
        try:
            status, page = call(base, "GET", "/api/v1/tasks?limit=20", token)
            ready = [t["id"] for t in (page or {}).get("items", [])] if status == 200 else []
            for task_id in random.sample(ready, len(ready)):
                status, _ = call(base, "POST", f"/api/v1/tasks/{task_id}/claim", token)
                if status != 200:
                    continue
                status, _ = call(base, "POST", f"/api/v1/tasks/{task_id}/complete", token, {"data": {"note": "ok"}})
                if status == 200:
                    acknowledged.append(task_id)
                elif status >= 500:
                    errors.append(f"complete {task_id}: {status}")
            time.sleep(0.05)
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)  # the server is down: it is being killed and restarted


@pytest.mark.slow
def test_killing_the_server_and_the_worker_at_random_loses_no_acknowledged_work(
        db_url: str, tmp_path: Path) -> None:
    # Cases whose one-minute timers fall due one after another over the next ~20 s of real time.
    now = datetime.now(UTC)
    clock = FakeClock(now - timedelta(minutes=1))
    eng = Engine(db_url, clock=clock)
    eng.load_org(FIXTURES / "org.yaml")
    eng.deploy(FIXTURES / "packages" / "minute_wait")
    for i in range(CASES):
        clock.set(now - timedelta(minutes=1) + timedelta(seconds=i * 20 / CASES))
        eng.start_instance("minute_wait", {"ref": f"K-{i}"}, "system")
    tokens = [eng.create_token(u) for u in ("alice", "bob")]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = Processes(db_url, port, tmp_path)
    stop = threading.Event()
    acknowledged: list[str] = []
    errors: list[str] = []
    rng = random.Random(12)
    try:
        procs.start("server")
        procs.start("worker")
        clients = [threading.Thread(target=client, args=(base, t, stop, acknowledged, errors), daemon=True)
                   for t in tokens]
        for thread in clients:
            thread.start()
        deadline = time.monotonic() + KILL_SECONDS
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.3, 2.5))
            victim = rng.choice(["server", "worker"])
            procs.kill(victim)
            time.sleep(rng.uniform(0.0, 0.5))
            procs.start(victim)
        # Let the survivors finish: every timer fires and every task gets done.
        wait_for(lambda: pending_timers(eng) == 0, "every timer to fire after the kills", timeout=120)
        wait_for(lambda: eng.count_tasks() == 0, "the clients to complete every task", timeout=120)
        stop.set()
        for thread in clients:
            thread.join(timeout=10)
    finally:
        stop.set()
        procs.stop_all()

    kills = sum(procs.kills.values())
    out = ROOT / "var" / "crash-test.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps({"database": db_url.split(":")[0], "kills": dict(procs.kills),
                            "acknowledged": len(acknowledged), "timers": CASES}) + "\n")
    assert kills >= 10 and errors == []
    completed = {t.id for t in eng.tasks(status="completed", limit=10_000)}
    assert set(acknowledged) <= completed, "an acknowledged completion was lost"
    assert len(acknowledged) == len(set(acknowledged)), "a task was acknowledged twice"
    fired = Counter(tid for _, _, ids in firings(eng) for tid in ids)
    assert len(fired) == CASES and set(fired.values()) == {1}, "a timer fired twice or not at all"
    assert all(i.status == "completed" for i in eng.instances(limit=1000))
    eng.close()
    for command in (["audit", "verify", "--all"], ["replay", "--all"]):
        result = subprocess.run([str(FLOWDESK), *command], env={**os.environ, "FLOWDESK_DATABASE_URL": db_url},
                                cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
