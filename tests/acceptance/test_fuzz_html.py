"""Hypothesis on every HTML endpoint (every form post and every page's query string) as each role and
anonymously: whatever is sent, no answer is a 5xx. The API is fuzzed from its OpenAPI document by
schemathesis in test_api_schema. Bounded: a few examples per endpoint and role."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Engine

from .conftest import Browser, open_task, start_simple

ROLES = ("anonymous", "alice", "hana", "sam", "audrey", "root")
FIELDS = ("subject", "ref", "customer_id", "amount", "ok", "note", "email", "assignee", "password", "username",
          "name", "groups", "roles", "active", "next", "language", "reason", "topic", "approve_due", "list",
          "q", "page", "status", "process", "group", "since", "until", "field", "format", "instance")
NASTY = st.sampled_from(["", "0", "-1", "1e999", "nan", "Infinity", "true", "null", "9" * 5000, "../../etc/passwd",
                         "<script>alert(1)</script>", "' OR 1=1 --", "\u0000", "\ud7ff\ue000", "P999999999D",
                         "PT" + "9" * 12 + "H", "9999-12-31T23:59:59-12:00", "desk", "bob", "alice", "{}", "[]"])
VALUES = st.one_of(NASTY, st.text(max_size=40))
BODIES = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=12)),
                         st.one_of(VALUES, st.lists(VALUES, max_size=3)), max_size=6)
SEEN: Counter[str] = Counter()


def endpoints(app: Flask) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, rule, argument names) of every HTML route."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("api.", "static")):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, tuple(sorted(rule.arguments))))
    return found


def path_for(rule: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        rule = rule.replace(f"<int:{name}>", value).replace(f"<{name}>", value)
    return rule


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_every_html_endpoint_answers_below_500_whatever_each_role_sends(
        app: Flask, as_user: Callable[[str], Browser], web_engine: Engine, role: str) -> None:
    instance_id = start_simple(web_engine)
    task = open_task(web_engine, instance_id, "review")
    web_engine.claim(task.id, "alice")
    real = {"task_id": [task.id], "instance_id": [instance_id], "process_id": ["simple", "widgets"],
            "username": ["bob"], "version": ["1", "99999999999999999999"], "seq": ["1", "0", "99999999999"]}
    args = {name: st.one_of(st.sampled_from(values), st.text(alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters="/?#%"), min_size=1, max_size=20))
        for name, values in real.items()}
    failures: list[str] = []

    def fuzz(method: str, rule: str, names: tuple[str, ...]) -> Callable[[], None]:
        @given(path=st.fixed_dictionaries({n: args[n] for n in names}), body=BODIES)
        @settings(max_examples=4, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(path: dict[str, str], body: dict[str, Any]) -> None:
            browser = Browser(app.test_client()) if role == "anonymous" else as_user(role)
            url = path_for(rule, path)
            response = browser.get(url, query_string=body) if method == "GET" else browser.post(url, body)
            SEEN["requests"] += 1
            if response.status_code >= 500:
                failures.append(f"{method} {url} {json.dumps(body)[:200]} -> {response.status_code}")

        return call  # type: ignore[no-any-return]

    for method, rule, names in endpoints(app):
        fuzz(method, rule, names)()
    SEEN[f"role:{role}"] += 1
    record(role, failures)
    assert failures == []


def record(role: str, failures: list[str]) -> None:
    """Append this role's counts to var/fuzz-html.jsonl (kept out of git) for the closing note."""
    out = Path(__file__).resolve().parents[2] / "var" / "fuzz-html.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps({"role": role, "requests": SEEN["requests"], "5xx": len(failures)}) + "\n")
    SEEN["requests"] = 0
