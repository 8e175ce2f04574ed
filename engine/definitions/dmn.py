"""DMN decision tables: every cell parsed at deploy, hit policies FlowDesk evaluates correctly, no overlapping
rules in a UNIQUE table, and values a form can actually give. Each problem names the file, element and line."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .camunda import juel_hint
from .checker import Checker, parse_xml
from .expression_check import checking_sandbox
from .interop import _feel_words, dmn_ns, feel_input_entry, is_iso_duration, looks_like_duration

# SpiffWorkflow returns the first matching rule (COLLECT: every one): right for these, wrong for the rest.
SUPPORTED_HIT_POLICIES = {"UNIQUE", "FIRST", "ANY", "COLLECT"}
_REFUSED = {
    "RULE ORDER": "returns every matching rule's output in rule order, which FlowDesk does not evaluate",
    "OUTPUT ORDER": "sorts outputs by the output values' priority, which FlowDesk does not evaluate",
    "PRIORITY": "picks the output with the highest priority among output values, which FlowDesk does not evaluate",
}


@dataclass(frozen=True)
class Table:
    """What the data-flow check and the simulation need to know about one decision."""

    file: str
    decision: str
    inputs: tuple[str, ...]  # input expressions
    outputs: tuple[str, ...]  # output names


def check_dmn_files(chk: Checker, manifest: dict[str, Any]) -> list[str]:
    """The DMN files of the manifest that are fit to hand to the parser (problems listed for the others)."""
    ok: list[str] = []
    enums = _form_enums(chk, manifest)
    for ref in manifest.get("decisions") or []:
        if not isinstance(ref, str) or ref not in chk.files:
            continue
        before = len(chk.problems)
        root = parse_xml(chk, ref)
        if root is not None:
            _check_dmn(chk, ref, root, enums)
        if len(chk.problems) == before:
            ok.append(ref)
    return ok


def decision_tables(files: dict[str, str], manifest: dict[str, Any]) -> dict[str, Table]:
    """Decision id -> its table's inputs and outputs, for every decision the manifest's DMN files hold."""
    found: dict[str, Table] = {}
    for ref in manifest.get("decisions") or []:
        try:
            root = etree.fromstring(files[ref].encode("utf-8"))
        except (KeyError, etree.XMLSyntaxError, TypeError):
            continue
        ns = dmn_ns(root)
        for decision in root.iter(f"{{{ns}}}decision"):
            table = decision.find(f"{{{ns}}}decisionTable")
            if table is None or not decision.get("id"):
                continue
            inputs = tuple((i.findtext(f"{{{ns}}}inputExpression/{{{ns}}}text") or "").strip()
                           for i in table.findall(f"{{{ns}}}input"))
            outputs = tuple(o.get("name") or "" for o in table.findall(f"{{{ns}}}output"))
            found[str(decision.get("id"))] = Table(ref, str(decision.get("id")), inputs, outputs)
    return found


def _form_enums(chk: Checker, manifest: dict[str, Any]) -> dict[str, tuple[str, set[Any]]]:
    """Field name -> (form file, allowed values) for every enum field of the package's forms."""
    forms = [manifest.get("start_form")] + [c.get("form") for c in (manifest.get("tasks") or {}).values()
                                             if isinstance(c, dict)]
    enums: dict[str, tuple[str, set[Any]]] = {}
    for form in forms:
        if not isinstance(form, str) or form not in chk.files:
            continue
        try:
            props = json.loads(chk.files[form]).get("properties") or {}
        except (json.JSONDecodeError, AttributeError):
            continue
        for name, prop in props.items() if isinstance(props, dict) else ():
            if isinstance(prop, dict) and isinstance(prop.get("enum"), list):
                known = enums.get(name, (form, set()))
                enums[name] = (known[0], known[1] | {v for v in prop["enum"] if isinstance(v, str | int | bool)})
    return enums


