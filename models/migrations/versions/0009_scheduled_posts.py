"""scheduled_posts: posts for the free and VIP channels, one publication row per occurrence

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')  # also for columns referencing one
_NOW = sa.text('(CURRENT_TIMESTAMP)')


def upgrade() -> None:
    op.create_table('scheduled_posts',
    sa.Column('id', _ID, nullable=False),
    sa.Column('request_key', sa.String(length=200), nullable=False),
    sa.Column('target', sa.String(length=8), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('parse_mode', sa.String(length=8), nullable=True),
    sa.Column('photo', sa.String(length=256), nullable=True),
    sa.Column('url_buttons', sa.JSON(), nullable=False),
    sa.Column('reaction_buttons', sa.Boolean(), nullable=False),
    sa.Column('protect_content', sa.Boolean(), nullable=False),
    sa.Column('publish_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('repeat', sa.String(length=8), nullable=False),
    sa.Column('cron', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_key')
    )
    with op.batch_alter_table('scheduled_posts', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_posts_due', ['status', 'publish_at'], unique=False)

    op.create_table('post_publications',
    sa.Column('id', _ID, nullable=False),
    sa.Column('post_id', _ID, nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['post_id'], ['scheduled_posts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('post_id', 'due_at', name='uq_post_publications_post_due')
    )
    with op.batch_alter_table('post_publications', schema=None) as batch_op:
        batch_op.create_index('ix_post_publications_status_claimed', ['status', 'claimed_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('post_publications', schema=None) as batch_op:
        batch_op.drop_index('ix_post_publications_status_claimed')

    op.drop_table('post_publications')
    with op.batch_alter_table('scheduled_posts', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_posts_due')

    op.drop_table('scheduled_posts')
