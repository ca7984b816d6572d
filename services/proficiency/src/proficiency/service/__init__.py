"""Use cases of the proficiency service: each opens one unit of work, takes its time from the
unit of work's clock, asks the domain, and saves the change and its events together.

Who may see what: the regulator sees everything; a lab sees the rounds it is enrolled in,
its own result and scores, and the anonymised distribution of a closed round, never another
lab's identity or result; of a blind sample a lab sees only that it has a sample to test.
"""

from proficiency.service.blind_samples import (
    get_blind_sample,
    list_blind_samples,
    register_blind_sample,
    report_sample,
    sample_for_lab,
    samples_for_lab,
)
from proficiency.service.outcomes import lab_outcomes
from proficiency.service.reports import round_plot, round_report
from proficiency.service.rounds import (
    cancel_round,
    close_round,
    close_round_with_chosen_values,
    create_round,
    enrol,
    get_result,
    get_round,
    list_rounds,
    submit_result,
)

__all__ = [
    "cancel_round",
    "close_round",
    "close_round_with_chosen_values",
    "create_round",
    "enrol",
    "get_blind_sample",
    "get_result",
    "get_round",
    "lab_outcomes",
    "list_blind_samples",
    "list_rounds",
    "register_blind_sample",
    "report_sample",
    "round_plot",
    "round_report",
    "sample_for_lab",
    "samples_for_lab",
    "submit_result",
]
