"""digital credentials and status lists

Revision ID: d1c3a7e5f902
Revises: bc7b3ccc308a
Create Date: 2026-11-26 16:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'd1c3a7e5f902'
down_revision: Union[str, Sequence[str], None] = 'bc7b3ccc308a'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_index', sa.Integer(), nullable=True))
    op.create_table(
        'digital_credentials',
        sa.Column('certificate_number', sa.String(length=40), nullable=False),
        sa.Column('kid', sa.String(length=200), nullable=False),
        sa.Column('token', sa.Text(), nullable=False),
        sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['certificate_number'], ['certificates.number']),
        sa.PrimaryKeyConstraint('certificate_number'),
    )
    op.create_table(
        'status_lists',
        sa.Column('issuing_body_uscc', sa.String(length=18), nullable=False),
        sa.Column('purpose', sa.String(length=20), nullable=False),
        sa.Column('bits', sa.LargeBinary(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('issuing_body_uscc', 'purpose'),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('status_lists')
    op.drop_table('digital_credentials')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_column('status_index')
