"""auctions: auctions, bid holds, bids

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')  # also for columns referencing one
_NOW = sa.text('(CURRENT_TIMESTAMP)')
_ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        'auctions',
        sa.Column('id', _ID, nullable=False),
        sa.Column('item_id', sa.String(length=40), nullable=False),
        sa.Column('start_price', sa.BigInteger(), nullable=False),
        sa.Column('min_increment', sa.BigInteger(), nullable=False),
        sa.Column('buy_now_price', sa.BigInteger(), nullable=True),
        sa.Column('current_price', sa.BigInteger(), nullable=True),
        sa.Column('top_bidder_id', sa.BigInteger(), nullable=True),
        sa.Column('bid_count', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.BigInteger(), nullable=True),
        sa.Column('request_key', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('start_price > 0', name='auction_start_positive'),
        sa.CheckConstraint('min_increment > 0', name='auction_increment_positive'),
        sa.ForeignKeyConstraint(['top_bidder_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('request_key'),
    )
    with op.batch_alter_table('auctions', schema=None) as batch_op:
        batch_op.create_index('ix_auctions_status_ends_at', ['status', 'ends_at'], unique=False)

    op.create_table(
        'auction_holds',
        sa.Column('id', _ID, nullable=False),
        sa.Column('auction_id', _ID, nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint('amount > 0', name='hold_positive'),
        sa.ForeignKeyConstraint(['auction_id'], ['auctions.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('auction_holds', schema=None) as batch_op:
        batch_op.create_index('uq_auction_holds_active', ['auction_id', 'user_id'], unique=True,
                              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)

    op.create_table(
        'auction_bids',
        sa.Column('id', _ID, nullable=False),
        sa.Column('auction_id', _ID, nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('hold_id', _ID, nullable=False),
        sa.Column('request_key', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.ForeignKeyConstraint(['auction_id'], ['auctions.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.ForeignKeyConstraint(['hold_id'], ['auction_holds.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('request_key'),
    )
    with op.batch_alter_table('auction_bids', schema=None) as batch_op:
        batch_op.create_index('ix_auction_bids_auction', ['auction_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('auction_bids', schema=None) as batch_op:
        batch_op.drop_index('ix_auction_bids_auction')
    op.drop_table('auction_bids')
    with op.batch_alter_table('auction_holds', schema=None) as batch_op:
        batch_op.drop_index('uq_auction_holds_active')
    op.drop_table('auction_holds')
    with op.batch_alter_table('auctions', schema=None) as batch_op:
        batch_op.drop_index('ix_auctions_status_ends_at')
    op.drop_table('auctions')
