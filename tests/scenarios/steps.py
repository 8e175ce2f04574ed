"""Steps shared by the scenario tests: they drive the shipped processes the way staff would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine import Engine, FakeClock, Instance, Task

# Who works a group's tasks in these scenarios (demo users of processes/org.yaml).
STAFF = {
    "service_desk": "dora",
    "service_specialists": "sam",
    "assistants": "alice",
    "technicians": "tom",
    "maintenance_department": "mia",
    "service_department": "sue",
    "department_heads": "hank",
    "leaders": "leo",
    "supervisors": "sophie",
    "quality": "quinn",
}


def open_tasks(engine: Engine, instance_id: str) -> dict[str, str | None]:
    """The case's open tasks as {BPMN element id: group holding it}."""
    tasks = engine.tasks(instance_id=instance_id)
    found = {t.element_id: t.group for t in tasks}
    assert len(found) == len(tasks), f"two open tasks of one element: {[t.element_id for t in tasks]}"
    return found


def the_task(engine: Engine, instance_id: str, element_id: str) -> Task:
    """The one open task of this element in the case."""
    found = [t for t in engine.tasks(instance_id=instance_id) if t.element_id == element_id]
    assert len(found) == 1, f"expected one open {element_id}, open: {open_tasks(engine, instance_id)}"
    return found[0]


def work(engine: Engine, instance_id: str, element_id: str, actor: str | None = None, **data: Any) -> Instance:
    """A member of the task's group (or its assignee) claims the task and completes it with the form data."""
    task = the_task(engine, instance_id, element_id)
    who = actor or task.assignee or STAFF[str(task.group)]
    if task.assignee is None:
        engine.claim(task.id, who)
    return engine.complete(task.id, data, who)


def pass_time(engine: Engine, clock: FakeClock, **delta: Any) -> None:
    """Let time go by with the worker running: due timers fire, pending messages are delivered."""
    clock.advance(timedelta(**delta))
    engine.run_due()


def pass_until(engine: Engine, clock: FakeClock, moment: Any) -> None:
    clock.set(moment)
    engine.run_due()


# ---- complaint ---------------------------------------------------------------------------------

def register_complaint(engine: Engine, case_no: str = "CMP-2026-0001", customer_id: str = "C010",
                       **changes: Any) -> Instance:
    """The service desk accepts a complaint (start form)."""
    data = {
        "case_no": case_no,
        "customer_id": customer_id,
        "complainant": "Zhao Lei",
        "contact": "+86 136 0000 0010",
        "channel": "phone",
        "subject": "The repaired heater broke again after two days",
        "against": "Maintenance team",
        "desired_solution": "Repair it properly and refund the call-out fee",
    } | changes
    return engine.start("complaint", data, "dora")


ANSWERS: dict[str, dict[str, Any]] = {
    "judge": {"established": True, "judgement_reason": "The repair record confirms a second failure."},
    "reply": {"reply": "Explained the warranty terms.", "reply_channel": "phone", "misunderstanding_cleared": True},
    "classify": {"category": "maintenance_quality"},
    "inform_customer": {"customer_told": True},
    "investigate": {"cause": "A worn part was not replaced.", "responsible_person": "Ma Jun"},
    "propose": {"solutions": ["Replace the part free of charge", "Replace the heater"]},
    "approve": {"decision": "approve", "chosen_solution": "Replace the part free of charge", "solvable_soon": True},
    "commit": {"commitment_date": "2026-01-20", "commitment_note": "Part on order"},
    "implement": {"implementation": "Part replaced, fee refunded.", "customer_informed": True},
    "confirm": {"satisfaction": "satisfied", "customer_signed": True},
    "archive": {"improvement_actions": "Check wear parts on every repair."},
}
ESTABLISHED = ["judge", "classify", "inform_customer", "investigate", "propose", "approve", "implement", "confirm",
               "archive"]


def drive_complaint(engine: Engine, instance_id: str, until: str, **answers: dict[str, Any]) -> None:
    """Complete the complaint's steps in order until `until` is the next open step.

    `answers` overrides the default form data per step, e.g. approve={...solvable_soon: False}.
    """
    plan = {**ANSWERS, **answers}
    path = ["judge", "reply"] if plan["judge"].get("established") is False else list(ESTABLISHED)
    if plan["approve"].get("solvable_soon") is False:
        path.insert(path.index("implement"), "commit")
    for step in path:
        if step == until:
            the_task(engine, instance_id, step)
            return
        work(engine, instance_id, step, **plan[step])
    raise AssertionError(f"{until} is not on the path {path}")


# ---- repair ------------------------------------------------------------------------------------

def report_fault(engine: Engine, case_no: str = "REP-2026-0001", customer_id: str = "C001",
                 **changes: Any) -> Instance:
    data = {"case_no": case_no, "customer_id": customer_id, "channel": "phone",
            "fault_summary": "The air conditioner in the server room stopped cooling."} | changes
    return engine.start("repair", data, "dora")


# ---- return visit ------------------------------------------------------------------------------

def plan_visit(engine: Engine, customer_id: str, case_id: str = "MEMBERS-2026-01",
               source: str = "campaign") -> Instance:
    """A specialist plans a campaign visit; the worker hands it to the return-visit process."""
    engine.start("member_campaign", {"customer_id": customer_id, "case_id": case_id, "source": source}, "sam")
    engine.run_due()
    return the_visit(engine, case_id, customer_id)


def the_visit(engine: Engine, case_id: str, customer_id: str | None = None) -> Instance:
    """The return visit for this case (and customer)."""
    found = [i for i in engine.instances(process_id="return_visit", business_key=case_id)
             if customer_id is None or i.data.get("customer_id") == customer_id]
    assert len(found) == 1, f"expected one return visit for {case_id}, got {len(found)}"
    return found[0]
