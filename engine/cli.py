"""The `flowdesk` command. Errors are one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from . import settings

F = TypeVar("F", bound=Callable[..., Any])
console = Console()


def _engine() -> Any:
    from . import Engine

    return Engine()


def friendly(fn: F) -> F:
    """Turn engine and input errors into one line on stderr and exit code 1 (2 for bad usage)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError

        from .errors import EngineError, PackageInvalid

        try:
            return fn(*args, **kwargs)
        except PackageInvalid as err:
            click.echo(f"error: {len(err.problems)} problem(s):", err=True)
            for p in err.problems:
                click.echo(f"  {p}", err=True)
            sys.exit(1)
        except EngineError as err:
            click.echo(f"error: {err.message}", err=True)
            sys.exit(1)
        except OperationalError as err:
            click.echo(f"error: database unavailable: {str(err.orig).splitlines()[0]}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _json_arg(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise click.BadParameter(f"not valid JSON: {err.msg} (column {err.colno})") from err
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object")
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


@click.group(epilog="Settings (environment variables):\n\n" + settings.describe().replace("\n", "\n\n"))
@click.version_option("0.1.0", prog_name="flowdesk")
def main() -> None:
    """FlowDesk: customer-service processes as files — BPMN, YAML, forms and decision tables."""


@main.command("init-db")
@friendly
def init_db() -> None:
    """Create or upgrade the database schema."""
    eng = _engine()
    click.echo(f"database ready: {eng.store.url}")


@main.command("load-org")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@friendly
def load_org(path: str) -> None:
    """Seed groups, users, calendars and reference data from an org.yaml."""
    counts = _engine().load_org(path)
    click.echo(f"org loaded: {counts['groups']} groups, {counts['users']} users, {counts['records']} records")


@main.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True))
@friendly
def validate(dirs: tuple[str, ...]) -> None:
    """Validate process packages (folders or .zip archives); lists every problem with file, element and line."""
    eng = _engine()
    bad = 0
    for d in _package_dirs(dirs):
        problems = eng.validate(d)
        if problems:
            bad += 1
            click.echo(f"{d}: {len(problems)} problem(s)")
            for p in problems:
                click.echo(f"  {p}")
        else:
            click.echo(f"{d}: ok")
    if bad:
        sys.exit(1)


def _package_dirs(dirs: tuple[str, ...]) -> list[Path]:
    """The given packages (folders or .zip archives); a folder of packages (like processes/) stands for each
    package in it. Anything else is refused rather than passed over in silence."""
    found: list[Path] = []
    for d in map(Path, dirs):
        if (d.is_file() and d.suffix == ".zip") or (d / "process.yaml").exists():
            found.append(d)
        elif d.is_dir() and (inner := sorted(p.parent for p in d.glob("*/process.yaml"))):
            found.extend(inner)
        else:
            raise click.ClickException(f"{d} is not a process package (a folder with process.yaml, or a .zip), "
                                       "nor a folder of packages")
    return found


@main.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--as", "actor", default="system", help="Who deploys (recorded on the version).")
@friendly
def deploy(dirs: tuple[str, ...], actor: str) -> None:
    """Deploy process packages, folders or .zip archives (an org.yaml beside them is loaded first).
    Unchanged files are a no-op."""
    eng = _engine()
    roots = {Path(d) if Path(d).is_dir() else Path(d).parent for d in dirs}
    for root in sorted(roots):
        for candidate in (root / "org.yaml", root.parent / "org.yaml"):
            if candidate.exists():
                eng.load_org(candidate)
                break
    for d in _package_dirs(dirs):
        result = eng.deploy(d, actor=actor)
        state = "deployed" if result.created else "unchanged"
        click.echo(f"{result.process_id}: version {result.version} {state}")


@main.command()
@click.argument("process")
@click.option("--data", help="Start data as JSON (or @file.json).")
@click.option("--as", "actor", default="system", help="Who starts the case.")
@friendly
def start(process: str, data: str | None, actor: str) -> None:
    """Start a case of PROCESS."""
    inst = _engine().start(process, _json_arg(data), actor)
    click.echo(f"started {inst.id} ({inst.process_id} v{inst.definition_version}) {inst.title}")


