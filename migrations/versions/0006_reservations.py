"""reservations: an agent held for one call, device state, the queue's order

Revision ID: c3d4e5f60006
Revises: a9e1c0de0005
Create Date: 2026-11-29 13:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c3d4e5f60006'
down_revision = 'a9e1c0de0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('presence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_registered', sa.Boolean(), nullable=True))
        batch_op.create_index(batch_op.f('ix_presence_call_sid'), ['call_sid'], unique=False)
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            'ix_calls_queue', ['line', 'queued_at'], unique=False,
            postgresql_where=sa.text('queued_at IS NOT NULL'),
            sqlite_where=sa.text('queued_at IS NOT NULL'),
        )


def downgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_queue')
        batch_op.drop_column('queued_at')
    with op.batch_alter_table('presence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_presence_call_sid'))
        batch_op.drop_column('device_registered')
