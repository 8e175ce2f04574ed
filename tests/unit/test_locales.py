"""A package's own translations: read, checked against the package, applied to forms and names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import Engine, PackageInvalid
from engine.definitions import load_package, read_package_files
from engine.locales import Translations, load, normalize
from tests.conftest import FIXTURES

SIMPLE = FIXTURES / "packages" / "simple"

ZH = """\
name: 简单审核
tasks: {review: 审核申请, approve: 批准, chase: 催办}
lanes: {Desk: 前台, Heads: 主管}
flows: {}
forms:
  forms/start.json:
    title: 新申请
    fields:
      subject: {title: 主题}
      ref: {title: 编号}
      customer_id: {title: 客户}
      amount: {title: 金额}
  forms/review.json:
    title: 审核
    fields: {ok: {title: 是否正确？}, note: {title: 备注}, email: {title: 回复邮箱}}
  forms/approve.json:
    title: 批准
    fields: {approved: {title: 已批准}}
"""


def with_locale(tmp_path: Path, text: str, name: str = "zh_CN.yaml") -> Path:
    package = tmp_path / "simple"
    shutil.copytree(SIMPLE, package)
    (package / "locales").mkdir()
    (package / "locales" / name).write_text(text, encoding="utf-8")
    return package


@pytest.mark.parametrize(("given", "expected"), [
    ("zh-CN", "zh_CN"), ("zh_cn", "zh_CN"), ("zh-Hans-CN", "zh_CN"), ("en", "en"), ("EN-us", "en_US"),
    ("", None), (None, None), ("*", None),
])
def test_locale_tags_are_read_in_the_form_the_files_use(given: str | None, expected: str | None) -> None:
    assert normalize(given) == expected


def test_a_complete_translation_deploys_without_warnings(tmp_path: Path) -> None:
    package = load_package(with_locale(tmp_path, ZH))
    assert package.warnings == ()


def test_untranslated_texts_and_unknown_ids_are_warnings_naming_them(tmp_path: Path) -> None:
    text = ZH.replace("approve: 批准, ", "").replace("lanes: {Desk: 前台, Heads: 主管}",
                                                      "lanes: {Desk: 前台, Heads: 主管, Kitchen: 厨房}")
    text = text.replace("      amount: {title: 金额}\n", "      amount: {title: 金额}\n      colour: {title: 颜色}\n")
    package = load_package(with_locale(tmp_path, text))
    messages = [(w.file, w.element, w.message) for w in package.warnings]
    assert ("locales/zh_CN.yaml", "approve", "task 'approve' (Approve) is not translated") in messages
    assert ("locales/zh_CN.yaml", "Kitchen", "lanes: 'Kitchen' is not in the package") in messages
    assert any(e == "forms/start.json#colour" and "no field 'colour'" in m for _f, e, m in messages)
    assert len(messages) == 3


def test_a_locale_file_that_is_not_a_mapping_of_sections_is_refused_with_its_place(tmp_path: Path) -> None:
    with pytest.raises(PackageInvalid) as err:
        load_package(with_locale(tmp_path, ZH + "colours: {red: 红}\n"))
    assert [(p.file, p.element) for p in err.value.problems] == [("locales/zh_CN.yaml", "colours")]
    with pytest.raises(PackageInvalid) as err:
        load_package(with_locale(tmp_path / "b", "name: [unclosed\n"))
    assert err.value.problems[0].file == "locales/zh_CN.yaml" and "not valid YAML" in err.value.problems[0].message
    with pytest.raises(PackageInvalid) as err:
        load_package(with_locale(tmp_path / "c", ZH, name="chinese.yaml"))
    assert err.value.problems[0].file == "locales/chinese.yaml"


def test_a_form_takes_the_translated_titles_and_enum_labels_and_keeps_its_rules() -> None:
    texts = Translations("zh_CN", {"forms": {"f.json": {"title": "表", "fields": {
        "tier": {"title": "等级", "labels": {"key": "重点"}}, "done": {"labels": {True: "是"}}}}}})
    schema = {"title": "Form", "type": "object", "required": ["tier"], "properties": {
        "tier": {"type": "string", "title": "Tier", "enum": ["key", "normal"], "x-labels": {"normal": "Normal"}},
        "done": {"type": "boolean", "title": "Done"}}}
    shown = texts.form("f.json", schema)
    assert shown is not None
    assert shown["title"] == "表" and shown["required"] == ["tier"]
    assert shown["properties"]["tier"] == {"type": "string", "title": "等级", "enum": ["key", "normal"],
                                           "x-labels": {"normal": "Normal", "key": "重点"}}
    assert shown["properties"]["done"]["x-labels"] == {"true": "是"}
    assert schema["title"] == "Form", "the stored form is never changed"
    assert texts.form("other.json", schema) == schema


def test_lookups_fall_back_to_the_packages_own_text(tmp_path: Path) -> None:
    package = with_locale(tmp_path, ZH)
    files = read_package_files(package)
    manifest = load_package(package).manifest
    texts = load(files, manifest, "zh-CN")
    assert texts is not None
    assert texts.process_name("Simple review") == "简单审核"
    assert texts.task("review", "Review request") == "审核申请"
    assert texts.task("nowhere", "Nowhere") == "Nowhere"
    assert texts.lane("Heads", "Heads") == "主管"
    review = texts.task_form("review", {"title": "Review", "properties": {"ok": {"title": "Looks right?"}}})
    assert review == {"title": "审核", "properties": {"ok": {"title": "是否正确？"}}}
    assert load(files, manifest, "fr") is None
    assert load(files, manifest, "zh") is not None, "a bare language finds its regional file"


def test_a_department_adds_a_translation_by_deploying_it(tmp_path: Path, engine: Engine) -> None:
    engine.deploy(SIMPLE)
    assert engine.translations("simple", None, "zh_CN") is None
    result = engine.deploy(with_locale(tmp_path, ZH))
    assert result.version == 2
    texts = engine.translations("simple", None, "zh_CN")
    assert texts is not None and texts.process_name("Simple review") == "简单审核"
    assert engine.translations("simple", 1, "zh_CN") is None, "version 1 keeps what it was deployed with"


def test_the_shipped_organisation_names_its_groups_in_chinese(engine: Engine) -> None:
    from tests.conftest import PROCESSES

    engine.load_org(PROCESSES / "org.yaml")
    groups = {g.id: g for g in engine.groups()}
    assert groups["service_desk"].name_in("zh_CN") == "服务台"
    assert groups["service_desk"].name_in("en") == "Service desk"
    assert all(g.name_in("zh_CN") != g.name for gid, g in groups.items() if gid in {
        "service_desk", "service_specialists", "assistants", "technicians", "maintenance_department",
        "service_department", "department_heads", "leaders", "supervisors", "quality", "auditors"})
