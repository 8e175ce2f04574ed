"""A business key is given once per process: a second complaint with the same number is refused, naming the
case that has it; nothing of the refused start is written. Processes whose key names another case (return
visits) opt out in the manifest, and databases holding duplicates from before the rule still upgrade."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import DuplicateBusinessKey, Engine, FakeClock
from engine.migrations import upgrade
from tests.conftest import FIXTURES, MONDAY_MORNING
from tests.helpers import copy_package, edit, start_simple


def test_a_second_case_with_the_same_key_is_refused_with_the_existing_one(any_engine: Engine) -> None:
    any_engine.deploy(FIXTURES / "packages" / "simple")
    first = start_simple(any_engine, ref="CMP-7")
    with pytest.raises(DuplicateBusinessKey) as refused:
        start_simple(any_engine, ref="CMP-7")
    assert refused.value.existing_instance_id == first
    assert refused.value.status == 409 and refused.value.field == "ref"
    assert [i.id for i in any_engine.instances(process_id="simple")] == [first]
    assert [e.type for e in any_engine.history(first)] == ["instance_started"]
    assert start_simple(any_engine, ref="CMP-8") != first  # another number is fine


def test_the_same_key_in_another_process_is_another_case(engine: Engine, tmp_path: Path) -> None:
    engine.deploy(FIXTURES / "packages" / "simple")
    other = copy_package("simple", tmp_path)
    edit(other / "process.yaml", "id: simple", "id: simple_copy")
    engine.deploy(other)
    start_simple(engine, ref="K-1")
    copy = engine.start("simple_copy", {"subject": "Tap", "ref": "K-1", "customer_id": "C1"}, "alice")
    assert copy.business_key == "K-1"


def test_a_process_may_declare_its_key_not_unique(engine: Engine, tmp_path: Path) -> None:
    package = copy_package("simple", tmp_path)
    edit(package / "process.yaml", "business_key: ref", "business_key: ref\nbusiness_key_unique: false")
    engine.deploy(package)
    ids = {start_simple(engine, ref="CAMPAIGN-1"), start_simple(engine, ref="CAMPAIGN-1")}
    assert len(ids) == 2
    assert {i.business_key for i in engine.instances(process_id="simple")} == {"CAMPAIGN-1"}


def test_a_message_that_would_start_a_duplicate_is_kept_as_failed(shipped: Engine) -> None:
    data = {"case_no": "FU-CMP-1", "customer_id": "C010", "complainant": "Zhao Lei", "contact": "1",
            "channel": "phone", "subject": "Still cold", "against": "Repair"}
    first = shipped.start("complaint", data, "dora")
    message = shipped.send_message("complaint_request", None, {**data, "case_id": "CMP-1"})
    assert shipped.deliver_message(message) is None
    failed = [m for m in shipped.messages() if m.id == message][0]
    assert failed.status == "failed" and first.id in (failed.error or "")
    assert len(shipped.instances(process_id="complaint")) == 1


def test_duplicates_written_before_the_rule_survive_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    clock = FakeClock(MONDAY_MORNING)
    engine = Engine(url, clock=clock)
    engine.load_org(FIXTURES / "org.yaml")
    engine.deploy(FIXTURES / "packages" / "simple")
    first = start_simple(engine, ref="OLD-1")
    clock.advance(timedelta(minutes=5))
    second = start_simple(engine, ref="OLD-2")
    engine.close()
    db = sa.create_engine(url)
    with db.begin() as conn:  # back to the schema before the rule, and a duplicate as it could be written then
        conn.execute(sa.text("drop index ux_instances_process_unique_key"))
        conn.execute(sa.text("alter table instances drop column unique_key"))
        conn.execute(sa.text("update alembic_version set version_num = 'server_sessions'"))
        conn.execute(sa.text("update instances set business_key = 'OLD-1' where id = :id"), {"id": second})
    upgrade(db)
    with db.connect() as conn:
        held = dict(conn.execute(sa.text("select id, unique_key from instances")).all())
    db.dispose()
    assert held == {first: "OLD-1", second: None}  # the older case holds the key; the later keeps its data
    engine = Engine(url, clock=FakeClock(MONDAY_MORNING))
    assert engine.instance(second).business_key == "OLD-1"
    with pytest.raises(DuplicateBusinessKey) as refused:
        start_simple(engine, ref="OLD-1")
    assert refused.value.existing_instance_id == first
    engine.close()
