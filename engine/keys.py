"""Business keys: one case per key and process (a complaint number is given once).

The unique index over (process_id, unique_key) is the rule; `unique_key` repeats the business key unless the
manifest says `business_key_unique: false` (a return visit's key names the case it follows, and a campaign
visits many customers under one). This module asks first so the refusal names the case that already has
the key, and translates the index's refusal when two starts race.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import Conflict, DuplicateBusinessKey
from .store import InstanceRow

INDEX = "ux_instances_process_unique_key"


def is_unique(manifest: Mapping[str, Any]) -> bool:
    return bool(manifest.get("business_key")) and manifest.get("business_key_unique", True) is not False


def holder(s: Session, process_id: str, key: str, *, other_than: str | None = None) -> str | None:
    """The id of the case of this process that holds this business key, if any."""
    query = select(InstanceRow.id).where(InstanceRow.process_id == process_id, InstanceRow.unique_key == key)
    if other_than is not None:
        query = query.where(InstanceRow.id != other_than)
    return s.scalar(query.limit(1))


def claim(s: Session, row: InstanceRow, key: str | None, manifest: Mapping[str, Any]) -> None:
    """Give the case its business key, refused with the existing case when another one holds it."""
    row.business_key = key
    if key is None or not is_unique(manifest):
        return
    existing = holder(s, row.process_id, key, other_than=row.id)
    if existing is not None:
        raise DuplicateBusinessKey(row.process_id, key, existing, str(manifest["business_key"]))
    row.unique_key = key


def is_duplicate(err: IntegrityError) -> bool:
    text = str(err.orig if err.orig is not None else err).lower()
    return INDEX in text or "instances.process_id, instances.unique_key" in text


def raced() -> Conflict:
    return Conflict("another case with this business key was started at the same time; nothing was saved")
