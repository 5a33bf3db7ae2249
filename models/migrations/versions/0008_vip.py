"""vip: VIP codes, subscriptions and reminders

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')  # also for columns referencing one
_NOW = sa.text('(CURRENT_TIMESTAMP)')


def upgrade() -> None:
    op.create_table(
        'vip_codes',
        sa.Column('id', _ID, nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('batch_key', sa.String(length=200), nullable=False),
        sa.Column('plan', sa.String(length=32), nullable=False),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('redeemed_by', sa.BigInteger(), nullable=True),
        sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['redeemed_by'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code_hash'),
    )
    with op.batch_alter_table('vip_codes', schema=None) as batch_op:
        batch_op.create_index('ix_vip_codes_batch_key', ['batch_key'], unique=False)

    op.create_table(
        'vip_subscriptions',
        sa.Column('id', _ID, nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('plan', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('granted_by', sa.BigInteger(), nullable=True),
        sa.Column('code_id', _ID, nullable=True),
        sa.Column('request_key', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.ForeignKeyConstraint(['code_id'], ['vip_codes.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('request_key'),
    )
    with op.batch_alter_table('vip_subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_vip_subscriptions_due', ['ended_at', 'ends_at'], unique=False)
        batch_op.create_index('ix_vip_subscriptions_user', ['user_id', 'ends_at'], unique=False)

    op.create_table(
        'vip_reminders',
        sa.Column('id', _ID, nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('days_before', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'ends_at', 'days_before',
                            name='uq_vip_reminders_user_end_days'),
    )
    with op.batch_alter_table('vip_reminders', schema=None) as batch_op:
        batch_op.create_index('ix_vip_reminders_due', ['claimed_at', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vip_reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_vip_reminders_due')
    op.drop_table('vip_reminders')
    with op.batch_alter_table('vip_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_vip_subscriptions_user')
        batch_op.drop_index('ix_vip_subscriptions_due')
    op.drop_table('vip_subscriptions')
    with op.batch_alter_table('vip_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_vip_codes_batch_key')
    op.drop_table('vip_codes')
