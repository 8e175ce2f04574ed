"""The outcome of replaying one log: every event's state hash compared, and where states differ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import runtime
from ..model import Event
from .core import Step, Stop, Version, World, walk

# --- the result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of replaying one instance.

    `verified`: every event's recorded state hash (and the stored state) was reproduced.
    `diverged_at`: the first event whose replayed state differs from the record (or cannot be applied).
    `failure`: the process itself failed while replaying — a different thing from a divergence.
    """

    instance_id: str
    verified: bool
    events_checked: int
    diverged_at: int | None
    expected_hash: str | None
    actual_hash: str | None
    expected_state: dict[str, Any] | None
    actual_state: dict[str, Any] | None
    failure: str | None
    message: str

    @property
    def outcome(self) -> str:
        """verified | diverged | failed"""
        if self.verified:
            return "verified"
        return "failed" if self.failure is not None else "diverged"

    def differences(self, limit: int = 20) -> list[str]:
        """Paths where the expected and replayed states differ (when both are known)."""
        if self.expected_state is None or self.actual_state is None:
            return []
        return state_diff(self.expected_state, self.actual_state, limit)


def replay_events(version: Version, world: World, instance_id: str, events: Sequence[Event],
                  stored_state: Mapping[str, Any] | None = None, stored_hash: str | None = None) -> ReplayResult:
    """Replay a log and compare every event's state hash, then the stored state's hash (when known)."""
    if stored_state is not None and stored_hash is None:
        stored_hash = runtime.state_hash(stored_state)

    def expected_state_for(expected: str) -> dict[str, Any] | None:
        return dict(stored_state) if stored_state is not None and stored_hash == expected else None

    checked = 0
    last: Step | None = None
    try:
        for step in walk(version, world, instance_id, events):
            checked += 1
            last = step
            if step.state_hash != step.event.state_hash:
                result = ReplayResult(
                    instance_id, False, checked, step.event.seq, step.event.state_hash, step.state_hash,
                    expected_state_for(step.event.state_hash), step.state, None,
                    f"diverged at event #{step.event.seq} ({step.event.type} by {step.event.actor} at "
                    f"{step.event.at.isoformat()}): replaying it gives state {step.state_hash[:12]}…, the log "
                    f"recorded {step.event.state_hash[:12]}…")
                return _with_diff(result)
    except Stop as stop:
        ev = stop.event
        return ReplayResult(
            instance_id, False, checked + 1, ev.seq, ev.state_hash, None, expected_state_for(ev.state_hash),
            last.state if last else None, str(stop) if stop.failed else None,
            f"{'failed' if stop.failed else 'diverged'} at event #{ev.seq} ({ev.type} by {ev.actor}): {stop}")
    if last is None:
        return ReplayResult(instance_id, False, 0, None, stored_hash, None, None, None, None,
                            "nothing to replay: the instance has no events")
    if stored_hash is not None and stored_hash != last.state_hash:
        result = ReplayResult(
            instance_id, False, checked, last.event.seq, stored_hash, last.state_hash,
            dict(stored_state) if stored_state is not None else None, last.state, None,
            f"the stored state ({stored_hash[:12]}…) is not what the log produces ({last.state_hash[:12]}… "
            f"after its last event #{last.event.seq}): the stored state was edited")
        return _with_diff(result)
    return ReplayResult(instance_id, True, checked, None, last.event.state_hash, last.state_hash,
                        dict(stored_state) if stored_state is not None else None, last.state, None,
                        f"verified: {checked} events replayed, every state hash matches")


def _with_diff(result: ReplayResult) -> ReplayResult:
    diffs = result.differences(5)
    if not diffs:
        return result
    return ReplayResult(**{**result.__dict__, "message": result.message + "; differs at " + ", ".join(diffs)})


def state_diff(a: Any, b: Any, limit: int = 20, path: str = "") -> list[str]:
    """Dotted paths where two JSON values differ, at most `limit`."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if len(out) >= limit:
                break
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(sub)
            elif a[key] != b[key]:
                out.extend(state_diff(a[key], b[key], limit - len(out), sub))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if len(out) >= limit:
                break
            if x != y:
                out.extend(state_diff(x, y, limit - len(out), f"{path}[{i}]"))
        return out
    return [path or "(root)"] if a != b else []
