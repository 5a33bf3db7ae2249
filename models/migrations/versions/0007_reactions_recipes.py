"""reactions_recipes: channel posts and paid reactions (recipes need no table of their own)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('channel_posts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('ref', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chat_id', 'message_id', name='uq_channel_posts_chat_message')
    )
    with op.batch_alter_table('channel_posts', schema=None) as batch_op:
        batch_op.create_index('ix_channel_posts_ref', ['ref'], unique=False)

    op.create_table('reaction_rewards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('besitos', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chat_id', 'message_id', 'user_id', name='uq_reaction_rewards_post_user')
    )
    with op.batch_alter_table('reaction_rewards', schema=None) as batch_op:
        batch_op.create_index('ix_reaction_rewards_user_created', ['user_id', 'created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reaction_rewards', schema=None) as batch_op:
        batch_op.drop_index('ix_reaction_rewards_user_created')

    op.drop_table('reaction_rewards')
    with op.batch_alter_table('channel_posts', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_posts_ref')

    op.drop_table('channel_posts')
