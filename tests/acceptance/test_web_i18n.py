"""The staff's language: the user's choice, else the browser's, else the setting; package texts too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask

from engine import Engine
from tests.acceptance.conftest import Browser, open_task, start_simple
from tests.unit.test_locales import ZH, with_locale
from web import create_app

ZH_BROWSER = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def test_a_chinese_browser_is_answered_in_chinese(as_user: Callable[[str], Browser]) -> None:
    page = as_user("alice").get("/tasks", headers=ZH_BROWSER).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert ">任务</a>" in page and "退出登录" in page
    english = as_user("alice").get("/tasks", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert '<html lang="en">' in english and ">Tasks</a>" in english and "任务" not in english


def test_without_a_preference_the_default_setting_decides(web_engine: Engine) -> None:
    app = create_app({"ENGINE": web_engine, "SECRET_KEY": "s", "TESTING": True, "DEFAULT_LOCALE": "zh_CN"})
    page = app.test_client().get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


def test_the_users_own_choice_wins_over_the_browser(as_user: Callable[[str], Browser], web_engine: Engine) -> None:
    alice = as_user("alice")
    response = alice.post("/account/language", {"locale": "en"}, headers=ZH_BROWSER)
    assert response.status_code == 303
    assert web_engine.user("alice").locale == "en"
    page = alice.get("/tasks", headers=ZH_BROWSER).get_data(as_text=True)
    assert '<html lang="en">' in page and ">Tasks</a>" in page
    alice.post("/account/language", {"locale": ""}, headers=ZH_BROWSER)
    assert web_engine.user("alice").locale is None
    assert ">任务</a>" in alice.get("/tasks", headers=ZH_BROWSER).get_data(as_text=True)


def test_an_unknown_language_is_refused_and_nothing_changes(as_user: Callable[[str], Browser],
                                                           web_engine: Engine) -> None:
    alice = as_user("alice")
    response = alice.post("/account/language", {"locale": "xx_YY"}, follow_redirects=True)
    assert "FlowDesk does not speak xx_YY." in response.get_data(as_text=True)
    assert web_engine.user("alice").locale is None


def test_forms_speak_the_packages_own_translation(app: Flask, as_user: Callable[[str], Browser],
                                                  web_engine: Engine, tmp_path: Path) -> None:
    web_engine.deploy(with_locale(tmp_path, ZH))
    alice = as_user("alice")
    start = alice.get("/start/simple", headers=ZH_BROWSER).get_data(as_text=True)
    assert "主题" in start and "编号" in start and "Subject" not in start
    assert "Subject" in alice.get("/start/simple").get_data(as_text=True), "English stays the package's own"
    instance_id = start_simple(web_engine, "R-9")
    task = open_task(web_engine, instance_id, "review")
    page = alice.get(f"/tasks/{task.id}", headers=ZH_BROWSER).get_data(as_text=True)
    assert "是否正确？" in page and "Looks right?" not in page


def test_api_errors_keep_their_code_and_speak_the_callers_language(app: Flask, web_engine: Engine,
                                                                   token: Callable[[str], dict[str, str]]) -> None:
    task = open_task(web_engine, start_simple(web_engine), "review")
    client, alice = app.test_client(), token("alice")
    url = f"/api/v1/tasks/{task.id}/complete"
    chinese = client.post(url, json=[1, 2], headers={**alice, **ZH_BROWSER}).get_json()
    assert chinese == {"error": "invalid_input", "message": "请求正文必须是 JSON 对象", "details": None}
    english = client.post(url, json=[1, 2], headers=alice).get_json()
    assert english["error"] == "invalid_input" and english["message"] == "the body must be a JSON object"


def test_engine_errors_are_templates_with_parameters() -> None:
    from engine import NotFound

    err = NotFound("no task %(task)s", task="t-1")
    assert (err.message, err.template, err.params, str(err)) == ("no task t-1", "no task %(task)s",
                                                                 {"task": "t-1"}, "no task t-1")
    assert NotFound("100% plain").message == "100% plain", "a message without parameters is never formatted"


def test_error_pages_speak_the_users_language(as_user: Callable[[str], Browser]) -> None:
    page = as_user("alice").get("/tasks/no-such-task", headers=ZH_BROWSER)
    assert page.status_code == 404
    assert "未找到" in page.get_data(as_text=True)
