"""Golden histories recorded from real runs of the shipped processes still replay, state hash by state hash.

They live in tests/histories/*.jsonl (regenerate with `python -m tests.histories.record`). Each carries the
definition files it ran under, so it replays on an empty database, whatever processes/ holds today.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine import replay as rp

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
GOLDEN = sorted(HISTORIES.glob("*.jsonl"))


def records(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return rp.read_jsonl(fh)


def test_there_are_golden_histories_of_the_three_processes() -> None:
    processes = {r["process_id"] for path in GOLDEN for r in records(path) if r["record"] == "instance"}
    assert {"complaint", "repair", "return_visit"} <= processes


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_a_golden_history_replays_exactly(path: Path) -> None:
    history = records(path)
    results = rp.replay_history(None, history)
    assert results, f"{path.name} holds no cases"
    for result in results:
        assert result.verified, f"{path.name} {result.instance_id}: {result.message}"
    for report in rp.verify_history(history):
        assert report.ok, [str(p) for p in report.problems]


def test_a_case_recorded_under_an_older_version_replays_against_that_version() -> None:
    history = records(HISTORIES / "complaint_versions.jsonl")
    world, definitions, cases = rp.split_history(history)
    versions = {d["version"]: d for d in definitions.values()}
    assert set(versions) == {1, 2}
    old = next(c for c in cases if c.header["definition_version"] == 1)
    results = {r.instance_id: r for r in rp.replay_history(None, history)}
    assert results[old.header["instance_id"]].verified

    # Its events against the newer version's files do not give the recorded states: the version matters.
    newer = versions[2]
    v2 = rp.compile_version("complaint", 2, newer["content_hash"], newer["files"])
    assert world is not None
    wrong = rp.replay_events(v2, world, old.header["instance_id"], old.events,
                             stored_hash=old.header["state_hash"])
    assert not wrong.verified and wrong.diverged_at is not None


def test_the_command_line_replays_a_golden_history_on_an_empty_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(rp.replay_command, ["--file", str(HISTORIES / "repair.jsonl")])
    assert result.exit_code == 0, result.output
    assert "0 diverged, 0 failed" in result.output
