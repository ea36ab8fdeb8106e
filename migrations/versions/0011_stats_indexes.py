"""stats indexes: the voicemails of calls, the tickets of a call, a service's
tickets newest first (CONTRACT §10)

Revision ID: b2c3d4e50011
Revises: a1b2c3d40010
Create Date: 2026-11-29 22:00:00

"""
import contextlib

from alembic import op
import sqlalchemy as sa


revision = 'b2c3d4e50011'
down_revision = 'a1b2c3d40010'
branch_labels = None
depends_on = None

# /api/stats asks of every call of the period whether it left a voice message:
# with only the voicemails' call ids in the index, the answer is read from the
# index alone, and the plan's cost stays under PostgreSQL's JIT thresholds (a
# month's figures spent 160 ms of their 370 compiling at a million tickets).
VOICEMAIL = sa.text("purpose = 'voicemail'")


def _concurrently():
    """As in 0005: build without blocking writes on PostgreSQL."""
    context = op.get_context()
    if context.dialect.name == 'postgresql':
        return context.autocommit_block(), {'postgresql_concurrently': True}
    return contextlib.nullcontext(), {}


def upgrade():
    block, options = _concurrently()
    with block:
        op.create_index(
            'ix_recordings_voicemail_call_id',
            'recordings',
            ['call_id'],
            unique=False,
            postgresql_where=VOICEMAIL,
            sqlite_where=VOICEMAIL,
            **options,
        )
        # A service's calls are those of its tickets: found from the call (the
        # primary key starts with the ticket; the table was read whole, 440 ms
        # of a month's figures for one service).
        op.create_index(
            'ix_ticket_calls_call_id', 'ticket_calls', ['call_id'], **options
        )
        # A service's tickets, their ids read from the index alone when its
        # calls, ratings and texts are counted; and a service's list newest
        # first. It starts as the single-column index it replaces.
        op.create_index(
            'ix_tickets_service_created_at',
            'tickets',
            ['service_id', 'created_at', 'id'],
            **options,
        )
        op.drop_index('ix_tickets_service_id', table_name='tickets', **options)


def downgrade():
    block, options = _concurrently()
    with block:
        op.create_index(
            'ix_tickets_service_id', 'tickets', ['service_id'], **options
        )
        op.drop_index(
            'ix_tickets_service_created_at', table_name='tickets', **options
        )
        op.drop_index('ix_ticket_calls_call_id', table_name='ticket_calls', **options)
        op.drop_index(
            'ix_recordings_voicemail_call_id', table_name='recordings', **options
        )
