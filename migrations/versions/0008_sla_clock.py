"""the request's clock: priority, SLA plan, dues and their outcome, pauses, appeal

Revision ID: e5f607080008
Revises: d4e5f6070007
Create Date: 2026-11-29 16:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e5f607080008'
down_revision = 'd4e5f6070007'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable columns or server defaults: no table rewrite on PostgreSQL 11+.
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('priority', sa.String(length=8), nullable=False,
                      server_default='normal')
        )
        batch_op.add_column(
            sa.Column('appeal', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column('sla_plan', sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column('take_charge_due', sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column('resolve_due', sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column('take_charge_met', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('resolve_met', sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column('paused_since', sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column('paused_seconds', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column('escalation_level', sa.Integer(), nullable=False,
                      server_default='0')
        )


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for column in (
            'escalation_level', 'paused_seconds', 'paused_since', 'resolve_met',
            'take_charge_met', 'resolve_due', 'take_charge_due', 'sla_plan',
            'appeal', 'priority',
        ):
            batch_op.drop_column(column)
