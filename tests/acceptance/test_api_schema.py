"""Schemathesis drives the API from its OpenAPI document, authenticated: no 5xx, no answer the document forbids."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from engine import Engine
from web.openapi import document

from .conftest import open_task, start_simple

OPERATIONS = [(path, method) for path, ops in document()["paths"].items() for method in ops]
# A package upload is any bytes by its schema; whether they make a valid package only the engine can tell,
# and it answers 422 with every problem (documented). Every other check still applies to these operations.
CONTENT_CHECKED_BY_THE_ENGINE = {("/definitions", "post")}


@pytest.fixture
def api(app: Flask, web_engine: Engine) -> tuple[Any, dict[str, str]]:
    # Some real data, so that lists are not empty.
    instance_id = start_simple(web_engine)
    web_engine.claim(open_task(web_engine, instance_id, "review").id, "alice")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return schema, {"Authorization": f"Bearer {web_engine.create_token('root')}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_the_api_keeps_to_its_document(api: tuple[Any, dict[str, str]], path: str, method: str,
                                       mode: GenerationMode) -> None:
    schema, auth = api
    operation = schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=10, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case) -> None:
        excluded = [positive_data_acceptance] if (path, method) in CONTENT_CHECKED_BY_THE_ENGINE else []
        case.call_and_validate(headers=auth, excluded_checks=excluded)

    call()
