"""Auditor pages: search, timelines, as-of views, replay and export (read-only)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context

from engine import Engine, InvalidInput

from . import access
from .security import actor, get_engine
from .views import zone
from .visibility import element_names

bp = Blueprint("audit", __name__, url_prefix="/audit")

PAGE = 50
FORMATS = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def _auditor() -> None:
    access.require(actor().reads_all, "only auditors (and admins) read the audit log")


def _day(text: str | None, *, end: bool = False) -> datetime | None:
    """A date field (YYYY-MM-DD, in the app's time zone) as a UTC instant; `end` means the next midnight."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as err:
        raise InvalidInput(f"{text!r} is not a date (YYYY-MM-DD)") from err
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=zone()).astimezone(UTC)


def _field_names(engine: Engine) -> dict[str, str]:
    names: dict[str, str] = {}
    for definition in engine.processes():
        for name, cfg in definition.fields.items():
            names.setdefault(name, str((cfg or {}).get("label") or name.replace("_", " ").capitalize()))
    return names


def _search_args() -> dict[str, Any]:
    args = request.args
    fields = {name[2:]: value for name, value in args.items() if name.startswith("f.") and value}
    return {"process_id": args.get("process") or None, "business_key": args.get("key") or None,
            "fields": fields, "actor": args.get("actor") or None, "since": _day(args.get("since")),
            "until": _day(args.get("until"), end=True)}


@bp.get("/")
def index() -> Any:
    _auditor()
    engine = get_engine()
    try:
        page = max(int(request.args.get("page", "1")), 1)
    except ValueError:
        page = 1
    search = _search_args()
    found = engine.audit_search(**search, limit=PAGE + 1, offset=(page - 1) * PAGE)
    cases = found[:PAGE]
    chains = {c.id: engine.verify_chain(c.id) for c in cases}
    export_args = {k: v for k, v in request.args.items() if k not in ("page", "format")}
    return render_template("audit/index.html", cases=cases, chains=chains, page=page, has_next=len(found) > PAGE,
                           processes=engine.processes(), fields=_field_names(engine), args=request.args,
                           users=sorted(u.username for u in engine.users()), export_args=export_args,
                           fields_open=any(k.startswith("f.") and v for k, v in request.args.items()))


@bp.get("/verify")
def verify_all() -> Any:
    """Every case's hash chain at once: which cases have edited, missing or moved events."""
    _auditor()
    engine = get_engine()
    reports = engine.verify_all()
    bad = [r for r in reports if not r.ok]
    return render_template("audit/verify.html", reports=reports, bad=bad,
                           events=sum(r.events for r in reports))


def _names(engine: Engine, instance_id: str) -> dict[str, str]:
    try:
        return element_names(engine.diagram(instance_id)["xml"])
    except Exception:  # noqa: BLE001 - names only make the page friendlier
        return {}


def _timeline_page(instance_id: str, result: Any = None) -> Any:
    _auditor()
    engine = get_engine()
    instance = engine.instance(instance_id)
    chain = engine.verify_chain(instance_id)
    entries = engine.timeline(instance_id)
    by_seq: dict[int | None, list[Any]] = {}
    for problem in chain.problems:
        by_seq.setdefault(problem.seq, []).append(problem)
    users = {u.username: u.name for u in engine.users()}
    return render_template("audit/instance.html", instance=instance, chain=chain, entries=entries,
                           problems=by_seq, variables=_variables(entries), result=result,
                           names=_names(engine, instance_id), users=users)


def _variables(entries: list[Any]) -> dict[str, list[tuple[int, Any, str, Any]]]:
    """Every value set or changed, by field, from the timeline already replayed for this page
    (the same as Engine.variable_history, without replaying the case a second time)."""
    found: dict[str, list[tuple[int, Any, str, Any]]] = {}
    for entry in entries:
        for change in entry.changes or ():
            if change.kind != "removed":
                found.setdefault(change.field, []).append((entry.event.seq, entry.event.at, entry.event.actor,
                                                           change.after))
    return dict(sorted(found.items()))


@bp.get("/cases/<instance_id>")
def instance(instance_id: str) -> Any:
    return _timeline_page(instance_id)


@bp.post("/cases/<instance_id>/replay")
def replay(instance_id: str) -> Any:
    _auditor()
    return _timeline_page(instance_id, get_engine().replay(instance_id))


@bp.get("/cases/<instance_id>/events/<int:seq>")
def as_of(instance_id: str, seq: int) -> Any:
    _auditor()
    engine = get_engine()
    instance = engine.instance(instance_id)
    snapshot = engine.state_at(instance_id, seq)
    events = engine.history(instance_id)
    xml = engine.diagram(instance_id)["xml"]
    diagram = {"xml": xml, "completed": list(snapshot.completed_elements),
               "current": sorted({t.element_id for t in snapshot.ready_tasks})}
    seqs = [e.seq for e in events]
    index = seqs.index(seq)
    return render_template("audit/as_of.html", instance=instance, snap=snapshot, diagram=diagram,
                           data=_flat(snapshot.data),
                           names=element_names(xml), event=events[index],
                           prev_seq=seqs[index - 1] if index > 0 else None,
                           next_seq=seqs[index + 1] if index + 1 < len(seqs) else None)


@bp.get("/export")
def export() -> Any:
    """JSON Lines (which `flowdesk replay --file` accepts back) or CSV of one case or of a search."""
    _auditor()
    engine = get_engine()
    fmt = request.args.get("format", "jsonl")
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}: use jsonl or csv")
    ids = request.args.getlist("instance")
    if ids:
        name = ids[0][:8] if len(ids) == 1 else "cases"
    else:
        ids = [c.id for c in engine.audit_search(**_search_args(), limit=100_000)]
        ids.reverse()  # oldest first, like the command line export
        name = request.args.get("process") or "cases"
    chunks: Iterator[str] = engine.export_history(ids, fmt=fmt) if ids else iter(())
    response = Response(stream_with_context(chunks), mimetype=FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="flowdesk-{name}.{fmt}"'
    return response


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested case data as dotted names, which read better in a narrow column than nested lists."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
