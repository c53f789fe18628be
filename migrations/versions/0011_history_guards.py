"""history guards: no statement rewrites task history or the evidence it points to

0001 refused UPDATE and DELETE on task_events. That left ways round it:

* SQLite's ``INSERT OR REPLACE`` / ``REPLACE`` deletes the conflicting row without
  firing DELETE triggers (recursive_triggers is off), so a row could be swapped for a
  backdated one: a BEFORE INSERT trigger now refuses an insert whose id or (task, seq)
  exists already, on task_events and evidence alike.
* PostgreSQL's ``TRUNCATE`` (also ``TRUNCATE tasks CASCADE``) fires no row triggers: a
  statement trigger now refuses it on task_events and evidence.
* Evidence could be detached (``evidence.event_id`` set to NULL), edited or deleted. Now
  the one change allowed is attaching: event_id from NULL to an event of the same task,
  every other column unchanged; attached evidence cannot be deleted.

On PostgreSQL these guards bind everyone but the tables' owner, who could drop them:
run the application as a role that owns nothing (README, "A database role for the
application"). SQLite guards statements, not the file itself.

A later migration that rebuilds task_events or evidence on SQLite (batch mode copies the
table) drops their triggers and must create them again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

HISTORY_MESSAGE = "task_events is append-only"
EVIDENCE_MESSAGE = "evidence in the task history cannot be changed or removed"
_EVIDENCE_COLUMNS = (
    "id",
    "task_id",
    "original_name",
    "stored_name",
    "content_type",
    "size",
    "sha256",
    "uploaded_by_id",
    "uploaded_at",
)
_SQLITE_TRIGGERS = (
    "task_events_no_replace",
    "evidence_no_replace",
    "evidence_no_update",
    "evidence_no_delete",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE TRIGGER task_events_no_truncate BEFORE TRUNCATE ON task_events
            FOR EACH STATEMENT EXECUTE FUNCTION task_events_append_only();

            CREATE FUNCTION evidence_guard() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'UPDATE' AND OLD.event_id IS NULL AND NEW.event_id IS NOT NULL
                 AND to_jsonb(NEW) - 'event_id' = to_jsonb(OLD) - 'event_id'
                 AND EXISTS (SELECT 1 FROM task_events e WHERE e.id = NEW.event_id AND e.task_id = NEW.task_id) THEN
                RETURN NEW;
              END IF;
              IF TG_OP = 'DELETE' AND OLD.event_id IS NULL THEN
                RETURN OLD;
              END IF;
              RAISE EXCEPTION '{EVIDENCE_MESSAGE}';
            END; $$ LANGUAGE plpgsql;
            CREATE TRIGGER evidence_guard BEFORE UPDATE OR DELETE ON evidence
            FOR EACH ROW EXECUTE FUNCTION evidence_guard();
            CREATE TRIGGER evidence_no_truncate BEFORE TRUNCATE ON evidence
            FOR EACH STATEMENT EXECUTE FUNCTION evidence_guard();
            """
        )
        return
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _EVIDENCE_COLUMNS)
    for sql in (
        "CREATE TRIGGER task_events_no_replace BEFORE INSERT ON task_events "
        "WHEN EXISTS (SELECT 1 FROM task_events WHERE id = NEW.id OR (task_id = NEW.task_id AND seq = NEW.seq)) "
        f"BEGIN SELECT RAISE(ABORT, '{HISTORY_MESSAGE}'); END",
        "CREATE TRIGGER evidence_no_replace BEFORE INSERT ON evidence "
        "WHEN EXISTS (SELECT 1 FROM evidence WHERE id = NEW.id OR stored_name = NEW.stored_name) "
        f"BEGIN SELECT RAISE(ABORT, '{EVIDENCE_MESSAGE}'); END",
        "CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence "
        f"WHEN NOT (OLD.event_id IS NULL AND NEW.event_id IS NOT NULL AND {unchanged} "
        "AND EXISTS (SELECT 1 FROM task_events e WHERE e.id = NEW.event_id AND e.task_id = NEW.task_id)) "
        f"BEGIN SELECT RAISE(ABORT, '{EVIDENCE_MESSAGE}'); END",
        "CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence WHEN OLD.event_id IS NOT NULL "
        f"BEGIN SELECT RAISE(ABORT, '{EVIDENCE_MESSAGE}'); END",
    ):
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER evidence_no_truncate ON evidence")
        op.execute("DROP TRIGGER evidence_guard ON evidence")
        op.execute("DROP FUNCTION evidence_guard()")
        op.execute("DROP TRIGGER task_events_no_truncate ON task_events")
        return
    for name in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
