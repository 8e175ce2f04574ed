"""Drive cases down random valid paths: random form data from each task's JSON Schema, claims, timers and
messages. The golden-history recorder and the replay property test share it."""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine import Engine, EngineError, FakeClock, FormInvalid, Task

WORDS = ("kettle", "invoice", "late", "rude", "broken", "leak", "noise", "refund", "cable", "router", "meter",
         "delay", "billing", "visit", "engineer", "paint", "door", "screen", "heater", "fan")


def sentence(rnd: random.Random, words: int = 4) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, words)))


def form_data(schema: Mapping[str, Any], rnd: random.Random, now: datetime,
              hints: Mapping[str, Callable[[random.Random], Any]] | None = None) -> dict[str, Any]:
    """Random data that the form's JSON Schema accepts (required fields always, optional ones sometimes)."""
    hints = hints or {}
    props: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    out: dict[str, Any] = {}
    for name, prop in props.items():
        if name in required or rnd.random() < 0.5:
            out[name] = hints[name](rnd) if name in hints else value_for(prop, rnd, now)
    # Conditional requirements (allOf: if/then) depend on the values chosen above.
    for rule in schema.get("allOf") or []:
        cond = (rule.get("if") or {}).get("properties") or {}
        if all(k in out and _matches(out[k], v) for k, v in cond.items()):
            for name in (rule.get("then") or {}).get("required") or []:
                if name not in out:
                    out[name] = hints[name](rnd) if name in hints else value_for(props.get(name, {}), rnd, now)
    return out


def _matches(value: Any, spec: Mapping[str, Any]) -> bool:
    if "const" in spec:
        return bool(value == spec["const"])
    if "enum" in spec:
        return value in spec["enum"]
    return True


def value_for(prop: Mapping[str, Any], rnd: random.Random, now: datetime) -> Any:
    if "const" in prop:
        return prop["const"]
    if "enum" in prop:
        return rnd.choice(list(prop["enum"]))
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "boolean":
        return rnd.random() < 0.5
    if kind in ("integer", "number"):
        low = int(prop.get("minimum", 0))
        high = int(prop.get("maximum", low + 10))
        return rnd.randint(low, high)
    if kind == "array":
        low = int(prop.get("minItems", 0))
        high = int(prop.get("maxItems", low + 2))
        return [value_for(prop.get("items") or {}, rnd, now) for _ in range(rnd.randint(low, high))]
    if kind == "object":
        return form_data(prop, rnd, now)
    fmt = prop.get("format")
    if fmt == "date-time":
        return (now + timedelta(minutes=rnd.randint(10, 72 * 60))).replace(microsecond=0).isoformat()
    if fmt == "date":
        return (now + timedelta(days=rnd.randint(1, 30))).date().isoformat()
    if fmt == "email":
        return f"{rnd.choice(WORDS)}@example.com"
    text = sentence(rnd)
    low, high = int(prop.get("minLength", 0)), int(prop.get("maxLength", 200))
    text = (text + " " + "x" * low)[: max(high, low)] if len(text) < low else text[:high]
    return text


@dataclass
class Driver:
    """Random but valid actions on a live engine, a step at a time."""

    engine: Engine
    clock: FakeClock
    rnd: random.Random
    customers: Sequence[str]
    log: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _numbers: int = 0

    def hints(self) -> dict[str, Callable[[random.Random], Any]]:
        def case_no(rnd: random.Random) -> str:
            self._numbers += 1
            return f"CASE-{self._numbers:04d}-{''.join(rnd.choice(string.ascii_uppercase) for _ in range(3))}"

        return {"customer_id": lambda rnd: rnd.choice(list(self.customers)), "case_no": case_no, "ref": case_no,
                "order_no": case_no}

    def start(self, process_id: str) -> str:
        definition = self.engine.definition(process_id)
        schema = definition.start_form or {"type": "object", "properties": {}}
        actor = self._starter(definition.starters)
        data = form_data(schema, self.rnd, self.clock.now(), self.hints())
        inst = self.engine.start(process_id, data, actor)
        self.log.append(f"start {process_id} as {actor}")
        return inst.id

    def _starter(self, starters: Sequence[str]) -> str:
        for group in self.engine.groups():
            if group.id in starters and group.members:
                return self.rnd.choice(sorted(group.members))
        return "system"

    def actor_for(self, task: Task) -> str:
        if task.assignee:
            return task.assignee
        members = next((g.members for g in self.engine.groups() if g.id == task.group), ())
        if members:
            return self.rnd.choice(sorted(members))
        return next(u.username for u in self.engine.users() if "admin" in u.roles)

    def complete(self, task: Task) -> None:
        data = form_data(task.form, self.rnd, self.clock.now(), self.hints())
        try:
            self.engine.complete(task.id, data, self.actor_for(task))
        except FormInvalid:
            # The generator could not satisfy a rule it does not know; a valid minimal answer instead.
            self.engine.complete(task.id, form_data({**task.form, "properties": {
                k: v for k, v in (task.form.get("properties") or {}).items()
                if k in (task.form.get("required") or [])}}, self.rnd, self.clock.now(), self.hints()),
                self.actor_for(task))
        self.log.append(f"complete {task.element_id}")

    def run_due(self) -> int:
        """Like Engine.run_due, but one message whose process fails does not hold up the rest.

        A command whose process fails rolls back and records nothing, so the log stays valid.
        """
        done = 0
        for _ in range(200):
            progressed = False
            for message in self.engine.messages(status="pending"):
                try:
                    if self.engine.deliver_message(message.id) is not None:
                        done, progressed = done + 1, True
                except EngineError as err:
                    self.failures.append(f"message {message.name}: {err}")
            due = [t for t in self.engine.timers() if t.due_at <= self.clock.now()]
            if due:
                try:
                    if self.engine.fire_timer(due[0].id):
                        done += 1
                except EngineError as err:
                    self.failures.append(f"timer {due[0].element_id}: {err}")
                    return done
                progressed = True
            if not progressed:
                break
        return done

    def step(self, instance_ids: Sequence[str] | None = None) -> str:
        """One random action: complete, claim or unclaim a task, or let time pass and run what is due."""
        tasks = [t for t in self.engine.tasks() if instance_ids is None or t.instance_id in instance_ids]
        roll = self.rnd.random()
        if tasks and roll < 0.6:
            task = self.rnd.choice(tasks)
            self.complete(self.engine.task(task.id))
            return "complete"
        if tasks and roll < 0.7:
            task = self.rnd.choice(tasks)
            try:
                if task.assignee:
                    self.engine.unclaim(task.id, task.assignee)
                else:
                    self.engine.claim(task.id, self.actor_for(task))
            except EngineError:
                return "noop"
            self.log.append(f"claim/unclaim {task.element_id}")
            return "claim"
        self.clock.advance(minutes=self.rnd.choice([30, 90, 240, 600, 1440, 3000]))
        fired = self.run_due()
        self.log.append(f"advance to {self.clock.now().isoformat()}, {fired} due actions")
        return "time"
