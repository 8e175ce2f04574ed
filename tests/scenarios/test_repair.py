"""Repair dispatch as the handbook describes it (section 2), on the shipped process files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import Engine, FakeClock, FormInvalid, TaskHeldByOther
from tests.scenarios.steps import open_tasks, pass_until, report_fault, the_task, the_visit, work


def test_a_customer_under_contract_is_dispatched_directly_and_solved_by_phone(shipped: Engine) -> None:
    case = report_fault(shipped, customer_id="C001")  # contract until 2030
    assert case.title == "Repair REP-2026-0001 — Huaxin Logistics Co."
    assert case.fields["under_contract"] is True and case.fields["paid"] is False
    assert open_tasks(shipped, case.id) == {"assign_technician": "assistants"}
    assert the_task(shipped, case.id, "assign_technician").priority == 3  # a key customer comes first

    work(shipped, case.id, "assign_technician", technician="tina", dispatch_note="Key customer, server room.")
    call_back = the_task(shipped, case.id, "call_back")
    assert (call_back.group, call_back.assignee) == ("technicians", "tina")

    work(shipped, case.id, "call_back", solved_by_phone=True, phone_diagnosis="Reset the tripped breaker.")
    record = the_task(shipped, case.id, "record_service")
    assert (record.group, record.assignee) == ("technicians", "tina")
    done = work(shipped, case.id, "record_service", fault_description="Breaker tripped by a power surge.",
                solution="Reset by the customer, guided by phone.")

    assert done.status == "completed"
    assert done.fields["outcome"] == "phone" and done.fields["technician"] == "tina"


@pytest.mark.parametrize("customer_id", ["C002", "C003"], ids=["contract expired", "no contract"])
def test_without_a_valid_contract_the_assistant_opens_a_paid_request_first(
        shipped: Engine, customer_id: str) -> None:
    case = report_fault(shipped, customer_id=customer_id)
    assert case.fields["under_contract"] is False and case.fields["paid"] is True
    assert open_tasks(shipped, case.id) == {"open_paid_request": "assistants"}

    work(shipped, case.id, "open_paid_request", fee=350, fee_confirmed=True, fee_note="Call-out plus labour")
    assert open_tasks(shipped, case.id) == {"assign_technician": "assistants"}
    assert shipped.instance(case.id).data["fee"] == 350


def test_a_declined_fee_closes_the_request_without_repair_or_visit(shipped: Engine) -> None:
    case = report_fault(shipped, customer_id="C014")  # contract expired in 2022
    closed = work(shipped, case.id, "open_paid_request", fee=350, fee_confirmed=False)
    assert closed.status == "completed" and closed.fields["outcome"] == "declined"
    assert shipped.messages() == []


def test_only_technicians_can_be_assigned(shipped: Engine) -> None:
    case = report_fault(shipped)
    task = the_task(shipped, case.id, "assign_technician")
    assert task.form["properties"]["technician"]["enum"] == ["ted", "tina", "tom"]
    with pytest.raises(FormInvalid) as caught:
        work(shipped, case.id, "assign_technician", technician="alice")
    assert list(caught.value.field_errors) == ["technician"]


def test_the_call_back_belongs_to_the_assigned_technician(shipped: Engine) -> None:
    case = report_fault(shipped)
    work(shipped, case.id, "assign_technician", technician="ted")
    call_back = the_task(shipped, case.id, "call_back")
    with pytest.raises(TaskHeldByOther):
        shipped.complete(call_back.id, {"solved_by_phone": True, "phone_diagnosis": "x"}, "tom")


def test_the_technician_calls_back_within_4_working_hours_or_the_supervisors_are_told(
        shipped: Engine, clock: FakeClock) -> None:
    clock.set(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))  # Monday 16:00 in the office
    case = report_fault(shipped)
    work(shipped, case.id, "assign_technician", technician="tom")
    call_back = the_task(shipped, case.id, "call_back")
    # two working hours today, two tomorrow morning: Tuesday 11:00
    tuesday_11 = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
    assert call_back.due_at == tuesday_11

    pass_until(shipped, clock, datetime(2026, 1, 6, 2, 59, tzinfo=UTC))  # overnight is not working time
    assert open_tasks(shipped, case.id) == {"call_back": "technicians"}
    pass_until(shipped, clock, tuesday_11 + timedelta(minutes=1))
    assert open_tasks(shipped, case.id) == {"call_back": "technicians", "escalate_call_back": "supervisors"}
    assert the_task(shipped, case.id, "call_back").assignee == "tom"  # still his

    work(shipped, case.id, "escalate_call_back", action_taken="Phoned Tom; he is calling now.")
    work(shipped, case.id, "call_back", solved_by_phone=True, phone_diagnosis="Filter clogged.")
    assert open_tasks(shipped, case.id) == {"record_service": "technicians"}


def test_an_on_site_visit_is_scheduled_when_the_phone_is_not_enough(shipped: Engine) -> None:
    case = report_fault(shipped, customer_id="C003")
    work(shipped, case.id, "open_paid_request", fee=500, fee_confirmed=True)
    work(shipped, case.id, "assign_technician", technician="tina")
    work(shipped, case.id, "call_back", solved_by_phone=False, phone_diagnosis="Compressor noise.")
    assert open_tasks(shipped, case.id) == {"schedule_visit": "technicians"}
    work(shipped, case.id, "schedule_visit", visit_at="2026-01-06T14:00:00+08:00", visit_address="Orient Hotel")
    visit = the_task(shipped, case.id, "visit_on_site")
    assert visit.assignee == "tina" and visit.due_at == datetime(2026, 1, 6, 6, 0, tzinfo=UTC)  # the agreed time
    work(shipped, case.id, "visit_on_site", work_done="Replaced the compressor relay.")
    done = work(shipped, case.id, "record_service", fault_description="Relay failed.", solution="Relay replaced.")
    assert done.status == "completed"
    assert done.fields["outcome"] == "on_site" and done.fields["paid"] is True


def test_the_service_record_is_due_2_hours_after_the_work_ends(shipped: Engine, clock: FakeClock) -> None:
    case = report_fault(shipped)
    work(shipped, case.id, "assign_technician", technician="tom")
    work(shipped, case.id, "call_back", solved_by_phone=False, phone_diagnosis="Needs a visit.")
    work(shipped, case.id, "schedule_visit", visit_at="2026-01-05T19:00:00+08:00")
    pass_until(shipped, clock, datetime(2026, 1, 5, 12, 30, tzinfo=UTC))  # 20:30, after office hours
    work(shipped, case.id, "visit_on_site", work_done="Repaired on site in the evening.")
    record = the_task(shipped, case.id, "record_service")
    assert record.due_at == datetime(2026, 1, 5, 14, 30, tzinfo=UTC)  # two real hours, not office hours

    pass_until(shipped, clock, datetime(2026, 1, 5, 14, 31, tzinfo=UTC))
    assert open_tasks(shipped, case.id) == {"record_service": "technicians",
                                            "escalate_record_service": "supervisors"}
    work(shipped, case.id, "record_service", fault_description="Loose wire.", solution="Wire fixed.")
    assert open_tasks(shipped, case.id) == {"escalate_record_service": "supervisors"}
    work(shipped, case.id, "escalate_record_service", action_taken="Reminded Tom of the 2-hour rule.")
    assert shipped.instance(case.id).status == "completed"


def test_every_repair_is_followed_by_a_return_visit(shipped: Engine) -> None:
    case = report_fault(shipped, case_no="REP-2026-0042", customer_id="C009")
    work(shipped, case.id, "assign_technician", technician="tom")
    work(shipped, case.id, "call_back", solved_by_phone=True, phone_diagnosis="Settings reset.")
    work(shipped, case.id, "record_service", fault_description="Wrong settings.", solution="Reset.")

    (request,) = shipped.messages(status="pending")
    assert request.name == "return_visit_request"
    assert request.payload["case_id"] == "REP-2026-0042" and request.payload["source"] == "repair"
    shipped.run_due()
    visit = the_visit(shipped, "REP-2026-0042")
    assert visit.title == "Return visit REP-2026-0042 — Liu Yang"
    assert visit.fields["source"] == "repair" and visit.fields["member"] is True
    contact = the_task(shipped, visit.id, "contact_customer")
    assert contact.group == "service_specialists" and contact.assignee is not None
