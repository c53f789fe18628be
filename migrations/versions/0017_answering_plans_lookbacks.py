"""answering plans (a unit answers a plan with its own; problems answer received tasks;
a report may be met by the answering plan) and look-backs (回头看) after closure

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa
import app.models.base


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lookbacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('closed_seq', sa.Integer(), nullable=False),
    sa.Column('closed_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('checked_by_id', sa.Integer(), nullable=True),
    sa.Column('checked_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('active_since', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('swept_until', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('public_notice', sa.Boolean(), nullable=False),
    sa.Column('next_action_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['checked_by_id'], ['users.id'], name=op.f('fk_lookbacks_checked_by_id_users')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_lookbacks_plan_id_plans')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_lookbacks_task_id_tasks')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_lookbacks_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lookbacks')),
    sa.UniqueConstraint('task_id', 'closed_seq', name=op.f('uq_lookbacks_task_id_closed_seq'))
    )
    with op.batch_alter_table('lookbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lookbacks_next_action_at'), ['next_action_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lookbacks_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lookbacks_task_id'), ['task_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lookbacks_unit_id'), ['unit_id'], unique=False)

    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answers_plan_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('holds_received', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('supervised_above', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_index(batch_op.f('ix_plans_answers_plan_id'), ['answers_plan_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_plans_answers_plan_id_plans'), 'plans', ['answers_plan_id'], ['id'])

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answers_task_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_problems_answers_task_id'), ['answers_task_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_problems_answers_task_id_tasks'), 'tasks', ['answers_task_id'], ['id'])

    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer_plan_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_submissions_answer_plan_id_plans'), 'plans', ['answer_plan_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_submissions_answer_plan_id_plans'), type_='foreignkey')
        batch_op.drop_column('answer_plan_id')

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_problems_answers_task_id_tasks'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_problems_answers_task_id'))
        batch_op.drop_column('answers_task_id')

    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_plans_answers_plan_id_plans'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_plans_answers_plan_id'))
        batch_op.drop_column('supervised_above')
        batch_op.drop_column('holds_received')
        batch_op.drop_column('answers_plan_id')

    with op.batch_alter_table('lookbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lookbacks_unit_id'))
        batch_op.drop_index(batch_op.f('ix_lookbacks_task_id'))
        batch_op.drop_index(batch_op.f('ix_lookbacks_plan_id'))
        batch_op.drop_index(batch_op.f('ix_lookbacks_next_action_at'))

    op.drop_table('lookbacks')
