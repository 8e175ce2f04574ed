"""Return visits as the handbook describes them (section 3), on the shipped process files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import Engine, FakeClock, FormInvalid
from tests.scenarios.steps import (
    ANSWERS,
    ESTABLISHED,
    open_tasks,
    pass_time,
    pass_until,
    plan_visit,
    register_complaint,
    the_task,
    the_visit,
    work,
)


def test_a_campaign_visit_reaches_a_service_specialist_with_the_customer_file(shipped: Engine) -> None:
    visit = plan_visit(shipped, "C005", case_id="MEMBERS-2026-01")
    assert visit.title == "Return visit MEMBERS-2026-01 — Chen Jing"
    assert visit.fields["source"] == "campaign" and visit.fields["member"] is True
    contact = the_task(shipped, visit.id, "contact_customer")
    assert contact.group == "service_specialists" and contact.priority == 2  # members before other non-key
    assert shipped.task(contact.id).data["customer"]["contact"] == "+86 139 0000 0005"


def test_visits_go_to_the_least_loaded_specialist_weighted_by_ability(shipped: Engine) -> None:
    # sam (skill 4), sara (3) and sean (2) share the visits by open tasks per unit of ability
    assignees = []
    for n, customer in enumerate(["C005", "C009", "C011", "C013", "C016", "C018", "C020"]):
        visit = plan_visit(shipped, customer, case_id=f"MEMBERS-2026-01-{n}")
        assignees.append(the_task(shipped, visit.id, "contact_customer").assignee)
    assert assignees == ["sam", "sara", "sean", "sam", "sara", "sam", "sean"]
    load = {who: assignees.count(who) for who in ("sam", "sara", "sean")}
    assert load == {"sam": 3, "sara": 2, "sean": 2}


def test_the_customer_is_contacted_within_3_working_days_or_the_supervisors_are_told(
        shipped: Engine, clock: FakeClock) -> None:
    clock.set(datetime(2026, 1, 8, 7, 0, tzinfo=UTC))  # Thursday 15:00 in the office
    visit = plan_visit(shipped, "C009")
    contact = the_task(shipped, visit.id, "contact_customer")
    # 3 working days over the weekend: Thu 3h, Fri 9h, Mon 9h, Tue 6h -> Tuesday 15:00
    tuesday_15 = datetime(2026, 1, 13, 7, 0, tzinfo=UTC)
    assert contact.due_at == tuesday_15

    pass_until(shipped, clock, tuesday_15 - timedelta(minutes=1))
    assert open_tasks(shipped, visit.id) == {"contact_customer": "service_specialists"}
    pass_until(shipped, clock, tuesday_15 + timedelta(minutes=1))
    assert open_tasks(shipped, visit.id) == {"contact_customer": "service_specialists",
                                             "escalate_contact_customer": "supervisors"}
    assert the_task(shipped, visit.id, "contact_customer").id == contact.id


def test_a_busy_customer_gets_an_appointment_and_is_called_again_then(shipped: Engine, clock: FakeClock) -> None:
    visit = plan_visit(shipped, "C013")
    work(shipped, visit.id, "contact_customer", reached=False, contact_channel="phone",
         appointment_at="2026-01-07T10:30:00+08:00", contact_note="In a meeting; call Wednesday morning.")
    assert open_tasks(shipped, visit.id) == {}
    (timer,) = shipped.timers(instance_id=visit.id)
    assert timer.element_id == "wait_for_appointment"
    assert timer.due_at == datetime(2026, 1, 7, 2, 30, tzinfo=UTC)

    pass_until(shipped, clock, datetime(2026, 1, 7, 2, 29, tzinfo=UTC))
    assert open_tasks(shipped, visit.id) == {}
    pass_time(shipped, clock, minutes=2)
    assert open_tasks(shipped, visit.id) == {"contact_customer": "service_specialists"}

    work(shipped, visit.id, "contact_customer", reached=True, contact_channel="phone")
    done = work(shipped, visit.id, "record_visit", satisfaction="satisfied", renewal_reminder_given=True)
    assert done.status == "completed" and done.fields["attempts"] == 2


def test_not_reached_needs_an_appointment_time(shipped: Engine) -> None:
    visit = plan_visit(shipped, "C013")
    with pytest.raises(FormInvalid) as caught:
        work(shipped, visit.id, "contact_customer", reached=False, contact_channel="sms")
    assert list(caught.value.field_errors) == ["appointment_at"]


def test_a_satisfied_customer_is_thanked_and_the_visit_archived(shipped: Engine) -> None:
    visit = plan_visit(shipped, "C016")
    work(shipped, visit.id, "contact_customer", reached=True, contact_channel="email")
    assert open_tasks(shipped, visit.id) == {"record_visit": "service_specialists"}
    done = work(shipped, visit.id, "record_visit", satisfaction="satisfied",
                suggestions="More evening appointments.", renewal_reminder_given=True)
    assert done.status == "completed"
    assert done.fields == {"customer_id": "C016", "tier": "low_value", "member": True, "source": "campaign",
                                "channel": "email", "attempts": 1, "satisfaction": "satisfied",
                                "outcome": "thanked"}
    assert [m.name for m in shipped.messages(status="pending")] == []


@pytest.mark.parametrize("satisfaction", ["average", "dissatisfied"])
def test_an_unhappy_customer_is_never_dropped_a_follow_up_complaint_is_requested(
        shipped: Engine, satisfaction: str) -> None:
    visit = plan_visit(shipped, "C009", case_id="MEMBERS-2026-02")
    work(shipped, visit.id, "contact_customer", reached=True, contact_channel="sms")
    done = work(shipped, visit.id, "record_visit", satisfaction=satisfaction, improve="Faster repairs.")
    assert done.status == "completed" and done.fields["outcome"] == "follow_up"

    (request,) = shipped.messages(status="pending")
    assert request.name == "complaint_request"
    assert request.payload["customer"]["customer_id"] == "C009"
    assert request.payload | {"customer": None} == {
        "case_no": "FU-MEMBERS-2026-02", "customer_id": "C009", "customer": None, "complainant": "Liu Yang",
        "contact": "liu.yang@example.com", "channel": "sms",
        "subject": f"Return visit MEMBERS-2026-02: customer {satisfaction}",
        "against": "campaign case MEMBERS-2026-02", "desired_solution": "Faster repairs.",
        "case_id": "MEMBERS-2026-02", "source": "return_visit", "satisfaction": satisfaction,
    }


def test_an_unhappy_record_must_say_what_to_improve(shipped: Engine) -> None:
    visit = plan_visit(shipped, "C009")
    work(shipped, visit.id, "contact_customer", reached=True, contact_channel="phone")
    with pytest.raises(FormInvalid) as caught:
        work(shipped, visit.id, "record_visit", satisfaction="dissatisfied")
    assert list(caught.value.field_errors) == ["improve"]


def test_a_complaint_its_return_visit_and_a_dissatisfied_answer_open_a_follow_up_complaint(
        shipped: Engine) -> None:
    first = register_complaint(shipped, case_no="CMP-2026-0100", customer_id="C001")
    for step in ESTABLISHED:
        work(shipped, first.id, step, **ANSWERS[step])
    shipped.run_due()
    visit = the_visit(shipped, "CMP-2026-0100")
    work(shipped, visit.id, "contact_customer", reached=True, contact_channel="phone")
    work(shipped, visit.id, "record_visit", satisfaction="dissatisfied", improve="The technician was late.")

    shipped.run_due()
    (follow_up,) = shipped.instances(process_id="complaint", business_key="FU-CMP-2026-0100")
    register = shipped.task(the_task(shipped, follow_up.id, "register_followup").id)
    assert register.group == "service_desk"
    assert register.data["case_no"] == "FU-CMP-2026-0100" and register.data["follow_up_of"] == "CMP-2026-0100"
    assert register.data["customer"]["tier"] == "key"
    # the desk checks the pre-filled record and completes it; the case continues like any complaint
    prefilled = {k: register.data[k] for k in ("case_no", "customer_id", "complainant", "contact", "channel",
                                               "subject", "against", "desired_solution")}
    work(shipped, follow_up.id, "register_followup", **prefilled)
    assert open_tasks(shipped, follow_up.id) == {"judge": "service_desk"}
    assert the_task(shipped, follow_up.id, "judge").priority == 3  # still a key customer
    assert shipped.instance(follow_up.id).fields["follow_up_of"] == "CMP-2026-0100"


def test_other_cases_timers_still_fire_after_a_follow_up_complaint_is_requested(
        shipped: Engine, clock: FakeClock) -> None:
    unhappy = plan_visit(shipped, "C009", case_id="MEMBERS-2026-03")
    work(shipped, unhappy.id, "contact_customer", reached=True, contact_channel="phone")
    work(shipped, unhappy.id, "record_visit", satisfaction="dissatisfied", improve="Call before coming.")
    waiting = register_complaint(shipped, case_no="CMP-2026-0200")

    pass_time(shipped, clock, hours=5)  # the judgement of the other complaint is overdue
    assert "escalate_judge" in open_tasks(shipped, waiting.id)
    assert [m.status for m in shipped.messages() if m.name == "complaint_request"] == ["delivered"]


def test_a_message_the_receiving_process_cannot_take_is_kept_as_failed_and_does_not_block_timers(
        shipped: Engine, clock: FakeClock) -> None:
    # A complaint request without the fields the complaint's follow-up needs makes that process fail.
    message_id = shipped.send_message("complaint_request", None, {"garbage": True})
    waiting = register_complaint(shipped, case_no="CMP-2026-0300")
    pass_time(shipped, clock, hours=5)
    assert "escalate_judge" in open_tasks(shipped, waiting.id)
    failed = next(m for m in shipped.messages() if m.id == message_id)
    assert failed.status == "failed" and failed.error and failed.attempts == 1


def test_the_specialist_who_reached_the_customer_also_writes_the_record(shipped: Engine) -> None:
    visit = plan_visit(shipped, "C009", case_id="MEMBERS-2026-04")
    contact = the_task(shipped, visit.id, "contact_customer")
    specialist = contact.assignee
    assert specialist in {"sam", "sara", "sean"}
    work(shipped, visit.id, "contact_customer", reached=True, contact_channel="phone")
    record = the_task(shipped, visit.id, "record_visit")
    assert record.assignee == specialist
    assert shipped.instance(visit.id).data["contacted_by"] == specialist
