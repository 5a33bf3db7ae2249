"""trivia: quiz polls sent and members' answers

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trivia_polls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('delivery_key', sa.String(length=200), nullable=False),
    sa.Column('poll_id', sa.String(length=64), nullable=True),
    sa.Column('question_id', sa.String(length=40), nullable=False),
    sa.Column('correct_option', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('requested_by', sa.BigInteger(), nullable=True),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_key'),
    sa.UniqueConstraint('poll_id')
    )
    with op.batch_alter_table('trivia_polls', schema=None) as batch_op:
        batch_op.create_index('ix_trivia_polls_user_day', ['user_id', 'day'], unique=False)
        batch_op.create_index('ix_trivia_polls_status_created', ['status', 'created_at'],
                              unique=False)

    op.create_table('trivia_answers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('question_id', sa.String(length=40), nullable=False),
    sa.Column('question_set', sa.String(length=24), nullable=False),
    sa.Column('poll_id', sa.String(length=64), nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=False),
    sa.Column('correct', sa.Boolean(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('besitos', sa.Integer(), nullable=False),
    sa.Column('update_key', sa.String(length=200), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'question_id', name='uq_trivia_answers_user_question')
    )
    with op.batch_alter_table('trivia_answers', schema=None) as batch_op:
        batch_op.create_index('ix_trivia_answers_set_user', ['question_set', 'user_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('trivia_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_trivia_answers_set_user')
    op.drop_table('trivia_answers')
    with op.batch_alter_table('trivia_polls', schema=None) as batch_op:
        batch_op.drop_index('ix_trivia_polls_status_created')
        batch_op.drop_index('ix_trivia_polls_user_day')
    op.drop_table('trivia_polls')
