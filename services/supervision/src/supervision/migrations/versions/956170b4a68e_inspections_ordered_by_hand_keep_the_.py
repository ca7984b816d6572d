"""inspections ordered by hand keep the override of their assignment rules

An inspection ordered by hand follows the draw's assignment rules unless the regulator sets
the number of inspectors or the previous-campaign rule aside; the rules set aside and the
reason are kept on the inspection (both NULL when nothing was set aside, as for every
existing row).

Revision ID: 956170b4a68e
Revises: 8a46cef2f949
Create Date: 2026-11-26 13:51:03.973828

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '956170b4a68e'
down_revision: Union[str, Sequence[str], None] = '8a46cef2f949'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('override_rules', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('override_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.drop_column('override_reason')
        batch_op.drop_column('override_rules')
