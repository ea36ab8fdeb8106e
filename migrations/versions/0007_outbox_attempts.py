"""outbox attempts: a text owns its retries (attempts, next attempt, last error)

Revision ID: d4e5f6070007
Revises: c3d4e5f60006
Create Date: 2026-11-29 15:50:00

"""
import contextlib

from alembic import op
import sqlalchemy as sa


revision = 'd4e5f6070007'
down_revision = 'c3d4e5f60006'
branch_labels = None
depends_on = None

UNSENT = sa.text(
    "direction = 'outbound' AND message_sid IS NULL"
    " AND status IN ('queued', 'sending')"
)
HELD = sa.text("status = 'held'")


def _concurrently():
    """As in 0005: on PostgreSQL, indexes are built without blocking writes."""
    context = op.get_context()
    if context.dialect.name == 'postgresql':
        return context.autocommit_block(), {'postgresql_concurrently': True}
    return contextlib.nullcontext(), {}


def upgrade():
    # Nullable columns, and a server default for attempts: no table rewrite on
    # PostgreSQL 11+, whatever the number of messages.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('attempts', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column('last_error', sa.String(length=200), nullable=True))
        # "retries_exhausted" is 17 characters: PostgreSQL refused it in 16.
        batch_op.alter_column(
            'error_code', existing_type=sa.String(length=16), type_=sa.String(length=32)
        )
    block, options = _concurrently()
    with block:
        op.create_index(
            'ix_messages_outbox_due', 'messages', ['next_attempt_at'], unique=False,
            postgresql_where=UNSENT, sqlite_where=UNSENT, **options,
        )
        op.create_index(
            'ix_messages_held', 'messages', ['id'], unique=False,
            postgresql_where=HELD, sqlite_where=HELD, **options,
        )


def downgrade():
    block, options = _concurrently()
    with block:
        op.drop_index('ix_messages_held', table_name='messages', **options)
        op.drop_index('ix_messages_outbox_due', table_name='messages', **options)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        # error_code stays 32 wide: "retries_exhausted" rows would not fit in 16.
        batch_op.drop_column('last_error')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
