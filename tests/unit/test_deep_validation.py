"""Deep validation: every expression, DMN cell and modeler attribute is checked at deploy, with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import PackageInvalid, Problem
from engine.definitions import check_files, read_package_files
from tests.helpers import FIXTURES

PROCESSES = Path(__file__).resolve().parents[2] / "processes"


def files_of(path: Path) -> dict[str, str]:
    return read_package_files(path)


def problems(files: dict[str, str]) -> list[Problem]:
    try:
        check_files(files)
    except PackageInvalid as err:
        return err.problems
    return []


def changed(files: dict[str, str], name: str, old: str, new: str) -> dict[str, str]:
    assert old in files[name], f"{old!r} not in {name}"
    return {**files, name: files[name].replace(old, new, 1)}


def line_of(files: dict[str, str], name: str, needle: str) -> int:
    return next(i for i, text in enumerate(files[name].splitlines(), start=1) if needle in text)


@pytest.fixture(scope="module")
def simple() -> dict[str, str]:
    return files_of(FIXTURES / "packages" / "simple")


@pytest.fixture(scope="module")
def complaint() -> dict[str, str]:
    return files_of(PROCESSES / "complaint")


def only(found: list[Problem], **where: object) -> Problem:
    hits = [p for p in found if all(getattr(p, k) == v for k, v in where.items())]
    assert len(hits) == 1, f"expected one problem at {where}, got {[str(p) for p in found]}"
    return hits[0]


def test_a_gateway_condition_is_reported_on_its_sequence_flow_with_the_line(simple: dict[str, str]) -> None:
    files = changed(simple, "simple.bpmn", "ok == True</bpmn", "ok === True</bpmn")
    p = only(problems(files), element="f_yes")
    assert p.file == "simple.bpmn" and "condition" in p.message and "syntax" in p.message
    assert p.line == line_of(files, "simple.bpmn", "ok === True")


def test_a_script_error_names_the_script_task_and_line(simple: dict[str, str]) -> None:
    files = changed(simple, "simple.bpmn", "score = len(subject) * 2", "score = len(subject) * ")
    p = only(problems(files), element="prepare")
    assert "script" in p.message and p.line == line_of(files, "simple.bpmn", "<bpmn:script>")


def test_iso_timer_literals_are_accepted_the_way_modelers_write_them(simple: dict[str, str]) -> None:
    for literal in ("PT4H", "P3D", "R3/PT1H", "2026-03-01T09:00:00Z"):
        files = changed(simple, "simple.bpmn", '"PT4H"</bpmn:timeDuration>', f"{literal}</bpmn:timeDuration>")
        assert problems(files) == [], literal


def test_a_bad_duration_in_a_timer_is_a_listed_problem(simple: dict[str, str]) -> None:
    for text in ("PT4", '"PT4"', "'P3X'"):
        files = changed(simple, "simple.bpmn", '"PT4H"</bpmn:timeDuration>', f"{text}</bpmn:timeDuration>")
        p = only(problems(files), element="review_overdue")
        assert "ISO-8601" in p.message and p.line == line_of(files, "simple.bpmn", "timeDuration")


def test_juel_is_reported_with_what_to_write_instead(simple: dict[str, str]) -> None:
    files = changed(simple, "simple.bpmn", "ok == True</bpmn", "${ok &amp;&amp; !rejected}</bpmn")
    p = only(problems(files), element="f_yes")
    assert "JUEL is not supported, write `ok and not rejected`" in p.message


def test_a_flow_out_of_a_gateway_without_condition_or_default_is_named(simple: dict[str, str]) -> None:
    files = changed(simple, "simple.bpmn", ' default="f_no"', "")
    p = only(problems(files), element="f_no")
    assert "without a condition" in p.message and p.line == line_of(files, "simple.bpmn", 'id="f_no"')


def test_manifest_expressions_are_checked_at_their_key(simple: dict[str, str]) -> None:
    files = changed(simple, "process.yaml", 'due: "=approve_due"', 'due: "=approve_due +"')
    files = changed(files, "process.yaml", 'Heads: "=reviewer_group"', 'Heads: "=import os"')
    files = changed(files, "process.yaml", "Request {{ subject }}", "Request {{ subject + ref }}")
    found = problems(files)
    assert only(found, element="approve").line == line_of(files, "process.yaml", "approve:")
    assert only(found, element="lanes/Heads").line == line_of(files, "process.yaml", "Heads:")
    assert "not a data path" in only(found, element="title").message


def test_a_message_payload_with_a_syntax_error_names_its_event() -> None:
    files = files_of(PROCESSES / "repair")
    files = changed(files, "repair.bpmn", "'source': 'repair',", "'source': 'repair',,")
    p = only(problems(files), file="repair.bpmn")
    assert "message payload" in p.message and p.element == "return_visit_requested"
    assert p.line == line_of(files, "repair.bpmn", "messagePayload")


def test_a_bpmn_that_is_not_utf8_is_a_listed_problem(tmp_path: Path) -> None:
    import shutil

    pkg = tmp_path / "simple"
    shutil.copytree(FIXTURES / "packages" / "simple", pkg)
    (pkg / "simple.bpmn").write_bytes((pkg / "simple.bpmn").read_text().replace("Simple review", "R\u00e9vision")
                                      .encode("latin-1"))
    with pytest.raises(PackageInvalid) as caught:
        read_package_files(pkg)
    assert caught.value.problems[0].file == "simple.bpmn" and "not UTF-8" in caught.value.problems[0].message


def test_diagram_check_ignores_elements_bpmn_di_does_not_draw(simple: dict[str, str]) -> None:
    files = changed(simple, "simple.bpmn", '<bpmn:userTask id="approve" name="Approve">',
                    '<bpmn:userTask id="approve" name="Approve"><bpmn:potentialOwner id="owner_1" />'
                    '<bpmn:performer id="performer_1" />')
    assert problems(files) == []


def test_a_plain_task_is_not_called_a_user_task(simple: dict[str, str]) -> None:
    files = changed(simple, "simple.bpmn", '<bpmn:userTask id="chase" name="Chase overdue review">',
                    '<bpmn:task id="chase" name="Chase overdue review">')
    files = changed(files, "simple.bpmn", "f7</bpmn:incoming><bpmn:outgoing>f8</bpmn:outgoing></bpmn:userTask>",
                    "f7</bpmn:incoming><bpmn:outgoing>f8</bpmn:outgoing></bpmn:task>")
    files = changed(files, "process.yaml", "  chase: {form: forms/review.json}\n", "")
    p = only(problems(files), element="chase")
    assert p.message.startswith("task has no form") and "user task" not in p.message.split("(")[0]


# --- DMN ------------------------------------------------------------------------------------------------

def test_a_typo_in_a_dmn_input_entry_is_reported_at_the_cell(complaint: dict[str, str]) -> None:
    files = changed(complaint, "routing.dmn", '<text>"billing"</text>', '<text>"billing</text>')
    p = only(problems(files), element="route_complaint_rule_4_in_0")
    assert p.file == "routing.dmn" and p.line == line_of(files, "routing.dmn", '"billing<')


def test_a_misspelt_dmn_value_that_no_form_can_give_is_reported(complaint: dict[str, str]) -> None:
    files = changed(complaint, "routing.dmn", '<text>"billing"</text>', '<text>"biling"</text>')
    p = only(problems(files), element="route_complaint_rule_4_in_0")
    assert "'biling' is not a value `category` can take" in p.message and "forms/" in p.message


def test_a_typo_in_a_dmn_input_expression_is_reported(complaint: dict[str, str]) -> None:
    files = changed(complaint, "sla.dmn", "<text>customer['tier']</text>", "<text>customer['tier'</text>")
    p = only(problems(files), element="input_tier")
    assert "input expression" in p.message


def test_overlapping_rules_of_a_unique_table_are_refused_naming_both(complaint: dict[str, str]) -> None:
    files = changed(complaint, "routing.dmn", '<text>"billing"</text>', '<text>"billing","service_problem"</text>')
    p = only(problems(files), element="route_complaint_rule_4")
    assert "route_complaint_rule_2 (row 2) and route_complaint_rule_4 (row 4)" in p.message
    assert "= 'service_problem'" in p.message


@pytest.mark.parametrize(("policy", "reason"), [
    ('hitPolicy="RULE ORDER"', "RULE ORDER"), ('hitPolicy="OUTPUT ORDER"', "OUTPUT ORDER"),
    ('hitPolicy="PRIORITY"', "PRIORITY"), ('hitPolicy="COLLECT" aggregation="SUM"', "aggregation SUM"),
])
def test_hit_policies_flowdesk_cannot_evaluate_are_refused(complaint: dict[str, str], policy: str,
                                                            reason: str) -> None:
    files = changed(complaint, "routing.dmn", 'hitPolicy="UNIQUE"', policy)
    p = only(problems(files), file="routing.dmn")
    assert reason in p.message and p.element == "route_complaint"


def test_dmn_structure_mistakes_are_listed_never_raised(complaint: dict[str, str]) -> None:
    no_id = changed(complaint, "routing.dmn", '<decisionTable id="DecisionTable_route_complaint"', "<decisionTable")
    assert "decision table has no id" in only(problems(no_id), file="routing.dmn").message
    literal = changed(complaint, "sla.dmn", '<decision id="complaint_sla"',
                      '<decision id="extra"><literalExpression><text>1</text></literalExpression></decision>'
                      '<decision id="complaint_sla"')
    assert "literal expression" in only(problems(literal), file="sla.dmn").message


def test_a_dmn_duration_pt4_is_a_listed_problem(complaint: dict[str, str]) -> None:
    files = changed(complaint, "sla.dmn", '<text>"PT2H"</text>', '<text>"PT4"</text>')
    p = only(problems(files), element="complaint_sla_rule_1_out_0")
    assert "'PT4' is not an ISO-8601 duration" in p.message


def test_feel_literals_are_accepted(complaint: dict[str, str]) -> None:
    # rules 4 and 6 merged into one list cell, rule 6 then matching nothing the others do
    files = changed(complaint, "routing.dmn", '<text>"billing"</text>', '<text>"billing","other"</text>')
    files = changed(files, "routing.dmn", '<text>"other"</text>', '<text>not("billing","other",'
                    '"maintenance_quality","product_quality","service_problem","staff_conduct")</text>')
    assert problems(files) == []


# --- Camunda Modeler attributes -----------------------------------------------------------------------

def test_camunda_attributes_are_defaults_or_reported(simple: dict[str, str]) -> None:
    files = changed(simple, "simple.bpmn", 'id="defs_simple"',
                    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_simple"')
    files = changed(files, "simple.bpmn", '<bpmn:userTask id="approve" name="Approve">',
                    '<bpmn:userTask id="approve" name="Approve" camunda:assignee="${initiator}" '
                    'camunda:candidateUsers="tom" camunda:asyncBefore="true">')
    found = [p for p in problems(files) if p.element == "approve"]
    messages = [p.message for p in found]
    assert len(found) == 3 and {p.line for p in found} == {line_of(files, "simple.bpmn", 'id="approve"')}
    assert any("camunda:assignee: JUEL is not supported" in m for m in messages), messages
    assert any("camunda:candidateUsers is not supported" in m for m in messages), messages
    assert any("camunda:asyncBefore is not supported" in m for m in messages), messages


# --- data flow ------------------------------------------------------------------------------------------

def test_a_condition_reading_a_field_the_form_no_longer_has_is_refused(complaint: dict[str, str]) -> None:
    files = changed(complaint, "forms/approve.json", '"decision"', '"verdict"')
    p = only(problems(files), file="complaint.bpmn")
    assert p.element == "Flow_is_approved_to_solvable_soon" and p.line == line_of(
        files, "complaint.bpmn", 'id="Flow_is_approved_to_solvable_soon"') + 1
    assert "reads `decision`" in p.message and "(forms/approve.json has no field `decision`)" in p.message


def test_scripts_and_manifest_expressions_read_only_what_is_set_before_them(simple: dict[str, str]) -> None:
    files = changed(simple, "simple.bpmn", "len(subject)", "len(subjet)")
    files = changed(files, "process.yaml", 'due: "=approve_due"', 'due: "=approve_by"')
    found = problems(files)
    assert "script of `prepare` reads `subjet`" in only(found, element="prepare").message
    manifest = only(found, file="process.yaml")
    assert manifest.element == "approve" and "reads `approve_by`" in manifest.message and manifest.line


def test_a_name_set_on_only_one_branch_is_not_set_on_every_path(simple: dict[str, str]) -> None:
    # the rejected branch ends in a script reading what only the approval branch's script sets
    files = changed(simple, "simple.bpmn", "score = len(subject) * 2", "score = len(subject) * 2")
    files = changed(files, "simple.bpmn", '<bpmn:sequenceFlow id="f5" sourceRef="approve" targetRef="end_done" />',
                    '<bpmn:sequenceFlow id="f5" sourceRef="approve" targetRef="end_done">'
                    '<bpmn:conditionExpression>score &gt; 1</bpmn:conditionExpression></bpmn:sequenceFlow>')
    assert problems(files) == []
    files = changed(files, "simple.bpmn", "score &gt; 1", "outcome == 'x'")
    assert "reads `outcome`, which no form" in only(problems(files), element="f5").message