@main.command()
@click.option("--group")
@click.option("--assignee")
@click.option("--process")
@click.option("--instance")
@click.option("--status", default="ready", show_default=True)
@click.option("--due-before", type=click.DateTime())
@click.option("--field", "fields", multiple=True, help="name=value of an indexed business field.")
@click.option("--json", "as_json", is_flag=True)
@friendly
def tasks(group: str | None, assignee: str | None, process: str | None, instance: str | None, status: str,
          due_before: datetime | None, fields: tuple[str, ...], as_json: bool) -> None:
    """List tasks."""
    from datetime import UTC

    filters: dict[str, Any] = {"group": group, "assignee": assignee, "process_id": process,
                               "instance_id": instance, "status": status or None}
    if due_before:
        filters["due_before"] = due_before.replace(tzinfo=UTC)
    if fields:
        filters["fields"] = dict(f.split("=", 1) for f in fields if "=" in f)
    found = _engine().tasks(**filters)
    if as_json:
        click.echo(json.dumps([{"id": t.id, "name": t.name, "group": t.group, "assignee": t.assignee,
                                "due_at": _fmt(t.due_at), "instance_id": t.instance_id} for t in found], indent=2))
        return
    table = Table("task", "name", "group", "assignee", "due", "case")
    for t in found:
        table.add_row(t.id, t.name, t.group or "", t.assignee or "", _fmt(t.due_at), t.title or t.instance_id)
    console.print(table)


@main.command()
@click.argument("task")
@click.option("--as", "actor", required=True)
@friendly
def claim(task: str, actor: str) -> None:
    """Claim TASK for yourself."""
    t = _engine().claim(task, actor)
    click.echo(f"{t.name} claimed by {t.assignee}")


@main.command()
@click.argument("task")
@click.option("--as", "actor", required=True)
@friendly
def unclaim(task: str, actor: str) -> None:
    """Give TASK back to its group."""
    t = _engine().unclaim(task, actor)
    click.echo(f"{t.name} returned to {t.group}")


@main.command()
@click.argument("task")
@click.option("--data", help="Form data as JSON (or @file.json).")
@click.option("--as", "actor", required=True)
@friendly
def complete(task: str, data: str | None, actor: str) -> None:
    """Complete TASK with its form data."""
    inst = _engine().complete(task, _json_arg(data), actor)
    click.echo(f"completed; case {inst.id} is {inst.status}")
    for t in _engine().tasks(instance_id=inst.id):
        click.echo(f"  next: {t.id} {t.name} ({t.group}{', ' + t.assignee if t.assignee else ''})")


@main.command()
@click.argument("instance")
@friendly
def show(instance: str) -> None:
    """Show a case: status, data, open tasks, timers and history."""
    eng = _engine()
    inst = eng.instance(instance)
    console.print(f"[bold]{inst.title or inst.id}[/bold]  {inst.process_id} v{inst.definition_version}  "
                  f"status={inst.status}")
    console.print_json(json.dumps(inst.data, default=str))
    table = Table("open task", "group", "assignee", "due")
    for t in eng.tasks(instance_id=inst.id):
        table.add_row(t.name, t.group or "", t.assignee or "", _fmt(t.due_at))
    console.print(table)
    history = Table("#", "at", "actor", "event")
    for e in eng.history(inst.id):
        history.add_row(str(e.seq), _fmt(e.at), e.actor, e.type)
    console.print(history)


@main.command()
@click.argument("instance")
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True)
@friendly
def terminate(instance: str, reason: str, actor: str) -> None:
    """Terminate a running case."""
    inst = _engine().terminate(instance, reason, actor)
    click.echo(f"{inst.id} {inst.status}")


@main.group()
def customers() -> None:
    """The customer directory (a reference-data store)."""


@customers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--org", "org_path", default=lambda: str(Path(settings.get("FLOWDESK_PROCESSES")) / "org.yaml"),
              show_default="processes/org.yaml")
@click.option("--store", default="customers", show_default=True)
@friendly
def customers_import(file: str, org_path: str, store: str) -> None:
    """Import customers from a CSV file (all rows are checked before any is written)."""
    n = _engine().import_reference(store, Path(file).read_text(encoding="utf-8"), org_path)
    click.echo(f"imported {n} {store} records")


@main.group()
def token() -> None:
    """API bearer tokens."""


@token.command("create")
@click.argument("user")
@friendly
def token_create(user: str) -> None:
    """Create a bearer token for USER (printed once)."""
    click.echo(_engine().create_token(user))


def _load_plugins() -> None:
    """Commands other packages contribute (the web layer adds `serve`) without engine importing them."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="flowdesk.commands"):
        if ep.name in main.commands:
            continue
        try:
            main.add_command(ep.load(), ep.name)
        except (ImportError, AttributeError) as err:
            click.echo(f"warning: command {ep.name!r} unavailable: {err}", err=True)


_load_plugins()


if __name__ == "__main__":  # pragma: no cover
    main()
