"""The authorization matrix: each role × each action × a task of the desk or of the heads → allowed or not.

alice and bob: staff of desk; hana: staff of heads; sam: supervisor, member of desk (and supervisors);
audrey: auditor (reads everything, changes nothing); root: admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import Engine

from .conftest import open_task, start_simple

HEADS_NOTE = Path(__file__).parent / "packages" / "heads_note"
ROLES = ("alice", "hana", "sam", "audrey", "root")
ACTIONS = ("read_task", "read_case", "claim", "complete", "unclaim", "assign", "start")

Y, N = True, False
ALLOWED: dict[tuple[str, str], tuple[bool, ...]] = {
    # side, action:        alice hana sam audrey root
    ("desk", "read_task"): (Y, N, Y, Y, Y),
    ("desk", "read_case"): (Y, N, Y, Y, Y),
    ("desk", "claim"): (Y, N, Y, N, Y),
    ("desk", "complete"): (Y, N, Y, N, Y),
    ("desk", "unclaim"): (N, N, Y, N, Y),  # the task is held by bob
    ("desk", "assign"): (N, N, Y, N, Y),  # to bob
    ("desk", "start"): (Y, N, Y, N, Y),
    ("heads", "read_task"): (N, Y, N, Y, Y),
    ("heads", "read_case"): (N, Y, N, Y, Y),
    ("heads", "claim"): (N, Y, N, N, Y),
    ("heads", "complete"): (N, Y, N, N, Y),
    ("heads", "unclaim"): (N, Y, N, N, Y),  # the task is held by hana
    ("heads", "assign"): (N, N, N, N, Y),  # to hana; nobody supervises the heads
    ("heads", "start"): (N, Y, N, N, Y),
}

CASES = [(side, action, role, ALLOWED[(side, action)][i])
         for (side, action) in ALLOWED for i, role in enumerate(ROLES)]


def refused_with(side: str, action: str, role: str) -> int:
    """404 where the role may not even see the task or case (the answer for one that does not exist), 403
    where it sees it but may not act on it. Processes are public, so refusing a start is always 403."""
    if action == "start":
        return 403
    return 403 if ALLOWED[(side, "read_task")][ROLES.index(role)] else 404


def case_id(value: Any) -> str:
    return "allowed" if value is True else "refused" if value is False else str(value)


@dataclass
class Scene:
    """A case and one open task of the side, prepared for the action."""

    process_id: str
    instance_id: str
    task_id: str
    data: dict[str, Any]
    start_data: dict[str, Any]
    assignee: str


def prepare(engine: Engine, side: str, action: str) -> Scene:
    if side == "desk":
        instance_id = start_simple(engine)
        task = open_task(engine, instance_id, "review")
        scene = Scene("simple", instance_id, task.id, {"ok": True}, {"subject": "Leak", "ref": "R-5",
                                                                     "customer_id": "C1"}, "bob")
    else:
        engine.deploy(HEADS_NOTE)
        instance_id = engine.start("heads_note", {"topic": "Budget"}, "hana").id
        task = open_task(engine, instance_id, "note")
        scene = Scene("heads_note", instance_id, task.id, {"note": "done"}, {"topic": "Plans"}, "hana")
    if action == "unclaim":
        engine.claim(task.id, scene.assignee)
    return scene


def took_effect(engine: Engine, scene: Scene, action: str, role: str) -> bool:
    """Whether the action changed anything (it must not when refused)."""
    task = engine.task(scene.task_id)
    if action == "claim":
        return task.assignee == role
    if action == "complete":
        return task.status == "completed"
    if action == "unclaim":
        return task.assignee is None
    if action == "assign":
        return task.assignee == scene.assignee
    if action == "start":
        return len(engine.instances(process_id=scene.process_id)) == 2
    return False