def _check_dmn(chk: Checker, file: str, root: etree._Element, enums: dict[str, tuple[str, set[Any]]]) -> None:
    ns = dmn_ns(root)
    if "DMN" not in ns.upper():
        chk.add(file, f"not a DMN file (root element in namespace {ns or 'none'!r})", line=root.sourceline)
        return
    decisions = root.findall(f"{{{ns}}}decision")
    if not decisions:
        chk.add(file, "the file holds no decision", line=root.sourceline)
    seen: set[str] = set()
    for decision in decisions:
        did = decision.get("id")
        if not did:
            chk.add(file, "decision has no id, so no business rule task can call it", None, decision.sourceline)
        elif did in seen:
            chk.add(file, f"decision id {did!r} is used twice", did, decision.sourceline)
        seen.add(did or "")
        tables = decision.findall(f"{{{ns}}}decisionTable")
        if decision.find(f"{{{ns}}}literalExpression") is not None:
            chk.add(file, "literal expression decisions are not supported: write it as a decision table (one "
                    "rule with an output entry holding the expression)", did, decision.sourceline)
        elif not tables:
            chk.add(file, "decision has no decision table", did, decision.sourceline)
        for table in tables:
            _check_table(chk, file, ns, did, table, enums)


def _check_table(chk: Checker, file: str, ns: str, did: str | None, table: etree._Element,
                 enums: dict[str, tuple[str, set[Any]]]) -> None:
    q = f"{{{ns}}}"
    where = did or table.get("id")
    if not table.get("id"):
        chk.add(file, "decision table has no id (give the decisionTable element an id)", where, table.sourceline)
    policy = (table.get("hitPolicy") or "UNIQUE").upper().replace("_", " ")
    if policy in _REFUSED:
        chk.add(file, f"hit policy {policy} {_REFUSED[policy]}: use UNIQUE, FIRST, ANY or COLLECT", where,
                table.sourceline)
    elif policy == "COLLECT" and table.get("aggregation"):
        chk.add(file, f"hit policy COLLECT with aggregation {table.get('aggregation')} is not evaluated by FlowDesk "
                "(it would return the list of values): use COLLECT without an aggregation and add them up in a "
                "script", where, table.sourceline)
    elif policy not in SUPPORTED_HIT_POLICIES:
        chk.add(file, f"unknown hit policy {policy!r}", where, table.sourceline)
    sandbox = checking_sandbox()
    inputs = table.findall(f"{q}input")
    outputs = table.findall(f"{q}output")
    exprs: list[str] = []
    for inp in inputs:
        text = (inp.findtext(f"{q}inputExpression/{q}text") or "").strip()
        exprs.append(text)
        if not inp.get("id"):
            chk.add(file, "input has no id", where, inp.sourceline)
        label = inp.get("label") or text
        if not text:
            chk.add(file, f"input {label!r} has no input expression", inp.get("id") or where, inp.sourceline)
            continue
        cell = inp.find(f"{q}inputExpression/{q}text")
        _check_cell(chk, sandbox, file, inp.get("id") or where, cell.sourceline if cell is not None else
                    inp.sourceline, "input expression", text)
    if not outputs:
        chk.add(file, "decision table has no output", where, table.sourceline)
    for out in outputs:
        if not out.get("id"):
            chk.add(file, "output has no id", where, out.sourceline)
        if not out.get("name"):
            chk.add(file, f"output {out.get('label') or out.get('id')!r} has no name, so its value is stored "
                    "nowhere", out.get("id") or where, out.sourceline)
    parsed: list[tuple[etree._Element, int, list[Any]]] = []
    for row, rule in enumerate(table.findall(f"{q}rule"), start=1):
        rid = rule.get("id")
        if not rid:
            chk.add(file, f"rule {row} has no id", where, rule.sourceline)
        ins, outs = rule.findall(f"{q}inputEntry"), rule.findall(f"{q}outputEntry")
        if len(ins) != len(inputs) or len(outs) != len(outputs):
            chk.add(file, f"rule {row} has {len(ins)} input and {len(outs)} output entries; the table has "
                    f"{len(inputs)} inputs and {len(outputs)} outputs", rid or where, rule.sourceline)
            continue
        conds = []
        for i, entry in enumerate(ins):
            text = (entry.findtext(f"{q}text") or "").strip()
            eid = entry.get("id") or rid or where
            if not entry.get("id"):
                chk.add(file, f"rule {row}: input entry has no id", rid or where, entry.sourceline)
            conds.append(_condition(text))
            if text in ("", "-"):
                continue
            line = _text_line(entry, q)
            if _check_entry(chk, sandbox, file, eid, line, text):
                _check_enum(chk, file, eid, line, exprs[i], conds[-1], enums)
        for entry in outs:
            text = (entry.findtext(f"{q}text") or "").strip()
            eid = entry.get("id") or rid or where
            if not entry.get("id"):
                chk.add(file, f"rule {row}: output entry has no id", rid or where, entry.sourceline)
            if text:
                _check_output(chk, sandbox, file, eid, _text_line(entry, q), text)
        parsed.append((rule, row, conds))
    if policy == "UNIQUE":
        _check_overlaps(chk, file, where, inputs, exprs, parsed)


