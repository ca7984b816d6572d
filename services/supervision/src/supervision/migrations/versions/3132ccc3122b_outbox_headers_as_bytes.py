"""outbox headers are stored as the bytes the relay sends, built once when the event is written

Revision ID: 3132ccc3122b
Revises: 21e167507014
Create Date: 2026-11-26 19:40:00.000000

"""
from typing import Sequence, Union

from conformity_shared.migrations import outbox_headers_to_bytes, outbox_headers_to_json


# revision identifiers, used by Alembic.
revision: str = '3132ccc3122b'
down_revision: Union[str, Sequence[str], None] = '21e167507014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """The outbox's headers become bytes (conformity_shared.envelope.encode_headers); every row converted."""
    outbox_headers_to_bytes()


def downgrade() -> None:
    """The outbox's headers as JSON text again."""
    outbox_headers_to_json()
