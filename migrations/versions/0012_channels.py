"""every channel, one reference (CONTRACT §9): the receipts that make each
inbound item taken once, the files attached to requests, and the e-mail address
that filed a request

Revision ID: c3d4e5f60012
Revises: b2c3d4e50011
Create Date: 2026-11-29 21:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c3d4e5f60012'
down_revision = 'b2c3d4e50011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'channel_receipts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_channel_receipts_ticket_id', 'channel_receipts', ['ticket_id'])
    op.create_table(
        'attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=127), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('storage_key', sa.String(length=128), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_attachments_ticket_id', 'attachments', ['ticket_id'])
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('contact_email', sa.String(length=254), nullable=True))


def downgrade():
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('contact_email')
    op.drop_index('ix_attachments_ticket_id', table_name='attachments')
    op.drop_table('attachments')
    op.drop_index('ix_channel_receipts_ticket_id', table_name='channel_receipts')
    op.drop_table('channel_receipts')
