"""A round's cancellation and the values chosen at its closing

A round its results cannot evaluate is either cancelled (reason, who, when) or closed with the
values the regulator chose then (kept as JSON with the reason, who and when). Existing rounds
have neither.

Revision ID: e7b4351c2f5e
Revises: 6d22a7724165
Create Date: 2026-11-26 14:02:19.134294

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'e7b4351c2f5e'
down_revision: Union[str, Sequence[str], None] = '6d22a7724165'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closing_decision', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_by', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('cancellation_reason', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_column('cancellation_reason')
        batch_op.drop_column('cancelled_by')
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('closing_decision')
