"""A department changes its process by editing files and deploying them: no code changes.

New cases follow the new version; cases already running finish on the version they started with.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

from engine import Engine, FakeClock
from tests.conftest import PROCESSES
from tests.helpers import edit
from tests.scenarios.steps import (
    drive_complaint,
    open_tasks,
    register_complaint,
    report_fault,
    the_task,
    work,
)

APPROVAL_TASK = """
    <bpmn:userTask id="approve_fee" name="Approve the paid service request">
      <bpmn:incoming>Flow_open_paid_request_to_fee_accepted</bpmn:incoming>
      <bpmn:outgoing>Flow_approve_fee_to_fee_accepted</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_approve_fee_to_fee_accepted" sourceRef="approve_fee" targetRef="fee_accepted" />"""

APPROVAL_DRAWING = """
      <bpmndi:BPMNShape id="approve_fee_di" bpmnElement="approve_fee">
        <dc:Bounds x="670" y="880" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_approve_fee_to_fee_accepted_di" bpmnElement="Flow_approve_fee_to_fee_accepted">
        <di:waypoint x="770" y="920" />
        <di:waypoint x="870" y="920" />
        <di:waypoint x="870" y="345" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>"""

APPROVAL_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Approve the paid service request",
    "type": "object",
    "properties": {"fee_approved_note": {"type": "string", "title": "Note", "x-widget": "textarea"}},
    "required": [],
}


def copy_shipped(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(PROCESSES / name, target)
    return target


def add_fee_approval_and_faster_dispatch(pkg: Path) -> None:
    """What a designer does in the modeler and the manifest: a supervisor approves every paid request,
    and the assistant must dispatch within 30 minutes instead of an hour."""
    bpmn = pkg / "repair.bpmn"
    lane = '<bpmn:lane id="Lane_supervisors" name="Supervisors">'
    edit(bpmn, lane, lane + "\n        <bpmn:flowNodeRef>approve_fee</bpmn:flowNodeRef>")
    edit(bpmn, 'sourceRef="open_paid_request" targetRef="fee_accepted" />',
         'sourceRef="open_paid_request" targetRef="approve_fee" />' + APPROVAL_TASK)
    edit(bpmn, "<bpmn:incoming>Flow_open_paid_request_to_fee_accepted</bpmn:incoming>\n      <bpmn:outgoing>"
               "Flow_fee_accepted_to_request_opened",
         "<bpmn:incoming>Flow_approve_fee_to_fee_accepted</bpmn:incoming>\n      <bpmn:outgoing>"
         "Flow_fee_accepted_to_request_opened")
    edit(bpmn, '<di:waypoint x="770" y="320" />\n        <di:waypoint x="845" y="320" />',
         '<di:waypoint x="720" y="360" />\n        <di:waypoint x="720" y="880" />')
    edit(bpmn, "    </bpmndi:BPMNPlane>", APPROVAL_DRAWING.lstrip("\n"))
    (pkg / "forms" / "approve_fee.json").write_text(json.dumps(APPROVAL_FORM, indent=2))
    edit(pkg / "process.yaml", "tasks:\n",
         "tasks:\n  approve_fee: {form: forms/approve_fee.json, due: PT1H, calendar: office}\n")
    edit(pkg / "process.yaml", "    due: PT1H\n", "    due: PT30M\n")


def test_a_new_approval_step_and_a_shorter_due_time_apply_to_new_cases_only(
        shipped: Engine, clock: FakeClock, tmp_path: Path) -> None:
    running = report_fault(shipped, case_no="REP-OLD", customer_id="C002")  # contract expired: paid request
    assert open_tasks(shipped, running.id) == {"open_paid_request": "assistants"}

    pkg = copy_shipped("repair", tmp_path)
    add_fee_approval_and_faster_dispatch(pkg)
    assert shipped.validate(pkg) == []
    deployed = shipped.deploy(pkg, actor="derek")
    assert (deployed.process_id, deployed.version, deployed.created) == ("repair", 2, True)
    assert shipped.deploy(pkg).created is False  # the same files are the same version

    new = report_fault(shipped, case_no="REP-NEW", customer_id="C003")
    assert new.definition_version == 2
    work(shipped, new.id, "open_paid_request", fee=400, fee_confirmed=True)
    assert open_tasks(shipped, new.id) == {"approve_fee": "supervisors"}
    work(shipped, new.id, "approve_fee", fee_approved_note="Standard rate.")
    assert the_task(shipped, new.id, "assign_technician").due_at == clock.now() + timedelta(minutes=30)

    # the case that was already running keeps its version: no approval, the old one-hour target
    assert shipped.instance(running.id).definition_version == 1
    work(shipped, running.id, "open_paid_request", fee=400, fee_confirmed=True)
    assert open_tasks(shipped, running.id) == {"assign_technician": "assistants"}
    assert the_task(shipped, running.id, "assign_technician").due_at == clock.now() + timedelta(hours=1)
    work(shipped, running.id, "assign_technician", technician="ted")
    work(shipped, running.id, "call_back", solved_by_phone=True, phone_diagnosis="Reset.")
    done = work(shipped, running.id, "record_service", fault_description="Tripped.", solution="Reset.")
    assert done.status == "completed" and done.definition_version == 1
    completed = {t.element_id for t in shipped.tasks(instance_id=running.id, status="completed")}
    assert "approve_fee" not in completed


def test_a_department_changes_targets_and_routing_by_editing_the_decision_tables(
        shipped: Engine, clock: FakeClock, tmp_path: Path) -> None:
    running = register_complaint(shipped, case_no="CMP-OLD", customer_id="C001")

    pkg = copy_shipped("complaint", tmp_path)
    # key customers: judged within 1 working hour instead of 2
    edit(pkg / "sla.dmn", '<outputEntry id="complaint_sla_rule_1_out_0">\n          <text>"PT2H"</text>',
         '<outputEntry id="complaint_sla_rule_1_out_0">\n          <text>"PT1H"</text>')
    # billing complaints now go to quality management
    edit(pkg / "routing.dmn",
         '<outputEntry id="route_complaint_rule_4_out_0">\n          <text>"service_department"</text>',
         '<outputEntry id="route_complaint_rule_4_out_0">\n          <text>"quality"</text>')
    assert shipped.deploy(pkg, actor="derek").version == 2

    new = register_complaint(shipped, case_no="CMP-NEW", customer_id="C001")
    assert the_task(shipped, new.id, "judge").due_at == clock.now() + timedelta(hours=1)
    assert the_task(shipped, running.id, "judge").due_at == clock.now() + timedelta(hours=2)

    for case in (new, running):
        drive_complaint(shipped, case.id, "investigate", classify={"category": "billing"})
    assert open_tasks(shipped, new.id) == {"investigate": "quality"}
    assert open_tasks(shipped, running.id) == {"investigate": "service_department"}
