"""statistics: the calls' wait and talk, the tickets' resolution instant and
withdrawal, and the indexes of a period's figures (CONTRACT §10)

Revision ID: a1b2c3d40010
Revises: f607080a0009
Create Date: 2026-11-29 21:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a1b2c3d40010'
down_revision = 'f607080a0009'
branch_labels = None
depends_on = None

OPEN = sa.text("status NOT IN ('resolved', 'closed')")
FEEDBACK = sa.text("action IN ('rating', 'satisfaction_asked')")


def upgrade():
    with op.batch_alter_table('calls') as batch:
        batch.add_column(sa.Column('wanted_agent_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('wait_seconds', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('talk_seconds', sa.Integer(), nullable=True))
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column('withdrawn', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index('ix_calls_started_at', 'calls', ['started_at'])
    op.create_index('ix_tickets_resolved_at', 'tickets', ['resolved_at'])
    op.create_index(
        'ix_tickets_open_created_at', 'tickets', ['created_at'],
        postgresql_where=OPEN, sqlite_where=OPEN,
    )
    op.create_index(
        'ix_ticket_events_feedback', 'ticket_events', ['at'],
        postgresql_where=FEEDBACK, sqlite_where=FEEDBACK,
    )
    op.create_index('ix_messages_created_at', 'messages', ['created_at'])
    # What the history already says: the last resolution of each resolved or
    # closed ticket, and the tickets withdrawn as another's duplicate.
    new_status = (
        "detail ->> 'new'"
        if op.get_bind().dialect.name == 'postgresql'
        else "json_extract(detail, '$.new')"
    )
    op.execute(
        "UPDATE tickets SET resolved_at = ("
        " SELECT max(e.at) FROM ticket_events e"
        " WHERE e.ticket_id = tickets.id AND e.action = 'status'"
        f" AND {new_status.replace('detail', 'e.detail')} = 'resolved')"
        " WHERE status IN ('resolved', 'closed')"
    )
    op.execute(
        "UPDATE tickets SET withdrawn = true WHERE id IN ("
        " SELECT ticket_id FROM ticket_events WHERE action = 'duplicate')"
    )


def downgrade():
    op.drop_index('ix_messages_created_at', table_name='messages')
    op.drop_index('ix_ticket_events_feedback', table_name='ticket_events')
    op.drop_index('ix_tickets_open_created_at', table_name='tickets')
    op.drop_index('ix_tickets_resolved_at', table_name='tickets')
    op.drop_index('ix_calls_started_at', table_name='calls')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('withdrawn')
        batch.drop_column('resolved_at')
    with op.batch_alter_table('calls') as batch:
        batch.drop_column('talk_seconds')
        batch.drop_column('answered_at')
        batch.drop_column('wanted_agent_at')
        batch.drop_column('wait_seconds')
