"""The events catalogue in the docs is generated from the shared models, never written twice."""

from __future__ import annotations

from pathlib import Path

from conformity_shared.events import CATALOGUE
from conformity_operators import catalogue

COMMITTED = Path(__file__).resolve().parents[1] / "EVENTS.md"


def test_the_committed_catalogue_is_the_generators_output() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == catalogue.render(), (
        "operators/EVENTS.md is stale: run `python -m conformity_operators.catalogue > operators/EVENTS.md`"
    )


def test_every_event_type_is_listed_with_its_topic_key_and_fields() -> None:
    text = catalogue.render()
    for ce_type, model in CATALOGUE.items():
        assert f"### {ce_type}" in text
        section = text.split(f"### {ce_type}", 1)[1].split("\n### ", 1)[0]
        assert f"- topic: `{model.topic}`" in section
        for name in model.model_fields:
            assert f"| `{name}` |" in section


def test_keys_are_read_from_the_models_subject() -> None:
    text = catalogue.render()
    assert "| [`certificate.suspended.v1`](#certificatesuspendedv1) | `certificates.events` | `certificate_number` |" in text
    assert "| [`supervision.credit_class_changed.v1`](#supervisioncredit_class_changedv1) | `supervision.events` | `organisation_uscc` |" in text
    assert "USCC (GB 32100 string)" in text
