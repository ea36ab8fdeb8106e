"""query indexes: list filters newest first, histories, live queue, outbox, retention

Revision ID: a9e1c0de0005
Revises: 6ef9f6df65d2
Create Date: 2026-11-29 13:00:00.000000

"""
import contextlib

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9e1c0de0005'
down_revision = '6ef9f6df65d2'
branch_labels = None
depends_on = None

# Partial indexes (PostgreSQL and SQLite both have them): only the few rows the
# live queue and the outbox flush look for.
WAITING_FOR_AGENT = sa.text("intent = 'agent' AND agent_id IS NULL")
UNSENT = sa.text(
    "direction = 'outbound' AND message_sid IS NULL"
    " AND status IN ('queued', 'sending')"
)

# Single-column indexes that a composite one below starts with.
REPLACED = [
    ('tickets', 'ix_tickets_caller_id', ['caller_id']),
    ('tickets', 'ix_tickets_category', ['category']),
    ('tickets', 'ix_tickets_created_at', ['created_at']),
    ('tickets', 'ix_tickets_line', ['line']),
    ('calls', 'ix_calls_caller_id', ['caller_id']),
    ('messages', 'ix_messages_caller_id', ['caller_id']),
]
NEWEST_FIRST = ['created_at', 'id']
CREATED = [
    ('tickets', 'ix_tickets_created_at_id', NEWEST_FIRST),
    ('tickets', 'ix_tickets_status_created_at', ['status', *NEWEST_FIRST]),
    ('tickets', 'ix_tickets_assignee_created_at', ['assignee_id', *NEWEST_FIRST]),
    ('tickets', 'ix_tickets_caller_created_at', ['caller_id', *NEWEST_FIRST]),
    ('tickets', 'ix_tickets_line_created_at', ['line', *NEWEST_FIRST]),
    ('tickets', 'ix_tickets_category_created_at', ['category', *NEWEST_FIRST]),
    ('calls', 'ix_calls_caller_started_at', ['caller_id', 'started_at']),
    ('calls', 'ix_calls_agent_started_at', ['agent_id', 'started_at']),
    ('messages', 'ix_messages_caller_created_at', ['caller_id', 'created_at']),
    (
        'recordings',
        'ix_recordings_media_status_created_at',
        ['media_status', 'created_at'],
    ),
]


def _concurrently():
    """On PostgreSQL, build and drop without blocking writes: a centre's tables are
    large when it upgrades, and a CREATE INDEX holds back every new call and
    ticket until it ends (at a million tickets the upgrade takes some 25 s).
    CONCURRENTLY cannot run in a transaction, hence the autocommit block; an
    upgrade cut short leaves the indexes built so far (one possibly INVALID):
    drop those and run it again. SQLite has no such lock to avoid."""
    context = op.get_context()
    if context.dialect.name == 'postgresql':
        return context.autocommit_block(), {'postgresql_concurrently': True}
    return contextlib.nullcontext(), {}


def upgrade():
    block, options = _concurrently()
    with block:
        for table, name, columns in CREATED:
            op.create_index(name, table, columns, unique=False, **options)
        op.create_index(
            'ix_calls_waiting',
            'calls',
            ['started_at'],
            unique=False,
            postgresql_where=WAITING_FOR_AGENT,
            sqlite_where=WAITING_FOR_AGENT,
            **options,
        )
        op.create_index(
            'ix_messages_outbox',
            'messages',
            ['status', 'created_at'],
            unique=False,
            postgresql_where=UNSENT,
            sqlite_where=UNSENT,
            **options,
        )
        for table, name, _ in REPLACED:
            op.drop_index(name, table_name=table, **options)


def downgrade():
    block, options = _concurrently()
    with block:
        for table, name, columns in REPLACED:
            op.create_index(name, table, columns, unique=False, **options)
        op.drop_index('ix_messages_outbox', table_name='messages', **options)
        op.drop_index('ix_calls_waiting', table_name='calls', **options)
        for table, name, _ in reversed(CREATED):
            op.drop_index(name, table_name=table, **options)
