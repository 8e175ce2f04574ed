"""One case per business key and process: a second complaint with the same number is refused.

`instances.unique_key` repeats the business key of cases whose process demands uniqueness (every process
with a business key unless its manifest says `business_key_unique: false`), under a unique index. Databases
written before this rule may hold duplicates: the oldest case holds the key, the later ones keep their
business key (and all their data) but hold none, so nothing is lost and the index can be built.

Revision ID: unique_business_keys
Revises: server_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "unique_business_keys"
down_revision = "server_sessions"
branch_labels = None
depends_on = None

INDEX = "ux_instances_process_unique_key"


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("unique_key", sa.String(length=200), nullable=True))
    bind = op.get_bind()
    definitions = sa.table("definitions", sa.column("id", sa.Integer), sa.column("manifest", sa.JSON))
    instances = sa.table("instances", sa.column("id", sa.String), sa.column("definition_id", sa.Integer),
                         sa.column("process_id", sa.String), sa.column("business_key", sa.String),
                         sa.column("unique_key", sa.String), sa.column("created_at", sa.DateTime))
    for definition_id, manifest in bind.execute(sa.select(definitions.c.id, definitions.c.manifest)).all():
        if manifest and manifest.get("business_key") and manifest.get("business_key_unique", True) is not False:
            bind.execute(instances.update().where(instances.c.definition_id == definition_id)
                         .values(unique_key=instances.c.business_key))
    dupes = (sa.select(instances.c.process_id, instances.c.unique_key).where(instances.c.unique_key.is_not(None))
             .group_by(instances.c.process_id, instances.c.unique_key).having(sa.func.count() > 1))
    for process_id, key in bind.execute(dupes).all():
        later = bind.execute(sa.select(instances.c.id).where(
            instances.c.process_id == process_id, instances.c.unique_key == key).order_by(
            instances.c.created_at, instances.c.id)).scalars().all()[1:]
        bind.execute(instances.update().where(instances.c.id.in_(later)).values(unique_key=None))
    with op.batch_alter_table("instances") as batch:
        batch.create_index(INDEX, ["process_id", "unique_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_index(INDEX)
        batch.drop_column("unique_key")
