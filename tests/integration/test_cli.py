"""The CLI: clear one-line errors and non-zero exits, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from tests.helpers import FIXTURES, copy_package, edit, zip_package


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(main, list(args))
        return result.exit_code, result.stdout, result.stderr

    return run


def test_a_walk_through_from_deploy_to_completion(cli) -> None:
    assert cli("init-db")[0] == 0
    assert cli("load-org", str(FIXTURES / "org.yaml"))[0] == 0
    code, out, _ = cli("deploy", str(FIXTURES / "packages" / "simple"))
    assert code == 0 and "simple: version 1 deployed" in out
    assert "version 1 unchanged" in cli("deploy", str(FIXTURES / "packages" / "simple"))[1]
    code, out, _ = cli("start", "simple", "--as", "alice", "--data",
                       '{"subject": "Broken tap", "ref": "R-9", "customer_id": "C1"}')
    assert code == 0 and out.startswith("started ")
    instance_id = out.split()[1]
    code, out, _ = cli("tasks", "--group", "desk", "--json")
    tasks = json.loads(out)
    assert [t["name"] for t in tasks] == ["Review request"]
    task_id = tasks[0]["id"]
    assert cli("claim", task_id, "--as", "alice")[0] == 0
    code, out, _ = cli("complete", task_id, "--as", "alice", "--data", '{"ok": true}')
    assert code == 0 and "next:" in out and "Approve" in out
    code, out, _ = cli("show", instance_id)
    assert code == 0 and "task_completed" in out


def test_errors_are_one_line_and_a_non_zero_exit(cli, tmp_path: Path) -> None:
    cli("load-org", str(FIXTURES / "org.yaml"))
    cli("deploy", str(FIXTURES / "packages" / "simple"))
    code, _, err = cli("complete", "no-such-task", "--as", "alice", "--data", "{}")
    assert code == 1 and err.strip() == "error: no task no-such-task"
    code, _, err = cli("start", "simple", "--as", "alice", "--data", "{not json")
    assert code == 2 and "not valid JSON" in err and "Traceback" not in err
    code, _, err = cli("start", "simple", "--as", "alice", "--data", '{"subject": "x"}')
    assert code == 1 and "subject" in err and "ref: this field is required" in err
    code, _, err = cli("start", "nope", "--as", "alice")
    assert code == 1 and "no process 'nope'" in err


def test_validate_lists_every_problem_and_fails(cli, tmp_path: Path) -> None:
    pkg = copy_package("simple", tmp_path)
    (pkg / "process.yaml").write_text((pkg / "process.yaml").read_text() + "unknown_key: 1\n")
    code, out, _ = cli("validate", str(pkg))
    assert code == 1
    assert "process.yaml" in out and "unknown_key" in out
    code, out, _ = cli("validate", str(FIXTURES / "packages" / "simple"))
    assert code == 0 and out.strip().endswith("ok")


def test_a_zipped_package_validates_and_deploys_like_its_folder(cli, tmp_path: Path) -> None:
    cli("load-org", str(FIXTURES / "org.yaml"))
    archive = tmp_path / "simple.zip"
    archive.write_bytes(zip_package(FIXTURES / "packages" / "simple", folder="simple"))
    code, out, _ = cli("validate", str(archive))
    assert code == 0 and out.strip() == f"{archive}: ok"
    code, out, _ = cli("deploy", str(archive), "--as", "derek")
    assert code == 0 and "simple: version 1 deployed" in out
    assert "simple: version 1 unchanged" in cli("deploy", str(FIXTURES / "packages" / "simple"))[1]

    pkg = copy_package("simple", tmp_path / "broken")
    edit(pkg / "process.yaml", "Desk: desk", "Desk: nobody")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(zip_package(pkg))
    code, out, _ = cli("validate", str(broken))
    assert code == 1 and "process.yaml" in out and "[Desk]" in out
    code, _, err = cli("deploy", str(broken))
    assert code == 1 and "nobody" in err and "Traceback" not in err


def test_a_path_that_is_no_package_is_refused_not_passed_over(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for path in (FIXTURES / "org.yaml", tmp_path / "empty"):
        code, out, err = cli("validate", str(path))
        assert code == 1 and "is not a process package" in err and out == ""