def _text_line(entry: etree._Element, q: str) -> int | None:
    cell = entry.find(f"{q}text")
    return cell.sourceline if cell is not None else entry.sourceline


def _check_cell(chk: Checker, sandbox: Any, file: str, element: str | None, line: int | None, what: str,
                text: str) -> bool:
    hint = juel_hint(text)
    if hint is not None:
        chk.add(file, f"{what}: {hint}", element, line)
        return False
    problems = sandbox.check(text, mode="eval")
    for message in problems:
        chk.add(file, f"{what} {text!r}: {message}", element, line)
    return not problems


def _check_entry(chk: Checker, sandbox: Any, file: str, element: str | None, line: int | None, text: str) -> bool:
    """An input entry is a value (compared with ==), a test such as `< 5`, or one using `?` for the input."""
    hint = juel_hint(text)
    if hint is not None:
        chk.add(file, f"input entry: {hint}", element, line)
        return False
    python = feel_input_entry(text).replace("?", "dmninputexpr")
    if not sandbox.check(python, mode="eval") or not sandbox.check(f"v {python}", mode="eval"):
        return True
    for message in sandbox.check(python, mode="eval"):
        chk.add(file, f"input entry {text!r}: {message}", element, line)
    return False


def _check_output(chk: Checker, sandbox: Any, file: str, element: str | None, line: int | None, text: str) -> None:
    if not _check_cell(chk, sandbox, file, element, line, "output entry", _feel_words(text)):
        return
    value = _literal(_feel_words(text))
    if isinstance(value, str) and looks_like_duration(value) and not is_iso_duration(value):
        chk.add(file, f"output entry {text}: {value!r} is not an ISO-8601 duration (write e.g. PT4H, P3D)",
                element, line)


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return _UNKNOWN


_UNKNOWN = object()


def _check_enum(chk: Checker, file: str, element: str | None, line: int | None, expr: str, cond: Any,
                enums: dict[str, tuple[str, set[Any]]]) -> None:
    """A value no form can give for the input (a misspelling) means the rule never matches."""
    if expr not in enums or not (isinstance(cond, tuple) and cond[0] in ("in", "not in")):
        return
    form, allowed = enums[expr]
    for value in sorted(cond[1] - allowed, key=repr):
        shown = ", ".join(repr(v) for v in sorted(allowed, key=repr))
        chk.add(file, f"input entry: {value!r} is not a value `{expr}` can take ({form} allows {shown}), so the "
                "rule never matches", element, line)


# --- overlapping rules of a UNIQUE table -------------------------------------------------------------

def _condition(text: str) -> Any:
    """An input entry as ('any',), ('in', values), ('not in', values), ('range', lo, lo_in, hi, hi_in) or None
    (a test this check cannot reason about)."""
    if text in ("", "-"):
        return ("any",)
    python = feel_input_entry(text)
    negate = python.startswith("not (") and python.endswith(")")
    inner = python[5:-1] if negate else python
    values: Any = _UNKNOWN
    if inner.startswith("? in (") and inner.endswith(")"):
        values = _literal(inner[5:])
        values = set(values) if isinstance(values, tuple) else _UNKNOWN
    else:
        single = _literal(inner)
        if isinstance(single, str | int | float | bool) and single is not None:
            values = {single}
    if values is not _UNKNOWN:
        try:
            return ("not in" if negate else "in", set(values))
        except TypeError:
            return None
    if negate:
        return None
    return _range(inner)


