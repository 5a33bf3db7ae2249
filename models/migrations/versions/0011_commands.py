"""commands: every accepted action recorded at intake; outbox events handled, not published

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'commands',
        sa.Column('id', sa.String(length=200), nullable=False),
        sa.Column('member_id', sa.BigInteger(), nullable=True),
        sa.Column('task_name', sa.String(length=128), nullable=False),
        sa.Column('signature', sa.JSON(), nullable=False),
        sa.Column('correlation_id', sa.String(length=64), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('redrive_at', _TS, nullable=False),
        sa.Column('finished_at', _TS, nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_commands_redrive', 'commands', ['state', 'redrive_at'])
    op.create_index('ix_commands_member', 'commands', ['member_id', 'created_at'])
    # What was still waiting for the broker becomes an accepted command.
    op.execute("INSERT INTO commands (id, member_id, task_name, signature, correlation_id, "
               "state, attempts, created_at, redrive_at) SELECT id, NULL, task_name, args, "
               "correlation_id, 'accepted', 0, created_at, created_at FROM pending_commands "
               "WHERE sent_at IS NULL")
    op.drop_table('pending_commands')
    op.create_table(
        'outbox_handled',
        sa.Column('event_id', sa.String(length=200), nullable=False),
        sa.Column('subscriber', sa.String(length=128), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('at', _TS, nullable=False),
        sa.PrimaryKeyConstraint('event_id', 'subscriber'),
    )
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('handled_at', _TS, nullable=True))
        batch.add_column(sa.Column('redrive_at', _TS, nullable=True))
        batch.add_column(sa.Column('redrives', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.create_index('ix_outbox_redrive', ['handled_at', 'redrive_at'])
    # Events published before this revision count as handled (their subscribers ran then).
    op.execute("UPDATE outbox SET handled_at = published_at WHERE published_at IS NOT NULL")
    op.execute("UPDATE outbox SET redrive_at = created_at WHERE published_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_index('ix_outbox_redrive')
        batch.drop_column('redrives')
        batch.drop_column('redrive_at')
        batch.drop_column('handled_at')
    op.drop_table('outbox_handled')
    op.create_table(
        'pending_commands',
        sa.Column('id', sa.String(length=200), nullable=False),
        sa.Column('task_name', sa.String(length=128), nullable=False),
        sa.Column('args', sa.JSON(), nullable=False),
        sa.Column('correlation_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('sent_at', _TS, nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.drop_index('ix_commands_member', 'commands')
    op.drop_index('ix_commands_redrive', 'commands')
    op.drop_table('commands')
