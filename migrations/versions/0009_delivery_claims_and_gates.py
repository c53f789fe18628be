"""delivery that holds: claim tokens, the in-flight marker, unconfirmed hand-overs, and
one gate per destination (rate limit and platform block)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa
import app.models.base


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('in_flight_at', app.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('unconfirmed', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('possibly_sent_twice', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table('delivery_gates',
    sa.Column('destination', sa.String(length=100), nullable=False),
    sa.Column('sends', sa.JSON(), nullable=False),
    sa.Column('blocked_until', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('busy_until', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('destination', name=op.f('pk_delivery_gates'))
    )


def downgrade() -> None:
    op.drop_table('delivery_gates')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('possibly_sent_twice')
        batch_op.drop_column('unconfirmed')
        batch_op.drop_column('in_flight_at')
        batch_op.drop_column('claim_token')
