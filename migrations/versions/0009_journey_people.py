"""the rest of the journey: focal points and their links, SLA alerts, callers as
people, legal hold, the erasure register, staff notices and e-mail in the outbox

Revision ID: f607080a0009
Revises: e5f607080008
Create Date: 2026-11-29 17:55:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'f607080a0009'
down_revision = 'e5f607080008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'focal_points',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('service_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('phone_e164', sa.String(length=16), nullable=True),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('head', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['service_id'], ['services.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_focal_points_service_id', 'focal_points', ['service_id'])
    op.create_table(
        'focal_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('focal_point_id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['focal_point_id'], ['focal_points.id']),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_focal_links_focal_point_id', 'focal_links', ['focal_point_id'])
    op.create_index('ix_focal_links_ticket_id', 'focal_links', ['ticket_id'])
    op.create_table(
        'sla_alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('deadline', sa.String(length=16), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('due', sa.DateTime(timezone=True), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ticket_id', 'deadline', 'level', 'due', name='uq_sla_alert'),
    )
    op.create_table(
        'erasures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=254), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('subject', sa.String(length=32), nullable=False),
        sa.Column('tickets', sa.JSON(), nullable=True),
        sa.Column('counts', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('callers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('matricule', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_callers_person_id', ['person_id'])
        batch_op.create_foreign_key(
            'fk_callers_person_id_callers', 'callers', ['person_id'], ['id']
        )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('hold', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column(
            'to_number', existing_type=sa.String(length=64), type_=sa.String(length=254)
        )
        batch_op.add_column(
            sa.Column('audience', sa.String(length=8), nullable=False,
                      server_default='citizen')
        )
        batch_op.add_column(sa.Column('subject', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('subject')
        batch_op.drop_column('audience')
        batch_op.alter_column(
            'to_number', existing_type=sa.String(length=254), type_=sa.String(length=64)
        )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('hold')
    with op.batch_alter_table('callers', schema=None) as batch_op:
        batch_op.drop_constraint('fk_callers_person_id_callers', type_='foreignkey')
        batch_op.drop_index('ix_callers_person_id')
        for column in ('person_id', 'matricule', 'email'):
            batch_op.drop_column(column)
    op.drop_table('erasures')
    op.drop_table('sla_alerts')
    op.drop_index('ix_focal_links_ticket_id', table_name='focal_links')
    op.drop_index('ix_focal_links_focal_point_id', table_name='focal_links')
    op.drop_table('focal_links')
    op.drop_index('ix_focal_points_service_id', table_name='focal_points')
    op.drop_table('focal_points')
