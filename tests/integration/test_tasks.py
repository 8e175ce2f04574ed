"""The task lifecycle: forms are checked field by field, tasks are held by one person, conflicts lose nothing."""

from __future__ import annotations

import threading

import pytest

from engine import (
    Conflict,
    Engine,
    FormInvalid,
    NotAllowed,
    ProcessFailed,
    TaskHeldByOther,
    TaskNotReady,
)
from tests.helpers import FIXTURES, copy_package, edit, open_task, start_simple


@pytest.fixture
def deployed(any_engine: Engine) -> Engine:
    any_engine.deploy(FIXTURES / "packages" / "simple")
    return any_engine


def test_starting_copies_the_customer_file_into_the_case(deployed: Engine) -> None:
    inst = deployed.instance(start_simple(deployed))
    assert inst.data["customer"]["name"] == "Acme Ltd"
    assert inst.fields["tier"] == "key"
    assert inst.business_key == "R-1" and inst.title == "Request Broken tap"
    review = open_task(deployed, inst.id, "review")
    assert review.group == "desk" and review.assignee is None and review.status == "ready"


def test_invalid_start_data_is_rejected_field_by_field(deployed: Engine) -> None:
    with pytest.raises(FormInvalid) as caught:
        deployed.start("simple", {"subject": "x", "customer_id": "C1", "amount": -3}, "alice")
    assert set(caught.value.field_errors) == {"subject", "ref", "amount"}
    assert caught.value.field_errors["ref"] == ["this field is required"]
    assert deployed.instances() == []


def test_an_unknown_customer_is_a_field_error(deployed: Engine) -> None:
    with pytest.raises(FormInvalid) as caught:
        deployed.start("simple", {"subject": "Broken", "ref": "R", "customer_id": "C404"}, "alice")
    assert list(caught.value.field_errors) == ["customer_id"]


def test_only_the_starter_groups_may_start(deployed: Engine) -> None:
    with pytest.raises(NotAllowed):
        deployed.start("simple", {"subject": "Broken", "ref": "R", "customer_id": "C1"}, "hana")


def test_invalid_form_data_is_rejected_field_by_field_and_changes_nothing(deployed: Engine) -> None:
    instance_id = start_simple(deployed)
    review = open_task(deployed, instance_id, "review")
    before = deployed.instance(instance_id)
    history_before = deployed.history(instance_id)
    with pytest.raises(FormInvalid) as caught:
        deployed.complete(review.id, {"note": "x" * 300, "email": "not-an-email"}, "alice")
    assert set(caught.value.field_errors) == {"ok", "note", "email"}
    after = deployed.instance(instance_id)
    assert after.version == before.version and after.data == before.data
    assert deployed.history(instance_id) == history_before
    assert deployed.task(review.id).status == "ready"


def test_completing_moves_the_case_to_the_next_group(deployed: Engine) -> None:
    instance_id = start_simple(deployed)
    deployed.complete(open_task(deployed, instance_id, "review").id, {"ok": True}, "alice")
    approve = open_task(deployed, instance_id, "approve")
    assert approve.group == "heads"  # the lane's group comes from case data ("=reviewer_group")
    inst = deployed.complete(approve.id, {"approved": True}, "hana")
    assert inst.data["score"] == 20  # the script task ran in the sandbox
    assert [e.type for e in deployed.history(instance_id)] == ["instance_started", "task_completed", "task_completed"]


def test_the_rejection_branch_ends_the_case(deployed: Engine) -> None:
    instance_id = start_simple(deployed)
    inst = deployed.complete(open_task(deployed, instance_id, "review").id, {"ok": False}, "alice")
    assert inst.status == "completed" and inst.ended_at is not None
    assert deployed.tasks(instance_id=instance_id) == []
    assert deployed.timers(instance_id=instance_id) == []  # the boundary timer went away with its task


def test_completing_a_task_that_is_not_ready_is_refused(deployed: Engine) -> None:
    instance_id = start_simple(deployed)
    review = open_task(deployed, instance_id, "review")
    deployed.complete(review.id, {"ok": True}, "alice")
    with pytest.raises(TaskNotReady):
        deployed.complete(review.id, {"ok": True}, "alice")


def test_completing_a_task_someone_else_holds_is_refused(deployed: Engine) -> None:
    instance_id = start_simple(deployed)
    review = open_task(deployed, instance_id, "review")
    assert deployed.claim(review.id, "alice").assignee == "alice"
    with pytest.raises(TaskHeldByOther):
        deployed.complete(review.id, {"ok": True}, "bob")
    with pytest.raises(TaskHeldByOther):
        deployed.claim(review.id, "bob")
    assert deployed.unclaim(review.id, "alice").assignee is None
    deployed.claim(review.id, "bob")
    deployed.complete(review.id, {"ok": True}, "bob")


def test_staff_outside_the_group_cannot_claim_or_complete(deployed: Engine) -> None:
    review = open_task(deployed, start_simple(deployed), "review")
    with pytest.raises(NotAllowed):
        deployed.claim(review.id, "hana")
    with pytest.raises(NotAllowed):
        deployed.complete(review.id, {"ok": True}, "hana")