def _range(text: str) -> Any:
    parts = text.replace("?", " ? ").split()
    inf = float("inf")
    try:
        if len(parts) == 2 and parts[0] in ("<", "<=", ">", ">="):
            bound = float(parts[1])
            if parts[0].startswith("<"):
                return ("range", -inf, False, bound, parts[0] == "<=")
            return ("range", bound, parts[0] == ">=", inf, False)
        if len(parts) == 5 and parts[2] == "?" and parts[1] in ("<", "<=") and parts[3] in ("<", "<="):
            return ("range", float(parts[0]), parts[1] == "<=", float(parts[4]), parts[3] == "<=")
    except ValueError:
        return None
    return None


def _in_range(value: Any, r: tuple[Any, ...]) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    _, lo, lo_in, hi, hi_in = r
    return (lo < value or (lo_in and lo == value)) and (value < hi or (hi_in and hi == value))


def _meet(a: Any, b: Any) -> str | None:
    """A description of a value both conditions accept, or None when they exclude each other (or unknown)."""
    if a is None or b is None:
        return None
    if a[0] == "any":
        a, b = b, a
    if a[0] == "any":
        return "any value"
    if b[0] == "any":
        return _describe(a)
    kinds = {a[0], b[0]}
    if kinds == {"in"}:
        common = a[1] & b[1]
        return repr(sorted(common, key=repr)[0]) if common else None
    if kinds == {"in", "not in"}:
        inc, exc = (a, b) if a[0] == "in" else (b, a)
        rest = inc[1] - exc[1]
        return repr(sorted(rest, key=repr)[0]) if rest else None
    if kinds == {"not in"}:
        return "any value other than " + ", ".join(repr(v) for v in sorted(a[1] | b[1], key=repr))
    if kinds == {"in", "range"}:
        inc, rng = (a, b) if a[0] == "in" else (b, a)
        hits = [v for v in inc[1] if _in_range(v, rng)]
        return repr(sorted(hits)[0]) if hits else None
    if kinds == {"range"}:
        lo, lo_in = max((a[1], a[2]), (b[1], b[2]), key=lambda t: (t[0], not t[1]))
        hi, hi_in = min((a[3], a[4]), (b[3], b[4]), key=lambda t: (t[0], t[1]))
        if lo < hi or (lo == hi and lo_in and hi_in):
            if lo == hi or (lo_in and lo != -float("inf")):
                return _number(lo)
            if hi_in and hi != float("inf"):
                return _number(hi)
            if lo == -float("inf") and hi == float("inf"):
                return "any number"
            if lo == -float("inf"):
                return _number(hi - 1)
            if hi == float("inf"):
                return _number(lo + 1)
            return _number((lo + hi) / 2)
        return None
    return None  # a range against 'not in' or other combinations: not proven


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _describe(cond: Any) -> str:
    if cond[0] == "in":
        return repr(sorted(cond[1], key=repr)[0])
    if cond[0] == "not in":
        return "any value other than " + ", ".join(repr(v) for v in sorted(cond[1], key=repr))
    return _meet(cond, ("range", -float("inf"), False, float("inf"), False)) or "a value"


def _check_overlaps(chk: Checker, file: str, where: str | None, inputs: list[etree._Element], exprs: list[str],
                    rules: list[tuple[etree._Element, int, list[Any]]]) -> None:
    reported = 0
    for i, (rule_a, row_a, conds_a) in enumerate(rules):
        for rule_b, row_b, conds_b in rules[i + 1:]:
            witness = [_meet(a, b) for a, b in zip(conds_a, conds_b, strict=True)]
            if not inputs or any(w is None for w in witness):
                continue
            hits = ", ".join(f"{inp.get('label') or expr or inp.get('id')} = {w}"
                             for inp, expr, w in zip(inputs, exprs, witness, strict=True))
            chk.add(file, f"UNIQUE table: rules {rule_a.get('id') or row_a} (row {row_a}) and "
                    f"{rule_b.get('id') or row_b} (row {row_b}) both match when {hits}; make their conditions "
                    "exclude each other or use hit policy FIRST", rule_b.get("id") or where, rule_b.sourceline)
            reported += 1
            if reported >= 20:
                return
