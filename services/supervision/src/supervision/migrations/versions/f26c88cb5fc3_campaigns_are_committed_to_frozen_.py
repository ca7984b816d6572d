"""campaigns are committed to, frozen, revealed and drawn with a beacon

A campaign names its parties (the regulator and outside observers), each one's commitment
and reveal with their times (campaign_parties), the reveal deadline, the beacon (source, due
time, value and when it was recorded), when its snapshot was frozen, and its cancellation;
its seed is derived at the draw instead of chosen at creation.

Existing rows: a drawn campaign keeps its stored seed under the scheme published-seed-v1.
A campaign not drawn yet had its seed published before its snapshot existed, which is what
let a draw be steered; it is cancelled, with that reason, to be created again.

Revision ID: f26c88cb5fc3
Revises: 956170b4a68e
Create Date: 2026-11-26 13:59:41.233429

"""
import datetime as dt
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'f26c88cb5fc3'
down_revision: Union[str, Sequence[str], None] = '956170b4a68e'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LEGACY_CANCEL_REASON = (
    "created before draws were committed to and revealed: its seed was published before its snapshot "
    "was frozen, so it is not drawn; create the campaign again"
)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('campaign_parties',
    sa.Column('campaign_id', sa.String(length=36), nullable=False),
    sa.Column('party', sa.String(length=64), nullable=False),
    sa.Column('commitment', sa.String(length=64), nullable=True),
    sa.Column('committed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('secret', sa.String(length=1000), nullable=True),
    sa.Column('revealed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withheld', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('campaign_id', 'party')
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seed_scheme', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('reveal_deadline', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('beacon_source', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('beacon_due', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('beacon_value', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('beacon_recorded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.Text(), nullable=True))
        batch_op.alter_column('seed',
               existing_type=sa.VARCHAR(length=200),
               nullable=True)

    campaigns = sa.table(
        'campaigns', sa.column('status', sa.String), sa.column('seed_scheme', sa.String),
        sa.column('cancelled_at', sa.DateTime(timezone=True)), sa.column('cancel_reason', sa.Text),
    )
    op.execute(campaigns.update().values(seed_scheme='published-seed-v1'))
    op.execute(
        campaigns.update().where(campaigns.c.status == 'created')
        .values(status='cancelled', cancelled_at=dt.datetime.now(dt.UTC), cancel_reason=LEGACY_CANCEL_REASON)
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.alter_column('seed_scheme', existing_type=sa.String(length=40), nullable=False)


def downgrade() -> None:
    """Downgrade schema."""
    # Campaigns not drawn yet have no seed; the earlier schema requires one (a blank seed is never drawn).
    campaigns = sa.table('campaigns', sa.column('seed', sa.String))
    op.execute(campaigns.update().where(campaigns.c.seed.is_(None)).values(seed=''))
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.alter_column('seed',
               existing_type=sa.VARCHAR(length=200),
               nullable=False)
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('frozen_at')
        batch_op.drop_column('beacon_recorded_at')
        batch_op.drop_column('beacon_value')
        batch_op.drop_column('beacon_due')
        batch_op.drop_column('beacon_source')
        batch_op.drop_column('reveal_deadline')
        batch_op.drop_column('seed_scheme')

    op.drop_table('campaign_parties')
