"""Files from BPMN and DMN modelers (Camunda Modeler, bpmn-js, dmn-js) made runnable as FlowDesk reads them.

Modelers write what the standards say, SpiffWorkflow reads Python: a timer `PT4H` (an ISO-8601 literal),
a lane without a name, FEEL cells (`true`, `"a","b"`, `[1..5]`), several decisions in one DMN file. The
stored files stay as the designer wrote them; only the text handed to the parser is normalised, the same
way at deploy, at run time and at replay, so every version keeps its meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_TIMER_TAGS = tuple(f"{{{BPMN_NS}}}{t}" for t in ("timeDuration", "timeDate", "timeCycle"))

_DURATION = re.compile(r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")
_CYCLE = re.compile(r"R(\d*)/(.+)")


def is_iso_duration(text: str) -> bool:
    return bool(_DURATION.fullmatch(text))


def is_iso_datetime(text: str) -> bool:
    if not re.match(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def iso_timer_literal(text: str) -> bool:
    """`PT4H`, `P3D`, `R3/PT1H`, `R/2026-01-01T09:00:00Z/P1D` or a date-time, written without quotes."""
    text = text.strip()
    if is_iso_duration(text) or is_iso_datetime(text):
        return True
    cycle = _CYCLE.fullmatch(text)
    if cycle is None:
        return False
    parts = cycle.group(2).split("/")
    return 1 <= len(parts) <= 2 and all(is_iso_duration(p) or is_iso_datetime(p) for p in parts) and any(
        is_iso_duration(p) for p in parts)


def looks_like_duration(text: str) -> bool:
    """Text a designer meant as an ISO duration (P followed by digits and unit letters), valid or not."""
    return bool(re.fullmatch(r"P[0-9YMWDTHS.]*", text)) and any(c.isdigit() for c in text)


def _reserialise(root: etree._Element, text: str) -> str:
    declaration = text.lstrip().startswith("<?xml")
    out = etree.tostring(root.getroottree(), encoding="unicode")
    if declaration:
        first = text.lstrip().split("?>", 1)[0] + "?>"
        out = first + "\n" + out
    return out


def normalise_bpmn(text: str) -> str:
    """Timer literals quoted and unnamed lanes named by their id; the text itself when nothing changes."""
    try:
        root = etree.fromstring(text.encode("utf-8"))
    except etree.XMLSyntaxError:
        return text
    changed = False
    for el in root.iter(*_TIMER_TAGS):
        if el.text and iso_timer_literal(el.text):
            el.text = repr(el.text.strip())
            changed = True
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        if not (lane.get("name") or "").strip() and lane.get("id"):
            lane.set("name", lane.get("id") or "")
            changed = True
    return _reserialise(root, text) if changed else text


# --- DMN -------------------------------------------------------------------------------------------

_FEEL_WORDS = {"true": "True", "false": "False", "null": "None"}
_STRING_OR_WORD = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[A-Za-z_][A-Za-z0-9_]*')
_LITERAL = r'(?:"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false)'
_LIST = re.compile(rf"\s*{_LITERAL}(\s*,\s*{_LITERAL})+\s*")
_RANGE = re.compile(r"\s*([\[\]\(])\s*(-?\d+(?:\.\d+)?)\s*\.\.\s*(-?\d+(?:\.\d+)?)\s*([\[\]\)])\s*")
_NOT = re.compile(r"\s*not\s*\((.*)\)\s*", re.S)


def _feel_words(text: str) -> str:
    return _STRING_OR_WORD.sub(lambda m: _FEEL_WORDS.get(m.group(0), m.group(0)), text)


def feel_input_entry(text: str) -> str:
    """A FEEL unary test as the Python test SpiffWorkflow evaluates (`?` stands for the input value)."""
    negated = _NOT.fullmatch(text)
    if negated and (_LIST.fullmatch(negated.group(1)) or re.fullmatch(_LITERAL, negated.group(1).strip())):
        return f"not ({feel_input_entry(negated.group(1))})"
    if _LIST.fullmatch(text):
        return f"? in ({_feel_words(text.strip())})"
    rng = _RANGE.fullmatch(text)
    if rng:
        low_op = "<=" if rng.group(1) == "[" else "<"
        high_op = "<=" if rng.group(4) == "]" else "<"
        return f"{rng.group(2)} {low_op} ? {high_op} {rng.group(3)}"
    converted = _feel_words(text)
    if converted != text and negated is None:
        return converted
    if negated:
        return f"not ({feel_input_entry(negated.group(1))})"
    return text


def dmn_ns(root: etree._Element) -> str:
    return etree.QName(root).namespace or ""


def normalise_dmn(name: str, text: str) -> dict[str, str]:
    """One DMN text per decision (SpiffWorkflow reads one per file), FEEL literals made Python."""
    try:
        root = etree.fromstring(text.encode("utf-8"))
    except etree.XMLSyntaxError:
        return {name: text}
    ns = dmn_ns(root)
    changed = False
    for entry in root.iter(f"{{{ns}}}inputEntry", f"{{{ns}}}outputEntry"):
        cell = entry.find(f"{{{ns}}}text")
        if cell is None or not cell.text or cell.text.strip() in ("", "-"):
            continue
        new = feel_input_entry(cell.text) if etree.QName(entry).localname == "inputEntry" else _feel_words(cell.text)
        if new != cell.text:
            cell.text, changed = new, True
    decisions = root.findall(f"{{{ns}}}decision")
    if len(decisions) <= 1:
        return {name: _reserialise(root, text) if changed else text}
    out: dict[str, str] = {}
    for keep in decisions:
        for other in decisions:
            if other is not keep:
                root.remove(other)
        out[f"{name}#{keep.get('id')}"] = _reserialise(root, text)
        for other in decisions:
            if other is not keep:
                root.append(other)
    return out


def normalise(bpmn: Mapping[str, str], dmn: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The BPMN and DMN texts as the parser should read them."""
    dmn_out: dict[str, str] = {}
    for name, text in dmn.items():
        dmn_out.update(normalise_dmn(name, text))
    return {n: normalise_bpmn(t) for n, t in bpmn.items()}, dmn_out
