"""Deploying packages: every problem at once, with its place; versions are immutable and content-hashed."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Engine, PackageInvalid
from tests.helpers import FIXTURES, copy_package, edit, open_task, start_simple


def problems_of(engine: Engine, path: Path) -> list[str]:
    return [str(p) for p in engine.validate(path)]


def test_the_fixture_package_is_valid(engine: Engine) -> None:
    assert engine.validate(FIXTURES / "packages" / "simple") == []


def test_a_broken_package_lists_every_problem_with_its_location(engine: Engine, tmp_path: Path) -> None:
    pkg = copy_package("simple", tmp_path)
    # manifest: an unknown key, a form file that does not exist, an unknown calendar and group
    edit(pkg / "process.yaml", "starters: [desk]", "starters: [desk]\ncolour: blue")
    edit(pkg / "process.yaml", "approve: {form: forms/approve.json", "approve: {form: forms/missing.json")
    edit(pkg / "process.yaml", "review_overdue: {calendar: office}", "review_overdue: {calendar: lunar}")
    edit(pkg / "process.yaml", "Desk: desk", "Desk: nobody")
    # a form that is not a valid JSON Schema
    (pkg / "forms" / "review.json").write_text('{"type": "object", "properties": {"ok": {"type": "yes-no"}}}')
    # a user task outside any lane, and a script that imports a module
    edit(pkg / "simple.bpmn", "<bpmn:flowNodeRef>chase</bpmn:flowNodeRef>", "")
    edit(pkg / "simple.bpmn", "reviewer_group = 'heads'", "import os\nreviewer_group = 'heads'")

    with pytest.raises(PackageInvalid) as caught:
        engine.deploy(pkg)
    text = "\n".join(str(p) for p in caught.value.problems)

    colour = next(p for p in caught.value.problems if "colour" in p.message)
    assert (colour.file, colour.element, colour.line) == ("process.yaml", "colour", 9)
    assert any(p.element == "approve" and "forms/missing.json" in p.message for p in caught.value.problems), text
    assert any(p.element == "review_overdue" and "lunar" in p.message for p in caught.value.problems), text
    assert any(p.element == "Desk" and "nobody" in p.message for p in caught.value.problems), text
    assert any(p.file == "forms/review.json" and "JSON Schema" in p.message for p in caught.value.problems), text
    chase = next(p for p in caught.value.problems if p.element == "chase")
    assert chase.file == "simple.bpmn" and "not in a lane" in chase.message and chase.line is not None
    script = next(p for p in caught.value.problems if p.element == "prepare")
    assert "import" in script.message and script.file == "simple.bpmn" and script.line is not None
    assert len(caught.value.problems) >= 7
    assert engine.definitions() == []


def test_malformed_xml_and_yaml_are_reported_with_their_line(engine: Engine, tmp_path: Path) -> None:
    pkg = copy_package("simple", tmp_path)
    edit(pkg / "simple.bpmn", '<bpmn:endEvent id="end_done" name="Done">', '<bpmn:endEvent id="end_done" name="Done>')
    problems = engine.validate(pkg)
    # every error the parser finds, one per line, not only the first
    assert problems and {p.file for p in problems} == {"simple.bpmn"} and problems[0].line == 39
    assert len({p.line for p in problems}) == len(problems)

    pkg2 = copy_package("simple", tmp_path / "two")
    edit(pkg2 / "process.yaml", "lanes:", "lanes: [unclosed")
    problems = engine.validate(pkg2)
    assert problems and problems[0].file == "process.yaml" and problems[0].line is not None


def test_a_diagram_a_modeler_could_not_show_is_refused_element_by_element(engine: Engine, tmp_path: Path) -> None:
    pkg = copy_package("simple", tmp_path)
    bpmn = pkg / "simple.bpmn"
    edit(bpmn, '<bpmndi:BPMNShape id="review_di" bpmnElement="review"><dc:Bounds x="250" y="80" width="100" '
               'height="80" /></bpmndi:BPMNShape>', "")
    edit(bpmn, '<di:waypoint x="350" y="120" /><di:waypoint x="400" y="120" />', '<di:waypoint x="350" y="120" />')
    edit(bpmn, '<dc:Bounds x="650" y="330" width="100" height="80" />', "")
    edit(bpmn, "    </bpmndi:BPMNPlane>", '      <bpmndi:BPMNShape id="ghost_di" bpmnElement="ghost">'
                                          '<dc:Bounds x="0" y="0" width="1" height="1" /></bpmndi:BPMNShape>\n'
                                          "    </bpmndi:BPMNPlane>")
    found = {(p.file, p.element, p.message) for p in engine.validate(pkg)}
    assert found == {
        ("simple.bpmn", "review", "userTask has no diagram shape; a modeler would not show it"),
        ("simple.bpmn", "f2", "diagram edge has fewer than two waypoints"),
        ("simple.bpmn", "approve", "diagram shape has no dc:Bounds"),
        ("simple.bpmn", "ghost", "diagram element points to 'ghost', which the file does not define"),
    }
    assert all(p.line for p in engine.validate(pkg))

    bare = copy_package("simple", tmp_path / "bare")
    text = (bare / "simple.bpmn").read_text()
    (bare / "simple.bpmn").write_text(text[:text.index("  <bpmndi:BPMNDiagram")] + "</bpmn:definitions>\n")
    assert [p.message for p in engine.validate(bare)] == [
        "no diagram information (bpmndi:BPMNDiagram); it would not open in a modeler"]


def test_a_user_task_needs_a_form_in_the_manifest(engine: Engine, tmp_path: Path) -> None:
    pkg = copy_package("simple", tmp_path)
    edit(pkg / "process.yaml", "  chase: {form: forms/review.json}\n", "")
    problems = engine.validate(pkg)
    assert [(p.element, "no form" in p.message) for p in problems] == [("chase", True)]


def test_redeploying_identical_files_is_a_no_op(any_engine: Engine) -> None:
    first = any_engine.deploy(FIXTURES / "packages" / "simple")
    again = any_engine.deploy(FIXTURES / "packages" / "simple")
    assert first.created and first.version == 1
    assert not again.created and again.version == 1 and again.content_hash == first.content_hash
    assert [d.version for d in any_engine.definitions("simple")] == [1]


def test_changed_files_make_the_next_version(engine: Engine, tmp_path: Path) -> None:
    pkg = copy_package("simple", tmp_path)
    assert engine.deploy(pkg).version == 1
    edit(pkg / "process.yaml", "due: PT4H", "due: PT2H")
    second = engine.deploy(pkg)
    assert second.created and second.version == 2
    assert engine.deploy(pkg).created is False
    assert [d.version for d in engine.definitions("simple")] == [1, 2]


def test_a_running_instance_stays_on_its_version(any_engine: Engine, tmp_path: Path) -> None:
    pkg = copy_package("simple", tmp_path)
    any_engine.deploy(pkg)
    old = start_simple(any_engine, ref="OLD")
    # version 2 sends everything to the heads lane via a changed script
    edit(pkg / "simple.bpmn", "approve_due = 'PT8H'", "approve_due = 'PT1H'")
    assert any_engine.deploy(pkg).version == 2
    new = start_simple(any_engine, ref="NEW")

    assert any_engine.instance(old).definition_version == 1
    assert any_engine.instance(new).definition_version == 2
    for instance_id, hours in ((old, 8), (new, 1)):
        review = open_task(any_engine, instance_id, "review")
        any_engine.complete(review.id, {"ok": True}, "alice")
        approve = open_task(any_engine, instance_id, "approve")
        assert approve.due_at is not None
        assert (approve.due_at - any_engine.clock.now()).total_seconds() == hours * 3600
        assert any_engine.instance(instance_id).data["approve_due"] == f"PT{hours}H"
