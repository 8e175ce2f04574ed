"""The `flowdesk audit verify`, `flowdesk replay` and `flowdesk export` commands."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import audit
from ..audit import (
    export_records,
    read_jsonl,
    select_instances,
    to_csv,
    to_jsonl,
)
from ..errors import NotFound

if TYPE_CHECKING:
    from .. import Engine
from .files import replay_history, verify_history
from .result import ReplayResult
from .stored import replay

# --- the commands -------------------------------------------------------------------------------


def _engine() -> Engine:
    from .. import Engine

    return Engine()


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..cli import console

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


@click.group("audit")
def audit_group() -> None:
    """Check the audit log: hash chains and stored states."""


@audit_group.command("verify")
@click.argument("instance", required=False)
@click.option("--all", "all_", is_flag=True, help="Verify every instance.")
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False),
              help="Verify an exported JSON Lines history instead of the database.")
def verify_command(instance: str | None, all_: bool, file_: str | None) -> None:
    """Recompute hash chains; report every edited, deleted, inserted or reordered event (exit 1 on any)."""
    from ..cli import friendly

    friendly(_verify)(instance, all_, file_)


def _verify(instance: str | None, all_: bool, file_: str | None) -> None:
    if sum(bool(x) for x in (instance, all_, file_)) != 1:
        raise click.UsageError("give one INSTANCE, --all or --file")
    if file_:
        with open(file_, encoding="utf-8") as fh:
            reports = verify_history(read_jsonl(fh))
    else:
        from ..store import InstanceRow

        eng = _engine()
        with eng.store.read() as s:
            ids = audit.instance_ids(s) if all_ else [str(instance)]
        reports = []
        with _progress() as progress:
            task = progress.add_task("verifying", total=len(ids))
            for instance_id in ids:
                with audit.snapshot(eng.store) as s:
                    if not all_ and s.get(InstanceRow, instance_id) is None and not audit.count(s, instance_id):
                        raise NotFound(f"no case {instance_id}")
                    reports.append(audit.verify_instance(s, instance_id))
                progress.advance(task)
    bad = [r for r in reports if not r.ok]
    for report in bad:
        for problem in report.problems:
            click.echo(str(problem))
    events = sum(r.events for r in reports)
    click.echo(f"{len(reports)} instance(s), {events} event(s) checked: "
               + ("chains intact" if not bad else f"{len(bad)} with problems, "
                  f"{sum(len(r.problems) for r in bad)} problem(s)"))
    if bad:
        sys.exit(1)


@click.command("replay")
@click.argument("instance", required=False)
@click.option("--all", "all_", is_flag=True, help="Replay every instance.")
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False),
              help="Replay an exported JSON Lines history (works on an empty database).")
@click.option("--verbose", "-v", is_flag=True, help="Print a line for every instance, verified or not.")
def replay_command(instance: str | None, all_: bool, file_: str | None, verbose: bool) -> None:
    """Rebuild instances from their definition version and events alone; prove every state hash."""
    from ..cli import friendly

    friendly(_replay)(instance, all_, file_, verbose)


def _replay(instance: str | None, all_: bool, file_: str | None, verbose: bool) -> None:
    if sum(bool(x) for x in (instance, all_, file_)) != 1:
        raise click.UsageError("give one INSTANCE, --all or --file")
    results: list[ReplayResult] = []
    if file_:
        with open(file_, encoding="utf-8") as fh:
            records = read_jsonl(fh)
        eng = _engine() if not any(r.get("record") == "definition" for r in records) else None
        results = replay_history(eng, records)
    else:
        eng = _engine()
        with eng.store.read() as s:
            ids = audit.instance_ids(s) if all_ else [str(instance)]
        with _progress() as progress:
            task = progress.add_task("replaying", total=len(ids))
            for instance_id in ids:
                results.append(replay(eng, instance_id))
                progress.advance(task)
    for r in results:
        if verbose or not r.verified:
            click.echo(f"{r.instance_id}: {r.outcome}: {r.message}")
    counts = {k: sum(r.outcome == k for r in results) for k in ("verified", "diverged", "failed")}
    click.echo(f"{len(results)} instance(s): {counts['verified']} verified, {counts['diverged']} diverged, "
               f"{counts['failed']} failed")
    if counts["verified"] != len(results):
        sys.exit(1)


@click.command("export")
@click.option("--instance", "instances", multiple=True, help="An instance to export (repeatable).")
@click.option("--process", help="Export the instances of this process.")
@click.option("--since", type=click.DateTime(), help="With --process: instances started at or after (UTC).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def export_command(instances: tuple[str, ...], process: str | None, since: datetime | None, fmt: str,
                   output: str | None) -> None:
    """Export histories: JSON Lines that `flowdesk replay --file` accepts back, or CSV for spreadsheets."""
    from ..cli import friendly

    friendly(_export)(instances, process, since, fmt, output)


def _export(instances: tuple[str, ...], process: str | None, since: datetime | None, fmt: str,
            output: str | None) -> None:
    if bool(instances) == bool(process):
        raise click.UsageError("give --instance ID (repeatable) or --process P [--since DATE]")
    eng = _engine()
    ids = list(instances) or select_instances(eng, process, since.replace(tzinfo=UTC) if since else None)
    records = export_records(eng, ids)
    chunks = to_jsonl(records) if fmt == "jsonl" else to_csv(records)
    if output:
        with Path(output).open("w", encoding="utf-8", newline="") as fh:
            fh.writelines(chunks)
        click.echo(f"exported {len(ids)} instance(s) to {output}", err=True)
    else:
        sys.stdout.writelines(chunks)
