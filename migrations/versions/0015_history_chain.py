"""history chain: every task_events row a link of its task's hash chain

Adds chain_alg, chain_prev and chain_hash (app.domain.chain) and chains the history
already present, task by task in seq order, with its attached evidence, in the
algorithm of the machine that migrates (SM3, or SHA-256 without it). The append-only
trigger is lifted for that one UPDATE only: on PostgreSQL the owner disables and
enables it inside this migration's transaction; on SQLite it is dropped and created
again as 0001 made it. Columns are added in place (no batch copy), so 0011's triggers stay.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

from app.domain import chain
from app.models.base import UTCDateTime


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

APPEND_ONLY_MESSAGE = "task_events is append-only"  # as 0001 has it
_BATCH = 2000

events = sa.table(
    "task_events",
    *(sa.column(c) for c in ("id", "task_id", "seq", "kind", "from_state", "to_state", "actor_id", "comment")),
    sa.column("at", UTCDateTime()),
    sa.column("data", sa.JSON()),
    sa.column("chain_alg"),
    sa.column("chain_prev"),
    sa.column("chain_hash"),
)
evidence = sa.table("evidence", *(sa.column(c) for c in ("id", "event_id", "original_name", "size", "sha256")))


def upgrade() -> None:
    op.add_column('task_events', sa.Column('chain_alg', sa.String(length=10), nullable=True))
    op.add_column('task_events', sa.Column('chain_prev', sa.String(length=64), nullable=True))
    op.add_column('task_events', sa.Column('chain_hash', sa.String(length=64), nullable=True))
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    if pg:
        op.execute("ALTER TABLE task_events DISABLE TRIGGER task_events_no_update")
    else:
        op.execute("DROP TRIGGER task_events_no_update")
    _backfill(conn)
    if pg:
        op.execute("ALTER TABLE task_events ENABLE TRIGGER task_events_no_update")
    else:
        op.execute(
            "CREATE TRIGGER task_events_no_update BEFORE UPDATE ON task_events "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END;"
        )


def _backfill(conn) -> None:
    files: dict[int, list[dict]] = {}
    for f in conn.execute(sa.select(evidence).where(evidence.c.event_id.is_not(None))).mappings():
        files.setdefault(f["event_id"], []).append(
            {"id": f["id"], "name": f["original_name"], "size": f["size"], "sha256": f["sha256"]}
        )
    fields = [events.c[k] for k in ("id", *chain.EVENT_FIELDS)]
    rows = conn.execute(sa.select(*fields).order_by(events.c.task_id, events.c.seq)).mappings().all()
    update = (
        sa.update(events)
        .where(events.c.id == sa.bindparam("b_id"))
        .values(chain_alg=sa.bindparam("b_alg"), chain_prev=sa.bindparam("b_prev"), chain_hash=sa.bindparam("b_hash"))
    )
    batch, task, prev = [], None, None
    for row in rows:
        if row["task_id"] != task:
            task, prev = row["task_id"], None
        h = chain.link_hash(chain.ALGORITHM, row, files.get(row["id"], ()), prev)
        batch.append({"b_id": row["id"], "b_alg": chain.ALGORITHM, "b_prev": prev, "b_hash": h})
        prev = h
        if len(batch) >= _BATCH:
            conn.execute(update, batch)
            batch = []
    if batch:
        conn.execute(update, batch)


def downgrade() -> None:
    op.drop_column('task_events', 'chain_hash')
    op.drop_column('task_events', 'chain_prev')
    op.drop_column('task_events', 'chain_alg')
