"""Every setting is documented: in `flowdesk --help` and in the README."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from engine import settings
from engine.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    assert [s.name for s in settings.SETTINGS if s.name not in text] == []


def test_every_setting_is_in_the_cli_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert [s.name for s in settings.SETTINGS if s.name not in result.output] == []


def test_an_unset_setting_takes_its_default(monkeypatch) -> None:
    monkeypatch.delenv("FLOWDESK_PORT", raising=False)
    assert settings.get_int("FLOWDESK_PORT") == 5000
    monkeypatch.setenv("FLOWDESK_PORT", "5099")
    assert settings.get_int("FLOWDESK_PORT") == 5099
