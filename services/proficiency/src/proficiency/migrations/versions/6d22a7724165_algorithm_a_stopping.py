"""Algorithm A stopping rule chosen per round

Every round states when Algorithm A stops: the standard's rule (ISO 13528:2015 C.3.1), the
default from now on, or full convergence. Rounds created before this revision were evaluated
(or will be) by full convergence, the only rule there was, so they keep it.

Revision ID: 6d22a7724165
Revises: 5c86be47d3fe
Create Date: 2026-11-26 13:55:55.555106

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '6d22a7724165'
down_revision: Union[str, Sequence[str], None] = '5c86be47d3fe'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # The server default fills the existing rounds only; new rounds always state their rule.
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('algorithm_a_stopping', sa.String(length=30), nullable=False, server_default='full_convergence')
        )
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.alter_column('algorithm_a_stopping', server_default=None)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_column('algorithm_a_stopping')
