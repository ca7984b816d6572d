"""The commands' literal values are the HTTP contract; they must be the domain's enum values."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from proficiency import api, commands
from proficiency.domain import AssignedValueMethod, RoundStatus, SigmaPtMethod


def literal_of(model: type[commands.Command]) -> str:
    (value,) = get_args(model.model_fields["method"].annotation)
    return value


def test_round_status_filter_lists_exactly_the_round_statuses():
    assert set(get_args(api.RoundStatusFilter)) == {s.value for s in RoundStatus}


def test_design_methods_are_the_domain_methods():
    assert {literal_of(commands.ReferenceValue), literal_of(commands.Consensus)} == {m.value for m in AssignedValueMethod}
    assert {literal_of(commands.FixedSigma), literal_of(commands.RobustSigma)} == {m.value for m in SigmaPtMethod}
    assert commands.ReferenceValue(method="reference", value=1.0, expanded_uncertainty=0.1, coverage_factor=2).assigned_value().method is AssignedValueMethod.REFERENCE
    assert commands.RobustSigma(method="robust").sigma_pt().method is SigmaPtMethod.ROBUST


def test_commands_are_frozen():
    measurement = commands.Measurement(value=1.0)
    with pytest.raises(ValidationError):
        measurement.value = 2.0  # type: ignore[misc]