def test_a_supervisor_reassigns_within_the_group(deployed: Engine) -> None:
    review = open_task(deployed, start_simple(deployed), "review")
    deployed.claim(review.id, "alice")
    assert deployed.assign(review.id, "bob", "sam").assignee == "bob"
    with pytest.raises(NotAllowed):
        deployed.assign(review.id, "alice", "alice")
    with pytest.raises(Exception, match="not a member"):
        deployed.assign(review.id, "hana", "sam")


def test_tasks_filter_by_group_assignee_business_field_and_due(deployed: Engine) -> None:
    a = start_simple(deployed, ref="A", customer_id="C1")
    b = start_simple(deployed, ref="B", customer_id="C2")
    deployed.claim(open_task(deployed, b, "review").id, "bob")
    assert {t.instance_id for t in deployed.tasks(group="desk")} == {a, b}
    assert [t.instance_id for t in deployed.tasks(assignee="bob")] == [b]
    assert [t.instance_id for t in deployed.tasks(fields={"tier": "key"})] == [a]
    assert [t.instance_id for t in deployed.tasks(fields={"tier": "general"})] == [b]
    assert deployed.tasks(due_before=deployed.clock.now()) == []
    later = deployed.clock.now().replace(year=2027)
    assert len(deployed.tasks(due_before=later)) == 2
    assert deployed.count_tasks(group="desk", unassigned=True) == 1


def test_terminating_cancels_tasks_and_timers(deployed: Engine) -> None:
    instance_id = start_simple(deployed)
    inst = deployed.terminate(instance_id, "customer withdrew", "sam")
    assert inst.status == "terminated"
    assert deployed.tasks(instance_id=instance_id) == []
    assert deployed.timers(instance_id=instance_id) == []
    assert deployed.history(instance_id)[-1].payload == {"reason": "customer withdrew"}
    with pytest.raises(NotAllowed):
        deployed.terminate(start_simple(deployed, ref="R2"), "no", "alice")


def test_two_sessions_completing_one_task_exactly_one_wins(deployed: Engine) -> None:
    instance_id = start_simple(deployed)
    review = open_task(deployed, instance_id, "review")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(actor: str) -> None:
        barrier.wait()
        try:
            deployed.complete(review.id, {"ok": True, "note": actor}, actor)
            outcomes.append("won")
        except Conflict as err:  # TaskNotReady on SQLite (commands queue), a version conflict on PostgreSQL
            outcomes.append(f"conflict:{err.status}")
        except Exception as err:  # noqa: BLE001 - a Conflict subclass is expected; anything else fails below
            outcomes.append(f"{type(err).__name__}:{getattr(err, 'status', '?')}")

    threads = [threading.Thread(target=attempt, args=(who,)) for who in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes)[1] == "won" and sorted(outcomes)[0].endswith(":409"), outcomes
    completions = [e for e in deployed.history(instance_id) if e.type == "task_completed"]
    assert len(completions) == 1
    assert deployed.instance(instance_id).data["note"] == completions[0].actor
    assert len([t for t in deployed.tasks(instance_id=instance_id) if t.element_id == "approve"]) == 1


def test_import_in_a_script_task_is_refused_at_deploy(engine: Engine, tmp_path) -> None:
    pkg = copy_package("simple", tmp_path)
    edit(pkg / "simple.bpmn", "score = len(subject) * 2", "score = __import__('os').getcwd()")
    problems = engine.validate(pkg)
    assert problems and {p.element for p in problems} == {"prepare"}
    assert any("__import__" in p.message for p in problems), problems


def test_a_script_that_fails_at_run_time_names_its_element_and_changes_nothing(engine: Engine, tmp_path) -> None:
    pkg = copy_package("simple", tmp_path)
    # a key no data has: validation cannot know it (a name nobody sets is refused at deploy since the data-flow check)
    edit(pkg / "simple.bpmn", "score = len(subject) * 2", "score = {'known': 1}['missing_value'] * 2")
    engine.deploy(pkg)
    instance_id = start_simple(engine)
    review = open_task(engine, instance_id, "review")
    version = engine.instance(instance_id).version
    with pytest.raises(ProcessFailed) as caught:
        engine.complete(review.id, {"ok": True}, "alice")
    assert caught.value.element == "prepare" and "missing_value" in str(caught.value)
    assert engine.instance(instance_id).version == version
    assert engine.task(review.id).status == "ready"


def test_a_boundary_timer_overdue_but_unfired_is_cancelled_when_its_task_completes(deployed: Engine) -> None:
    instance_id = start_simple(deployed)
    (timer,) = deployed.timers(instance_id=instance_id)
    deployed.clock.set(timer.due_at.replace(year=timer.due_at.year + 1))  # long overdue, no worker ran
    deployed.complete(open_task(deployed, instance_id, "review").id, {"ok": False}, "alice")
    (after,) = deployed.timers(instance_id=instance_id, status=None)
    assert after.id == timer.id and after.status == "cancelled"
    assert [e.type for e in deployed.history(instance_id)] == ["instance_started", "task_completed"]
