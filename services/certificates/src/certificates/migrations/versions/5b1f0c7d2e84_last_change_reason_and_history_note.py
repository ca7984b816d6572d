"""last change reason on certificates, note on history entries

Revision ID: 5b1f0c7d2e84
Revises: ce59913db83f
Create Date: 2026-11-23 02:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5b1f0c7d2e84'
down_revision: Union[str, Sequence[str], None] = 'ce59913db83f'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_change_reason', sa.String(length=300), nullable=True))

    with op.batch_alter_table('certificate_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('certificate_history', schema=None) as batch_op:
        batch_op.drop_column('note')

    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_column('last_change_reason')
