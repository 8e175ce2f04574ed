"""What every command shares: the store and clock, cached compiled definitions, evaluation, the audit record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .. import audit, forms, org, runtime, settings
from ..calendar import BusinessCalendar, parse_iso_duration
from ..clock import Clock, SystemClock
from ..definitions import Package, check_files
from ..errors import (
    Conflict,
    EngineError,
    NotFound,
    ProcessFailed,
)
from ..expressions import ExpressionError, Sandbox
from ..model import Definition
from ..store import (
    DefinitionRow,
    InstanceRow,
    Store,
    TaskRow,
)

SYSTEM = "system"


@dataclass
class Loaded:
    """A definition version as the runtime needs it, cached by definition id (versions are immutable)."""

    row_id: int
    version: int
    package: Package
    compiled: runtime.CompiledProcess


@lru_cache(maxsize=64)
def _compiled(definition_id: int, content_hash: str, files_key: tuple[tuple[str, str], ...]) -> Loaded:
    files = dict(files_key)
    package = check_files(files)
    return Loaded(definition_id, 0, package, package.compile())


def expression_helpers(now: datetime, cal: BusinessCalendar | None) -> dict[str, Callable[..., Any]]:
    """The functions process expressions may call; time comes only from the command's pinned now."""
    zone = cal.zone if cal else UTC

    def add_duration(start: str, duration: str) -> str:
        try:
            base = datetime.fromisoformat(start)
            delta = parse_iso_duration(duration)
        except (TypeError, ValueError) as err:
            raise ExpressionError(f"add_duration: {err}") from err
        if base.tzinfo is None:
            base = base.replace(tzinfo=zone)
        try:
            return (base + delta).astimezone(UTC).isoformat()
        except OverflowError as err:
            raise ExpressionError(f"add_duration: {start!r} + {duration!r} is beyond the last date") from err

    return {
        "now": lambda: now.isoformat(),
        "today": lambda: now.astimezone(zone).date().isoformat(),
        "add_duration": add_duration,
    }


def _not_ready(task: TaskRow) -> EngineError:
    from ..errors import TaskNotReady

    return TaskNotReady(f"task {task.id} ({task.name}) is {task.status}, not ready")


def _held(task: TaskRow) -> EngineError:
    from ..errors import TaskHeldByOther

    return TaskHeldByOther(f"task {task.id} ({task.name}) is held by {task.assignee}")


def to_definition(row: DefinitionRow, start_form: dict[str, Any] | None) -> Definition:
    return Definition(row.id, row.process_id, row.version, row.name, row.content_hash, row.deployed_at,
                      row.deployed_by, start_form, dict(row.manifest.get("fields") or {}),
                      tuple(row.manifest.get("starters") or ()))


class CommandCore:
    """The base of the command mixins: loading definitions, evaluating manifest expressions, recording events."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self._sandbox = Sandbox({})

    # --- definitions -------------------------------------------------------------------------

    def _loaded(self, row: DefinitionRow) -> Loaded:
        loaded = _compiled(row.id, row.content_hash, tuple(sorted(row.files.items())))
        loaded.version = row.version
        return loaded

    def _latest_definition(self, s: Session, process_id: str) -> DefinitionRow:
        row = s.scalar(select(DefinitionRow).where(DefinitionRow.process_id == process_id)
                       .order_by(DefinitionRow.version.desc()).limit(1))
        if row is None:
            raise NotFound(f"no process {process_id!r} is deployed")
        return row

    # --- the command skeleton ----------------------------------------------------------------

    def _helpers(self, now: datetime, cal: BusinessCalendar | None) -> dict[str, Callable[..., Any]]:
        return expression_helpers(now, cal)

    def _default_calendar(self, s: Session) -> BusinessCalendar | None:
        cals = org.calendars(s)
        return cals.get(settings.get("FLOWDESK_DEFAULT_CALENDAR")) or next(iter(cals.values()), None)

    def _run_of(self, s: Session, instance_id: str) -> runtime.Run:
        """The instance's workflow restored read-only (for views; never written back)."""
        row = s.get(InstanceRow, instance_id)
        if row is None:
            raise NotFound(f"no case {instance_id}")
        definition = s.get(DefinitionRow, row.definition_id)
        assert definition is not None
        return runtime.restore(self._loaded(definition).compiled, row.state)

    def _eval(self, source: str, data: Mapping[str, Any], element: str) -> Any:
        source = source[1:] if source.startswith("=") else source
        if forms.is_path(source):
            return forms.resolve_path(data, source)
        try:
            return self._sandbox.evaluate(source, data, element=element)
        except ExpressionError as err:
            raise ProcessFailed(str(err), element) from err

    # --- starting ---------------------------------------------------------------------------

    def _apply_lookups(self, s: Session, manifest: Mapping[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        from ..errors import FormInvalid

        out = dict(data)
        errors: dict[str, list[str]] = {}
        for into, cfg in (manifest.get("lookups") or {}).items():
            key = forms.resolve_path(out, cfg["key"])
            if key in (None, ""):
                continue
            record = org.lookup(s, cfg["store"], str(key))
            if record is None:
                if cfg.get("required", True):
                    errors.setdefault(cfg["key"], []).append(f"no {cfg['store']} record {key!r}")
                continue
            out[into] = record
        if errors:
            raise FormInvalid(errors)
        return out

    def _record(self, s: Session, row: InstanceRow, type_: str, actor: str, now: datetime,
                payload: dict[str, Any]) -> None:
        audit.append(s, row.id, audit.NewEvent(type_, actor, now, payload), runtime.state_hash(row.state))

    @staticmethod
    def _flush(s: Session) -> None:
        try:
            s.flush()
        except StaleDataError as err:
            raise Conflict("the case was changed by someone else at the same time; nothing was saved") from err
