"""FlowDesk's own texts: every one extracted from the code is in the catalogues, translated into Chinese."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "web" / "translations"
DIRS = {"zh_CN": "zh_Hans_CN"}  # Babel names Simplified Chinese (China) by its script too
# gettext's own names, plus the engine's error classes: they are raised with a message template
ERRORS = ("EngineError", "NotFound", "NotAllowed", "Conflict", "InvalidInput", "TaskNotReady", "TaskHeldByOther",
          "ProcessFailed")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
            **{name: None for name in ERRORS}}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> set[str]:
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS,
            directory_filter=lambda d: not any(part in {"node_modules", ".venv", "tests"}
                                               for part in Path(d).parts)):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalogue(locale: str):  # noqa: ANN201 - babel's Catalog
    with open(CATALOGUES / DIRS.get(locale, locale) / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=locale)


def test_the_makefile_extracts_what_this_test_checks() -> None:
    line = next(x for x in (ROOT / "Makefile").read_text().splitlines() if x.startswith("ERROR_KEYWORDS"))
    assert set(line.split("foreach k,")[1].split(",")[0].split()) == set(ERRORS)


def test_every_text_in_the_code_is_in_both_catalogues() -> None:
    texts = extracted()
    assert len(texts) > 10, "the extraction found almost nothing: is babel.cfg still right?"
    for locale in ("en", "zh_CN"):
        known = {m.id for m in catalogue(locale) if m.id}
        missing = sorted(texts - known)
        assert not missing, f"{locale}: run `make translations` and translate: {missing}"


def test_every_chinese_entry_is_translated_with_the_same_placeholders() -> None:
    untranslated, mismatched = [], []
    for message in catalogue("zh_CN"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(ids[0])
        elif not set(PLACEHOLDER.findall(strings[0])) <= set(PLACEHOLDER.findall(ids[0])):
            mismatched.append(ids[0])
    assert not untranslated, f"zh_CN entries without a translation: {untranslated}"
    assert not mismatched, f"zh_CN entries with a %(name)s placeholder the English does not have: {mismatched}"
