"""Replay: rebuild an instance from its definition version and its events alone, and prove its state.

Every event records the inputs of one command. `apply_command` feeds those inputs to a restored
workflow exactly as the service does (same pinned clock, task-id seed and counter, expression helpers
and business-calendar rule), so the state after each event must hash to what the event recorded.
Replay never reads the instance's stored state: only the definition files, the calendars and the log.

- `core`: applying one recorded command; walking a log
- `result`: replaying a log and comparing every state hash
- `timeline`: the data each event entered and changed; the case as of an event
- `stored`: instances in the database; `files`: exported histories
- `commands`: the Click commands (`audit verify`, `replay`, `export`)
"""

from __future__ import annotations

from ..audit import export_records, read_jsonl, select_instances, to_csv, to_jsonl
from ..model import Event
from .commands import audit_group, export_command, replay_command, verify_command
from .core import (
    PROJECTION_ONLY,
    Inapplicable,
    ReadyTaskView,
    ReplayInputError,
    Snapshot,
    Step,
    Stop,
    Version,
    World,
    apply_command,
    apply_to_run,
    compile_version,
    start_run,
    walk,
    world_from_config,
)
from .files import replay_history, split_history, verify_history
from .result import ReplayResult, replay_events, state_diff
from .stored import Stored, load, replay
from .timeline import Change, TimelineEntry, data_changes, flatten, state_at, timeline, variable_history

__all__ = [
    "PROJECTION_ONLY", "Change", "Event", "Inapplicable", "ReadyTaskView", "ReplayInputError", "ReplayResult",
    "Snapshot", "Step", "Stop", "Stored", "TimelineEntry", "Version", "World", "apply_command", "apply_to_run",
    "audit_group", "compile_version", "data_changes", "export_command", "export_records", "flatten", "load",
    "read_jsonl", "replay", "replay_command", "replay_events", "replay_history", "select_instances",
    "split_history", "start_run", "state_at", "state_diff", "timeline", "to_csv", "to_jsonl", "variable_history",
    "verify_command", "verify_history", "walk", "world_from_config",
]
