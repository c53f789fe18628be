"""spot checks: recorded, reproducible draws of finished tasks and their re-check results

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa
import app.models.base


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('spot_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('drawn_by_id', sa.Integer(), nullable=False),
    sa.Column('drawn_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('weights', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['drawn_by_id'], ['users.id'], name=op.f('fk_spot_checks_drawn_by_id_users')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_spot_checks_plan_id_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spot_checks'))
    )
    with op.batch_alter_table('spot_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_checks_plan_id'), ['plan_id'], unique=False)

    op.create_table('spot_check_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('spot_check_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=20), nullable=False),
    sa.Column('checked_by_id', sa.Integer(), nullable=True),
    sa.Column('checked_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['checked_by_id'], ['users.id'], name=op.f('fk_spot_check_items_checked_by_id_users')),
    sa.ForeignKeyConstraint(['spot_check_id'], ['spot_checks.id'], name=op.f('fk_spot_check_items_spot_check_id_spot_checks')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_spot_check_items_task_id_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spot_check_items'))
    )
    with op.batch_alter_table('spot_check_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_check_items_spot_check_id'), ['spot_check_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('spot_check_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_check_items_spot_check_id'))

    op.drop_table('spot_check_items')
    with op.batch_alter_table('spot_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_checks_plan_id'))

    op.drop_table('spot_checks')
