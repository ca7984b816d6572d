"""the schemes each approved field admits, in the read model of bodies

Bodies granted before grants named their fields' schemes keep NULL: issuance reads them with
the default catalogue's schemes (README, "Schemes and fields").

Revision ID: 442d6846e03f
Revises: 5b1f0c7d2e84
Create Date: 2026-11-26 13:53:33.874694

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '442d6846e03f'
down_revision: Union[str, Sequence[str], None] = '5b1f0c7d2e84'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('approved_bodies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_schemes', sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('approved_bodies', schema=None) as batch_op:
        batch_op.drop_column('field_schemes')
