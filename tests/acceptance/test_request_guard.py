"""Findings of the hardening review: request bodies that made the server answer 500 now get their own 4xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from engine import Engine

from .conftest import open_task, start_simple

START = "/api/v1/processes/simple/start"
BODY = '{"data": {"subject": "Broken tap", "ref": "R-9", "customer_id": "C1"}}'


def post(app: Flask, token: Callable[[str], dict[str, str]], text: str, url: str = START) -> Any:
    return app.test_client().post(url, data=text, content_type="application/json", headers=token("alice"))


def test_json_nested_five_thousand_deep_is_refused_with_400_not_a_recursion_error(
        app: Flask, token: Callable[[str], dict[str, str]], web_engine: Engine) -> None:
    for text in ('{"data": ' + "[" * 5000 + "]" * 5000 + "}", '{"data": {"a": ' + '{"a": ' * 20000 + "1" + "}" * 20001):
        response = post(app, token, text)
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.get_json()["message"] == "the JSON body is nested deeper than 64 levels"
    assert web_engine.instances() == []


def test_json_with_too_many_values_is_refused_with_413(app: Flask, token: Callable[[str], dict[str, str]]) -> None:
    response = post(app, token, '{"data": {"subject": "x", "list": [' + ",".join(["0"] * 150_000) + "]}}")
    assert response.status_code == 413
    assert "more than 100000 values" in response.get_json()["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_literals_are_refused_with_400(app: Flask, token: Callable[[str], dict[str, str]],
                                                        web_engine: Engine, literal: str) -> None:
    response = post(app, token, BODY.replace('"R-9"', literal))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "finite number" in response.get_json()["message"]
    instance_id = start_simple(web_engine)
    task = open_task(web_engine, instance_id, "review")
    web_engine.claim(task.id, "alice")
    done = post(app, token, '{"data": {"ok": true, "score": ' + literal + "}}", f"/api/v1/tasks/{task.id}/complete")
    assert done.status_code == 400
    assert web_engine.task(task.id).status == "ready"


def test_brackets_and_commas_inside_strings_do_not_count(app: Flask, token: Callable[[str], dict[str, str]]) -> None:
    text = BODY.replace("Broken tap", "[[[[" * 100 + ",,,," * 30_000 + '\\"{{')
    assert post(app, token, text).status_code == 201


def test_a_body_over_the_size_limit_is_413(app: Flask, token: Callable[[str], dict[str, str]]) -> None:
    response = post(app, token, '{"data": {"subject": "' + "x" * (3 * 1024 * 1024) + '"}}')
    assert response.status_code == 413 and response.get_json()["error"] == "request_entity_too_large"


def test_a_json_body_that_is_not_utf8_is_400(app: Flask, token: Callable[[str], dict[str, str]]) -> None:
    response = app.test_client().post(START, data=b'{"data": "\xff\xfe"}', content_type="application/json",
                                      headers=token("alice"))
    assert response.status_code == 400


def test_the_engine_refuses_nan_from_any_caller(web_engine: Engine) -> None:
    from engine import FormInvalid

    with pytest.raises(FormInvalid) as err:
        web_engine.start("simple", {"subject": "Broken tap", "ref": "R-1", "customer_id": "C1",
                                    "extra": {"score": float("nan")}}, "alice")
    assert err.value.details == {"extra.score": ["not a finite number (NaN and Infinity cannot be stored)"]}
