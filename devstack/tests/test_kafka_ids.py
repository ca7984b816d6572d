"""The local broker's cluster ids are ones Kafka's storage tool accepts on its command line."""

from __future__ import annotations

import base64
import uuid
from unittest import mock

from conformity_devstack import kafka


def test_a_cluster_id_never_starts_with_a_dash_which_the_storage_tool_reads_as_an_option() -> None:
    dashed = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))  # encodes to "-AAAA..."
    plain = uuid.uuid4()
    with mock.patch.object(kafka.uuid, "uuid4", side_effect=[dashed, plain]):
        cluster_id = kafka.new_cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")
    assert not cluster_id.startswith("-")


def test_a_cluster_id_is_the_22_characters_of_a_uuid() -> None:
    ids = {kafka.new_cluster_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
