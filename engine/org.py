"""The organisation: groups, users, calendars and reference-data stores, seeded from org.yaml."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import secrets
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import settings
from .archive import load_yaml
from .calendar import BusinessCalendar
from .definitions import _yaml_lines, load_schema, schema_problems
from .errors import InvalidInput, PackageInvalid, Problem
from .store import CalendarRow, GroupRow, MembershipRow, ReferenceRow, UserRow


def hash_password(password: str, *, salt: str | None = None) -> str:
    """A salted PBKDF2 hash that records its own round count, so the setting can change later."""
    rounds = settings.get_int("FLOWDESK_PASSWORD_HASH_ROUNDS")
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), rounds).hex()
    return f"pbkdf2_sha256${rounds}${salt}${digest}"


def check_password(stored: str | None, password: str) -> bool:
    if not stored or stored.count("$") != 3:
        return False
    _algo, rounds, salt, digest = stored.split("$")
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(rounds)).hex()
    return hmac.compare_digest(candidate, digest)


def load_org_file(path: str | Path) -> dict[str, Any]:
    """Read and validate org.yaml; raises PackageInvalid with every problem and its line."""
    path = Path(path)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PackageInvalid([Problem(label, f"cannot read: {err.strerror}")]) from err
    try:
        org = load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise PackageInvalid([Problem(label, f"not valid YAML: {err}", line=mark.line + 1 if mark else None)]) from err
    lines = _yaml_lines(text)
    problems = []
    for p, message in schema_problems(Draft202012Validator(load_schema("org.schema.json")), org):
        problems.append(Problem(label, f"{'/'.join(p) or '(top)'}: {message}", "/".join(p) or None, lines.get(p)))
    if problems:
        raise PackageInvalid(problems)
    groups = set(org.get("groups") or {})
    for username, user in (org.get("users") or {}).items():
        for g in user.get("groups", []):
            if g not in groups:
                problems.append(Problem(label, f"user {username!r} is in unknown group {g!r}", username,
                                        lines.get(("users", username, "groups"))))
    for name, cfg in (org.get("calendars") or {}).items():
        try:
            BusinessCalendar.from_config(name, cfg)
        except ValueError as err:
            problems.append(Problem(label, str(err), name, lines.get(("calendars", name))))
    for name, store in (org.get("stores") or {}).items():
        seed = store.get("seed")
        if seed and not (path.parent / seed).exists():
            problems.append(Problem(label, f"store {name!r}: seed file {seed!r} not found", name,
                                    lines.get(("stores", name, "seed"))))
    if problems:
        raise PackageInvalid(problems)
    org["_root"] = str(path.parent)
    return dict(org)


def apply_org(session: Session, org: Mapping[str, Any]) -> dict[str, int]:
    """Upsert groups, users, memberships and calendars; users keep a password they changed."""
    for gid, g in org.get("groups", {}).items():
        row = session.get(GroupRow, gid) or GroupRow(id=gid)
        row.name, row.description = g["name"], g.get("description", "")
        row.supervisors = list(g.get("supervisors", []))
        row.names = dict(g.get("names") or {})
        session.add(row)
    session.flush()
    for username, u in org.get("users", {}).items():
        user_row = session.get(UserRow, username)
        if user_row is None:
            user_row = UserRow(username=username,
                               password_hash=hash_password(u["password"]) if u.get("password") else None)
        user_row.name, user_row.email = u["name"], u.get("email")
        user_row.roles = list(u.get("roles", ["staff"]))
        user_row.skill = int(u.get("skill", 3))
        user_row.active = True
        session.add(user_row)
        session.flush()
        session.execute(delete(MembershipRow).where(MembershipRow.username == username))
        for g in u.get("groups", []):
            session.add(MembershipRow(username=username, group_id=g))
    session.info.pop(_CALENDARS, None)
    for name, cfg in (org.get("calendars") or {}).items():
        row_c = session.get(CalendarRow, name) or CalendarRow(name=name)
        row_c.config = _jsonable(cfg)
        session.add(row_c)
    imported = 0
    root = Path(org.get("_root", "."))
    for store, cfg in (org.get("stores") or {}).items():
        if cfg.get("seed"):
            imported += import_csv(session, store, cfg, (root / cfg["seed"]).read_text(encoding="utf-8"))
    return {"groups": len(org.get("groups", {})), "users": len(org.get("users", {})), "records": imported}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _convert(value: str, schema: Mapping[str, Any]) -> Any:
    """A CSV cell as the store's record schema wants it."""
    kinds = schema.get("type", "string")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    text = value.strip()
    if text == "" and "null" in kinds:
        return None
    if "boolean" in kinds:
        if text.lower() in {"true", "yes", "1", "y"}:
            return True
        if text.lower() in {"false", "no", "0", "n", ""}:
            return False
    if "integer" in kinds:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in kinds:
        try:
            return float(text)
        except ValueError:
            pass
    return text


