"""Complaint handling as the handbook describes it (section 1), on the shipped process files."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import Engine, FakeClock, FormInvalid
from tests.scenarios.steps import (
    ANSWERS,
    drive_complaint,
    open_tasks,
    pass_time,
    pass_until,
    register_complaint,
    the_task,
    the_visit,
    work,
)


def test_unestablished_complaint_gets_a_tactful_reply_and_closes(shipped: Engine) -> None:
    case = register_complaint(shipped)
    assert open_tasks(shipped, case.id) == {"judge": "service_desk"}

    work(shipped, case.id, "judge", established=False, judgement_reason="The bill was correct.")
    assert open_tasks(shipped, case.id) == {"reply": "service_desk"}
    closed = work(shipped, case.id, "reply", reply="Explained the tariff change.", reply_channel="phone",
                  misunderstanding_cleared=True)

    assert closed.status == "completed"
    assert closed.fields["outcome"] == "not_established" and closed.fields["sla_met"] is True
    assert closed.data["reply"] == "Explained the tariff change."
    assert shipped.messages() == []  # nothing was handled, so no return visit


def test_an_established_complaint_runs_the_closed_loop_and_ends_with_a_return_visit(shipped: Engine) -> None:
    case = register_complaint(shipped, case_no="CMP-2026-0002", customer_id="C010")
    assert case.title == "Complaint CMP-2026-0002 — Zhao Lei"
    assert case.business_key == "CMP-2026-0002"
    assert case.fields["channel"] == "phone" and case.fields["tier"] == "general"

    steps = [
        ("judge", "service_desk"), ("classify", "service_desk"), ("inform_customer", "service_desk"),
        ("investigate", "maintenance_department"), ("propose", "maintenance_department"), ("approve", "leaders"),
        ("implement", "maintenance_department"), ("confirm", "service_desk"), ("archive", "supervisors"),
    ]
    for step, group in steps:
        assert open_tasks(shipped, case.id) == {step: group}, f"at {step}"
        done = work(shipped, case.id, step, **ANSWERS[step])

    assert done.status == "completed"
    assert done.fields == {
        "customer_id": "C010", "tier": "general", "channel": "phone", "category": "maintenance_quality",
        "department": "maintenance_department", "satisfaction": "satisfied", "rounds": 1, "outcome": "resolved",
        "sla_met": True, "follow_up_of": None,
    }
    assert done.data["chosen_solution"] == "Replace the part free of charge"
    # the history says who did each step, in order
    completed = [(e.payload["element_id"], e.actor) for e in shipped.history(case.id) if e.type == "task_completed"]
    assert completed == [("judge", "dora"), ("classify", "dora"), ("inform_customer", "dora"), ("investigate", "mia"),
                         ("propose", "mia"), ("approve", "leo"), ("implement", "mia"), ("confirm", "dora"),
                         ("archive", "sophie")]

    (request,) = shipped.messages()
    assert request.name == "return_visit_request" and request.status == "pending"
    assert request.payload["case_id"] == "CMP-2026-0002" and request.payload["source"] == "complaint"
    shipped.run_due()
    visit = the_visit(shipped, "CMP-2026-0002")
    assert visit.data["customer_id"] == "C010" and visit.fields["source"] == "complaint"
    assert open_tasks(shipped, visit.id) == {"contact_customer": "service_specialists"}


@pytest.mark.parametrize(("category", "group"), [
    ("maintenance_quality", "maintenance_department"),
    ("service_problem", "service_department"),
    ("product_quality", "quality"),
    ("billing", "service_department"),
    ("staff_conduct", "department_heads"),
    ("other", "department_heads"),
])
def test_the_category_decides_the_responsible_department(shipped: Engine, category: str, group: str) -> None:
    case = register_complaint(shipped)
    drive_complaint(shipped, case.id, "investigate", classify={"category": category})
    assert open_tasks(shipped, case.id) == {"investigate": group}
    assert shipped.instance(case.id).fields["department"] == group
    assert shipped.instances(fields={"category": category}) != []


def test_an_unknown_category_is_refused_by_the_form(shipped: Engine) -> None:
    case = register_complaint(shipped)
    work(shipped, case.id, "judge", **ANSWERS["judge"])
    with pytest.raises(FormInvalid) as caught:
        work(shipped, case.id, "classify", category="weather")
    assert list(caught.value.field_errors) == ["category"]


def test_key_customers_get_shorter_targets_and_priority(shipped: Engine, clock: FakeClock) -> None:
    general = register_complaint(shipped, case_no="CMP-G", customer_id="C010")
    key = register_complaint(shipped, case_no="CMP-K", customer_id="C001")
    now = clock.now()

    general_judge, key_judge = the_task(shipped, general.id, "judge"), the_task(shipped, key.id, "judge")
    # Monday 09:00 in the office: 4 working hours for everyone, 2 for key customers
    assert general_judge.due_at == now + timedelta(hours=4)
    assert key_judge.due_at == now + timedelta(hours=2)
    assert key_judge.priority > general_judge.priority
    # the service desk's list shows the key customer first
    assert [t.instance_id for t in shipped.tasks(group="service_desk")] == [key.id, general.id]

    for case in (general, key):
        drive_complaint(shipped, case.id, "investigate")
    # investigation: 24 working hours (Wed 15:00) against 16 (Tue 16:00)
    assert the_task(shipped, general.id, "investigate").due_at == now + timedelta(days=2, hours=6)
    assert the_task(shipped, key.id, "investigate").due_at == now + timedelta(days=1, hours=7)


def test_the_leader_can_send_the_proposals_back(shipped: Engine) -> None:
    case = register_complaint(shipped)
    drive_complaint(shipped, case.id, "approve")
    work(shipped, case.id, "approve", decision="revise", instructions="Offer a replacement too.")
    assert open_tasks(shipped, case.id) == {"propose": "maintenance_department"}
    work(shipped, case.id, "propose", solutions=["Replace the heater"])
    assert open_tasks(shipped, case.id) == {"approve": "leaders"}
    work(shipped, case.id, "approve", decision="approve", chosen_solution="Replace the heater", solvable_soon=True)
    assert open_tasks(shipped, case.id) == {"implement": "maintenance_department"}


def test_an_approved_decision_needs_the_chosen_solution(shipped: Engine) -> None:
    case = register_complaint(shipped)
    drive_complaint(shipped, case.id, "approve")
    with pytest.raises(FormInvalid) as caught:
        work(shipped, case.id, "approve", decision="approve")
    assert set(caught.value.field_errors) == {"chosen_solution", "solvable_soon"}


def test_a_problem_that_cannot_be_solved_soon_gets_a_commitment_first(shipped: Engine) -> None:
    case = register_complaint(shipped)
    drive_complaint(shipped, case.id, "approve")
    work(shipped, case.id, "approve", decision="approve", chosen_solution="Replace the heater", solvable_soon=False)
    assert open_tasks(shipped, case.id) == {"commit": "service_desk"}
    work(shipped, case.id, "commit", commitment_date="2026-01-30", commitment_note="Heater on order")
    assert open_tasks(shipped, case.id) == {"implement": "maintenance_department"}
    assert shipped.instance(case.id).data["commitment_date"] == "2026-01-30"


def test_an_unsatisfied_customer_sends_the_case_round_again_until_satisfied(shipped: Engine) -> None:
    case = register_complaint(shipped)
    drive_complaint(shipped, case.id, "implement")
    for round_no in range(1, 4):
        work(shipped, case.id, "implement", implementation=f"Attempt {round_no}", customer_informed=True)
        work(shipped, case.id, "confirm", satisfaction="not_satisfied", feedback=f"Still broken ({round_no})")
        # the responsible department changes the solution and the leader approves it again
        assert open_tasks(shipped, case.id) == {"propose": "maintenance_department"}
        assert shipped.instance(case.id).fields["rounds"] == round_no + 1
        work(shipped, case.id, "propose", solutions=[f"New solution {round_no}"])
        work(shipped, case.id, "approve", decision="approve", chosen_solution=f"New solution {round_no}",
             solvable_soon=True)
    work(shipped, case.id, "implement", implementation="Heater replaced", customer_informed=True)
    work(shipped, case.id, "confirm", satisfaction="satisfied", customer_signed=True)
    done = work(shipped, case.id, "archive")

    assert done.status == "completed"
    assert done.fields["rounds"] == 4 and done.fields["outcome"] == "resolved"
    assert [m.name for m in shipped.messages()] == ["return_visit_request"]  # one visit, after the last round
    completed = [t.element_id for t in shipped.tasks(instance_id=case.id, status="completed")]
    assert completed.count("confirm") == 4 and completed.count("propose") == 4


def test_not_satisfied_needs_the_customers_feedback(shipped: Engine) -> None:
    case = register_complaint(shipped)
    drive_complaint(shipped, case.id, "confirm")
    with pytest.raises(FormInvalid) as caught:
        work(shipped, case.id, "confirm", satisfaction="not_satisfied")
    assert list(caught.value.field_errors) == ["feedback"]


@pytest.mark.parametrize("step", ["judge", "reply", "classify", "inform_customer", "investigate", "propose",
                                  "approve", "commit", "implement", "confirm"])
def test_an_overdue_step_escalates_to_the_supervisors_without_being_taken_away(
        shipped: Engine, clock: FakeClock, step: str) -> None:
    case = register_complaint(shipped)
    answers = {"judge": {"established": False, "judgement_reason": "x"}} if step == "reply" else {}
    if step == "commit":
        answers["approve"] = ANSWERS["approve"] | {"solvable_soon": False}
    drive_complaint(shipped, case.id, step, **answers)
    task = the_task(shipped, case.id, step)
    assert task.due_at is not None

    pass_until(shipped, clock, task.due_at - timedelta(minutes=1))
    assert f"escalate_{step}" not in open_tasks(shipped, case.id)

    pass_until(shipped, clock, task.due_at + timedelta(minutes=1))
    escalation = the_task(shipped, case.id, f"escalate_{step}")
    assert escalation.group == "supervisors" and escalation.name.startswith("Escalation:")
    still = the_task(shipped, case.id, step)
    assert still.id == task.id and still.group == task.group  # the step stays with its holder

    work(shipped, case.id, f"escalate_{step}", action_taken="Called the holder; done by noon.")
    work(shipped, case.id, step, **(answers.get(step) or ANSWERS[step]))
    assert step not in open_tasks(shipped, case.id)
    assert f"escalate_{step}" not in open_tasks(shipped, case.id)


def test_an_escalation_keeps_the_case_open_until_a_supervisor_handles_it(
        shipped: Engine, clock: FakeClock) -> None:
    case = register_complaint(shipped)
    pass_time(shipped, clock, hours=5)
    assert open_tasks(shipped, case.id) == {"judge": "service_desk", "escalate_judge": "supervisors"}
    work(shipped, case.id, "judge", established=False, judgement_reason="No fault found.")
    closed = work(shipped, case.id, "reply", **ANSWERS["reply"])
    assert closed.status == "running" and closed.fields["outcome"] == "not_established"
    assert open_tasks(shipped, case.id) == {"escalate_judge": "supervisors"}
    done = work(shipped, case.id, "escalate_judge", action_taken="Reminded the desk.")
    assert done.status == "completed"


def test_a_complaint_resolved_after_its_target_is_counted_as_late(shipped: Engine, clock: FakeClock) -> None:
    case = register_complaint(shipped)
    drive_complaint(shipped, case.id, "confirm")
    pass_time(shipped, clock, days=11)  # general customers: resolved within 10 days
    work(shipped, case.id, "confirm", **ANSWERS["confirm"])
    work(shipped, case.id, "archive")
    work(shipped, case.id, "escalate_confirm", action_taken="Chased the desk.")
    late = shipped.instance(case.id)
    assert late.status == "completed"
    assert late.fields["sla_met"] is False and late.fields["outcome"] == "resolved"
    assert shipped.instances(process_id="complaint", fields={"sla_met": False}) == [late]


def test_an_auditor_can_replay_a_long_complaint_and_its_return_visit(shipped: Engine, clock: FakeClock) -> None:
    case = register_complaint(shipped, case_no="CMP-2026-0300", customer_id="C001")
    pass_time(shipped, clock, hours=3)  # a key customer's judgement is overdue after 2 working hours
    work(shipped, case.id, "escalate_judge", action_taken="Reminded the desk.")
    drive_complaint(shipped, case.id, "approve")
    work(shipped, case.id, "approve", decision="revise")
    work(shipped, case.id, "propose", solutions=["Replace the heater"])
    work(shipped, case.id, "approve", decision="approve", chosen_solution="Replace the heater", solvable_soon=False)
    work(shipped, case.id, "commit", commitment_date="2026-01-16")
    work(shipped, case.id, "implement", **ANSWERS["implement"])
    work(shipped, case.id, "confirm", satisfaction="not_satisfied", feedback="Wrong model.")
    work(shipped, case.id, "propose", solutions=["Replace with the right model"])
    work(shipped, case.id, "approve", decision="approve", chosen_solution="Replace with the right model",
         solvable_soon=True)
    work(shipped, case.id, "implement", **ANSWERS["implement"])
    work(shipped, case.id, "confirm", **ANSWERS["confirm"])
    work(shipped, case.id, "archive")
    shipped.run_due()
    visit = the_visit(shipped, "CMP-2026-0300")
    work(shipped, visit.id, "contact_customer", reached=True, contact_channel="phone")
    work(shipped, visit.id, "record_visit", satisfaction="satisfied")

    for instance_id in (case.id, visit.id):
        assert shipped.instance(instance_id).status == "completed"
        result = shipped.replay(instance_id)
        assert result.outcome == "verified", result.message
