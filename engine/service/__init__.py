"""The Engine service: every command is one transaction that restores, applies, and writes back.

- `core`: what every command shares (store, clock, compiled definitions, evaluation, the audit record)
- `settle`: the command skeleton: restore the workflow, then settle state, fields, tasks, timers, messages
- `deploy`: deploying definition versions
- `instances`: starting and terminating instances
- `tasks`: claim, unclaim, assign and complete user tasks
- `events`: firing timers, delivering and sending messages
"""

from __future__ import annotations

from .core import SYSTEM, CommandCore, Loaded, _compiled, _held, _not_ready, expression_helpers, to_definition
from .deploy import DeployCommands
from .events import EventCommands
from .instances import InstanceCommands
from .settle import Settling, apply_calendars
from .tasks import TaskCommands

__all__ = [
    "SYSTEM", "CommandCore", "Commands", "DeployCommands", "EventCommands", "InstanceCommands", "Loaded",
    "Settling", "TaskCommands", "_compiled", "_held", "_not_ready", "apply_calendars", "expression_helpers",
    "to_definition",
]


class Commands(DeployCommands, TaskCommands, EventCommands):
    """The write side. Engine (engine/__init__) adds the read side and the public signatures."""