def import_csv(session: Session, store: str, cfg: Mapping[str, Any], text: str) -> int:
    """Upsert every row of a CSV into a reference store; all rows are checked before any is written."""
    schema = cfg["schema"]
    props = schema.get("properties", {})
    key = cfg["key"]
    validator = Draft202012Validator(schema)
    reader = csv.DictReader(io.StringIO(text))
    rows: list[dict[str, Any]] = []
    errors: list[Problem] = []
    for n, raw in enumerate(reader, start=2):
        record = {k: _convert(v or "", props.get(k, {})) for k, v in raw.items() if k is not None}
        for err in validator.iter_errors(record):
            errors.append(Problem(f"{store}.csv", err.message, str(record.get(key)), n))
        if not record.get(key):
            errors.append(Problem(f"{store}.csv", f"missing key column {key!r}", None, n))
        rows.append(record)
    if errors:
        raise PackageInvalid(errors)
    for record in rows:
        row = session.get(ReferenceRow, (store, str(record[key]))) or ReferenceRow(store=store, key=str(record[key]))
        row.data = record
        session.add(row)
    return len(rows)


def lookup(session: Session, store: str, key: str) -> dict[str, Any] | None:
    row = session.get(ReferenceRow, (store, str(key)))
    return dict(row.data) if row else None


def records(session: Session, store: str) -> list[dict[str, Any]]:
    return [dict(r.data) for r in session.scalars(select(ReferenceRow).where(ReferenceRow.store == store)
                                                  .order_by(ReferenceRow.key))]


_CALENDARS = "flowdesk.calendars"


def calendars(session: Session) -> dict[str, BusinessCalendar]:
    """The business calendars, read once per session (a command asks several times) and parsed once per content."""
    found: dict[str, BusinessCalendar] | None = session.info.get(_CALENDARS)
    if found is None:
        found = {r.name: _calendar(r.name, json.dumps(r.config, sort_keys=True))
                 for r in session.scalars(select(CalendarRow))}
        session.info[_CALENDARS] = found
    return found


@lru_cache(maxsize=64)
def _calendar(name: str, config: str) -> BusinessCalendar:
    return BusinessCalendar.from_config(name, json.loads(config))


def members(session: Session, group: str) -> list[str]:
    return list(session.scalars(
        select(MembershipRow.username).join(UserRow, UserRow.username == MembershipRow.username)
        .where(MembershipRow.group_id == group, UserRow.active.is_(True)).order_by(MembershipRow.username)
    ))


def groups_of(session: Session, username: str) -> list[str]:
    return list(session.scalars(select(MembershipRow.group_id).where(MembershipRow.username == username)
                                .order_by(MembershipRow.group_id)))


def require_user(session: Session, username: str) -> UserRow:
    row = session.get(UserRow, username)
    if row is None or not row.active:
        raise InvalidInput(f"unknown user {username!r}")
    return row


def supervised_groups(session: Session, username: str) -> set[str]:
    """Groups this user supervises: their own groups if they are a supervisor, plus groups naming theirs."""
    user = session.get(UserRow, username)
    if user is None:
        return set()
    own = set(groups_of(session, username))
    result = set(own) if "supervisor" in (user.roles or []) else set()
    for g in session.scalars(select(GroupRow)):
        if own.intersection(g.supervisors or []):
            result.add(g.id)
    return result


def known(session: Session, ids: Iterable[str]) -> set[str]:
    return set(session.scalars(select(GroupRow.id).where(GroupRow.id.in_(list(ids)))))
