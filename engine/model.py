"""Frozen results the engine returns. Never ORM rows: callers cannot reach back into a session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Definition:
    id: int
    process_id: str
    version: int
    name: str
    content_hash: str
    deployed_at: datetime
    deployed_by: str
    start_form: dict[str, Any] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    starters: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeployResult:
    process_id: str
    version: int
    created: bool
    content_hash: str


@dataclass(frozen=True)
class Instance:
    id: str
    process_id: str
    definition_version: int
    business_key: str | None
    title: str
    status: str  # running | completed | terminated | failed
    data: dict[str, Any]
    fields: dict[str, Any]
    version: int
    started_by: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class Task:
    id: str
    instance_id: str
    process_id: str
    element_id: str
    name: str
    lane: str | None
    group: str | None
    assignee: str | None
    status: str  # ready | completed | cancelled
    due_at: datetime | None
    priority: int
    form: dict[str, Any]
    created_at: datetime
    title: str = ""
    completed_at: datetime | None = None
    completed_by: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status == "ready"


@dataclass(frozen=True)
class Timer:
    id: int
    instance_id: str
    element_id: str
    due_at: datetime
    status: str  # pending | fired | cancelled
    lease_owner: str | None
    lease_until: datetime | None
    attempts: int
    fired_at: datetime | None = None


@dataclass(frozen=True)
class Message:
    id: int
    name: str
    correlation_key: str | None
    payload: dict[str, Any]
    status: str  # pending | delivered | failed
    source_instance_id: str | None
    target_instance_id: str | None
    created_at: datetime
    delivered_at: datetime | None = None
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Event:
    instance_id: str
    seq: int
    at: datetime
    actor: str
    type: str
    payload: dict[str, Any]
    state_hash: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class User:
    username: str
    name: str
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    active: bool = True
    locale: str | None = None  # the language chosen on the account page; None: the browser's


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    members: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()
    names: dict[str, str] = field(default_factory=dict)  # locale -> name

    def name_in(self, locale: str | None) -> str:
        """The group's name in a language (`zh_CN`), else its own."""
        return self.names.get(locale or "", self.name)
