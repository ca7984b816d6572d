"""The draw's rules: sampling by credit class, conflict-free inspectors, reproducibility."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conformity_shared import uscc
from conformity_shared.events import CreditClass, OrganisationKind
from supervision.domain.draw import (
    ALGORITHM,
    CLASS_ORDER,
    CampaignParameters,
    InsufficientInspectors,
    InvalidCampaign,
    InvalidSnapshot,
    Inspector,
    Snapshot,
    Target,
    draw,
    snapshot_hash,
    stream_key,
    verify,
)
from supervision.domain.campaign import check_enough_inspectors
from supervision.domain.draw_record import commitment, derive_seed

A, B, C, D = CLASS_ORDER
ENTERPRISE = OrganisationKind.ENTERPRISE
BODY = OrganisationKind.CERTIFICATION_BODY
LAB = OrganisationKind.TESTING_LAB
ALL_KINDS = frozenset(OrganisationKind)

_codes = random.Random(32100)
CODES = sorted({uscc.make(_codes) for _ in range(3000)})  # valid, distinct, deterministic


def ratios(a="0.05", b="0.2", c="0.6", d="1") -> dict[CreditClass, Decimal]:
    return {A: Decimal(a), B: Decimal(b), C: Decimal(c), D: Decimal(d)}


def targets(count: int, credit_class: CreditClass = A, kind: OrganisationKind = ENTERPRISE, start: int = 0):
    return [Target(CODES[start + i], kind, f"Organisation {start + i}", credit_class) for i in range(count)]


def inspectors(count: int, organisation: str = "91110000MA0000000X", active: bool = True):
    return [Inspector(f"INS-{i:04d}", f"Inspector {i}", organisation, "Beijing", active) for i in range(count)]


def snapshot(
    target_list,
    inspector_list=None,
    previous=None,
    kinds=ALL_KINDS,
    class_ratios=None,
    per_target: int = 2,
) -> Snapshot:
    return Snapshot(
        targets=tuple(target_list),
        inspectors=tuple(inspectors(10) if inspector_list is None else inspector_list),
        previous_assignments=previous or {},
        parameters=CampaignParameters(
            kinds=frozenset(kinds), ratios=class_ratios or ratios(), inspectors_per_target=per_target
        ),
    )


# --- sampling by credit class and the rounding rule ----------------------------------


@pytest.mark.parametrize(
    ("ratio", "population", "expected"),
    [
        ("0.05", 20, 1),
        ("0.05", 21, 2),  # 1.05 rounds up
        ("0.05", 1, 1),  # any ratio above 0 draws at least one
        ("0.2", 10, 2),
        ("0.6", 7, 5),  # 4.2 rounds up
        ("0.07", 100, 7),  # exact decimal arithmetic: 7, not 8 as 0.07 * 100 in floats would give
        ("0", 1000, 0),
        ("1", 1000, 1000),
        ("0.5", 0, 0),
    ],
)
def test_sample_size_is_ratio_times_population_rounded_up(ratio, population, expected):
    params = CampaignParameters(kinds=ALL_KINDS, ratios=ratios(a=ratio))
    assert params.sample_size(A, population) == expected


def test_each_class_draws_its_ratio_of_its_population_rounded_up():
    population = targets(40, A) + targets(10, B, start=40) + targets(7, C, start=50) + targets(3, D, start=57)
    result = draw("seed-1", snapshot(population, inspectors(20)))

    counts = {c.credit_class: (c.population, c.ratio, c.drawn) for c in result.counts}
    assert counts == {
        A: (40, Decimal("0.05"), 2),
        B: (10, Decimal("0.2"), 2),
        C: (7, Decimal("0.6"), 5),
        D: (3, Decimal("1"), 3),
    }
    drawn_by_class = Counter(t.credit_class for t in result.targets)
    assert drawn_by_class == {A: 2, B: 2, C: 5, D: 3}


def test_ratio_one_draws_the_whole_class_and_ratio_zero_none():
    population = targets(5, A) + targets(6, D, start=5)
    result = draw("seed", snapshot(population, class_ratios=ratios(a="0", d="1")))
    assert {t.target_id for t in result.targets} == {t.id for t in population if t.credit_class == D}


def test_float_ratio_means_the_decimal_it_was_written_as():
    params = CampaignParameters(kinds=ALL_KINDS, ratios={A: 0.07, B: 0.2, C: 0.6, D: 1})
    assert params.ratios[A] == Decimal("0.07")
    assert params.sample_size(A, 100) == 7


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"ratios": {A: Decimal("1.5"), B: 0, C: 0, D: 1}}, "between 0 and 1"),
        ({"ratios": {A: Decimal("-0.1"), B: 0, C: 0, D: 1}}, "between 0 and 1"),
        ({"ratios": {A: 0, B: 0, C: 0}}, "missing: D"),
        ({"ratios": {A: "NaN", B: 0, C: 0, D: 1}}, "between 0 and 1"),
        ({"inspectors_per_target": 1}, "at least 2 inspectors"),
        ({"kinds": frozenset()}, "at least one target kind"),
        ({"kinds": frozenset({"factory"})}, "unknown target kind"),
    ],
)
def test_campaign_parameters_outside_the_rules_are_refused(change, names):
    arguments = {"kinds": ALL_KINDS, "ratios": ratios(), "inspectors_per_target": 2} | change
    with pytest.raises(InvalidCampaign, match=names):
        CampaignParameters(**arguments)


def test_a_draw_needs_a_published_seed():
    with pytest.raises(InvalidCampaign, match="seed"):
        draw("", snapshot(targets(3)))


# --- only the chosen kinds -------------------------------------------------------------


def test_only_targets_of_the_chosen_kinds_are_drawn():
    population = targets(20, D, ENTERPRISE) + targets(20, D, BODY, start=20) + targets(20, D, LAB, start=40)
    result = draw("seed", snapshot(population, inspectors(20), kinds={BODY, LAB}))

    assert {t.kind for t in result.targets} == {BODY, LAB}
    assert len(result.targets) == 40
    assert next(c for c in result.counts if c.credit_class == D).population == 40


# --- conflicts of interest ---------------------------------------------------------------


def test_inspector_from_the_targets_own_organisation_is_never_assigned():
    target = targets(1, D)[0]
    own = [Inspector("INS-OWN-1", "Own 1", target.id, "Beijing"), Inspector("INS-OWN-2", "Own 2", target.id, "Beijing")]
    result = draw("seed", snapshot([target], own + inspectors(2)))

    assert set(result.targets[0].inspector_ids) == {"INS-0000", "INS-0001"}


def test_inspector_of_the_previous_campaign_never_inspects_the_same_target_again():
    target = targets(1, D)[0]
    previous = {target.id: ["INS-0000", "INS-0001"]}
    for seed in ("s1", "s2", "s3", "s4", "s5"):
        result = draw(seed, snapshot([target], inspectors(4), previous))
        assert set(result.targets[0].inspector_ids) == {"INS-0002", "INS-0003"}


def test_inactive_inspectors_are_never_drawn():
    pool = inspectors(3) + [replace(i, id=f"INS-OFF-{n}", active=False) for n, i in enumerate(inspectors(30))]
    result = draw("seed", snapshot(targets(10, D), pool))

    assigned = {i for t in result.targets for i in t.inspector_ids}
    assert assigned <= {"INS-0000", "INS-0001", "INS-0002"}


def test_too_few_eligible_inspectors_fails_naming_the_target_and_the_counts():
    short, fine = targets(2, D)
    pool = [Inspector("INS-OWN", "Own", short.id, "Beijing")] + inspectors(2)
    previous = {short.id: ["INS-0000"]}

    with pytest.raises(InsufficientInspectors) as refused:
        draw("seed", snapshot([short, fine], pool, previous))

    message = str(refused.value)
    assert short.id in message and fine.id not in message
    assert "needs 2 inspectors but only 1 of 3 active inspectors are eligible" in message
    assert "1 excluded as the target's own organisation" in message
    assert "1 excluded for inspecting it in the previous campaign" in message
    (shortfall,) = refused.value.shortfalls
    assert (shortfall.target_id, shortfall.required, shortfall.active, shortfall.eligible) == (short.id, 2, 3, 1)


def test_too_few_inspectors_reports_every_short_target_not_just_the_first():
    population = targets(3, D)
    with pytest.raises(InsufficientInspectors) as refused:
        draw("seed", snapshot(population, inspectors(3), per_target=4))
    assert {s.target_id for s in refused.value.shortfalls} == {t.id for t in population}


def test_a_draw_with_no_drawn_target_needs_no_inspector():
    result = draw("seed", snapshot(targets(5), [], class_ratios=ratios(a="0")))
    assert result.targets == ()


# --- load balance ---------------------------------------------------------------------


def test_inspectors_are_dealt_in_rounds_so_loads_differ_by_at_most_one():
    result = draw("seed", snapshot(targets(101, D), inspectors(17), per_target=3))
    loads = Counter(i for t in result.targets for i in t.inspector_ids)
    assert len(loads) == 17
    assert max(loads.values()) - min(loads.values()) <= 1


# --- reproducibility and verification -------------------------------------------------------


def test_same_seed_and_snapshot_give_an_identical_result():
    population = targets(200, A) + targets(100, C, start=200)
    first = draw("2024-Q2 public seed", snapshot(population, inspectors(30)))
    # The same directories, given in another order, are the same snapshot.
    again = draw("2024-Q2 public seed", snapshot(list(reversed(population)), list(reversed(inspectors(30)))))
    assert again == first
    assert again.to_json() == first.to_json()


def test_a_different_seed_draws_different_targets():
    population = targets(1000, A)  # 50 of 1000: the same draw twice has odds 1 / C(1000, 50)
    first = draw("seed one", snapshot(population, inspectors(10)))
    second = draw("seed two", snapshot(population, inspectors(10)))
    assert {t.target_id for t in first.targets} != {t.target_id for t in second.targets}


def test_published_result_verifies_from_its_json():
    s = snapshot(targets(50, B) + targets(5, D, start=50), inspectors(8))
    published = draw("seed", s).to_json()
    assert verify("seed", s, published)
    assert verify("seed", Snapshot.from_json(s.canonical_bytes), published).ok


def first_target(s: Snapshot, **change) -> Snapshot:
    return replace(s, targets=(replace(s.targets[0], **change),) + s.targets[1:])


def first_inspector(s: Snapshot, **change) -> Snapshot:
    return replace(s, inspectors=(replace(s.inspectors[0], **change),) + s.inspectors[1:])


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda s: first_target(s, credit_class=D), id="credit class"),
        pytest.param(lambda s: first_target(s, name="Renamed"), id="target name"),
        pytest.param(lambda s: replace(s, targets=s.targets[1:]), id="target removed"),
        pytest.param(lambda s: first_inspector(s, active=False), id="inspector active"),
        pytest.param(lambda s: first_inspector(s, region="Tianjin"), id="inspector region"),
        pytest.param(lambda s: replace(s, previous_assignments={s.targets[0].id: ("INS-3",)}), id="previous campaign"),
        pytest.param(lambda s: replace(s, parameters=replace(s.parameters, inspectors_per_target=3)), id="per target"),
    ],
)
def test_changing_one_entry_changes_the_hash_and_the_old_result_no_longer_verifies(edit):
    original = snapshot(targets(30, C), inspectors(8))
    published = draw("seed", original)
    changed = edit(original)

    assert snapshot_hash(changed) != snapshot_hash(original)
    verification = verify("seed", changed, published)
    assert not verification
    assert any(snapshot_hash(changed) in d for d in verification.differences)


def test_a_tampered_result_fails_verification_and_says_where():
    s = snapshot(targets(20, D), inspectors(6))
    honest = draw("seed", s)
    first = honest.targets[0]
    swapped = replace(first, inspector_ids=("INS-0099", first.inspector_ids[1]))
    tampered = replace(honest, targets=(swapped,) + honest.targets[1:])

    verification = verify("seed", s, tampered)
    assert not verification.ok
    assert any("inspectors differ" in d and first.target_id in d for d in verification.differences)


def test_verification_with_another_seed_fails():
    s = snapshot(targets(100, A), inspectors(6))
    assert not verify("another seed", s, draw("seed", s))


# --- the canonical snapshot -------------------------------------------------------------------


def reference_document(s: Snapshot) -> dict:
    """The snapshot format as DRAW.md states it, built the obvious way."""
    p = s.parameters
    return {
        "format": "supervision.draw-snapshot.v1",
        "targets": [
            {"id": t.id, "kind": str(t.kind), "name": t.name, "credit_class": str(t.credit_class)} for t in s.targets
        ],
        "inspectors": [
            {"id": i.id, "name": i.name, "organisation": i.organisation, "region": i.region, "active": i.active}
            for i in s.inspectors
        ],
        "previous_assignments": [{"target": t, "inspectors": list(ids)} for t, ids in s.previous_assignments.items()],
        "parameters": {
            "kinds": sorted(str(k) for k in p.kinds),
            "ratios": {str(c): format(p.ratios[c].normalize(), "f") for c in CLASS_ORDER},
            "inspectors_per_target": p.inspectors_per_target,
        },
    }


def test_canonical_bytes_are_sorted_compact_utf8_json():
    awkward = ['Say "hi"', "back\\slash", "line\nbreak", "bell\x07", "质量认证中心", "emoji 🔬", "tab\t"]
    s = Snapshot(
        targets=[Target(CODES[i], ENTERPRISE, name, B) for i, name in enumerate(awkward)],
        inspectors=[Inspector(f"INS-{i}", name, CODES[i], name, i % 2 == 0) for i, name in enumerate(awkward)],
        previous_assignments={CODES[1]: ["INS-3", "INS-1"], CODES[0]: []},
        parameters=CampaignParameters(kinds={LAB, ENTERPRISE}, ratios=ratios(a="0.050", d="1.00")),
    )
    expected = json.dumps(reference_document(s), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    assert s.canonical_bytes == expected
    assert snapshot_hash(s) == hashlib.sha256(expected).hexdigest()
    assert b'"ratios":{"A":"0.05","B":"0.2","C":"0.6","D":"1"}' in expected
    assert Snapshot.from_json(expected) == s


def test_small_batches_give_the_same_canonical_bytes():
    s = snapshot(targets(57, C), inspectors(5), {CODES[i]: ["INS-0001"] for i in range(9)})
    assert b"".join(s.canonical_chunks(batch=4)) == s.canonical_bytes


def test_duplicate_ids_are_refused_in_a_snapshot():
    with pytest.raises(InvalidSnapshot, match=f"duplicate target id {CODES[0]}"):
        snapshot(targets(2) + targets(1))
    with pytest.raises(InvalidSnapshot, match="duplicate inspector id INS-0000"):
        snapshot(targets(2), inspectors(2) + inspectors(1))


# --- the algorithm as DRAW.md states it ------------------------------------------------------


def documented_target_sample(seed: str, s: Snapshot, credit_class: CreditClass) -> set[str]:
    """An independent transcription of DRAW.md's target selection, to pin the algorithm."""
    key = hashlib.sha256(seed.encode() + snapshot_hash(s).encode()).digest()
    counter = 0

    def uniform(n: int) -> int:
        nonlocal counter
        while True:
            label = f"targets/{credit_class}".encode()
            block = hashlib.sha256(key + label + b"\x00" + counter.to_bytes(8, "big")).digest()
            counter += 1
            word = int.from_bytes(block[:8], "big")
            if word < 2**64 - 2**64 % n:
                return word % n

    ids = [t.id for t in s.targets if t.credit_class == credit_class and t.kind in s.parameters.kinds]
    k = math.ceil(s.parameters.ratios[credit_class] * len(ids))
    if k == len(ids):
        return set(ids)
    for i in range(k):
        j = i + uniform(len(ids) - i)
        ids[i], ids[j] = ids[j], ids[i]
    return set(ids[:k])


@pytest.mark.parametrize("seed", ["a", "b", "published 2024-05-01 lottery 03 17 22 41 45 08"])
def test_target_selection_follows_the_documented_algorithm(seed):
    s = snapshot(targets(300, A) + targets(40, B, start=300) + targets(9, C, start=340), inspectors(6))
    result = draw(seed, s)
    for credit_class in (A, B, C):
        drawn = {t.target_id for t in result.targets if t.credit_class == credit_class}
        assert drawn == documented_target_sample(seed, s, credit_class)


def test_stream_key_is_sha256_of_seed_then_snapshot_hash():
    assert stream_key("seed", "ab" * 32) == hashlib.sha256(b"seed" + b"ab" * 32).digest()


def test_known_answer_pins_the_algorithm():
    # A fixed vector with literal ids (the draw treats ids as opaque strings): if this
    # changes, every published draw would stop verifying.
    s = Snapshot(
        targets=[Target(f"KA-{i:02d}", ENTERPRISE, f"Known {i}", B if i < 10 else D) for i in range(12)],
        inspectors=inspectors(5),
        previous_assignments={"KA-10": ["INS-0000"]},
        parameters=CampaignParameters(kinds=ALL_KINDS, ratios=ratios()),
    )
    result = draw("known answer", s)
    assert result.algorithm == ALGORITHM
    assert (snapshot_hash(s), [(t.target_id, t.inspector_ids) for t in result.targets]) == KNOWN_ANSWER


KNOWN_ANSWER = (
    "3f6ede34d9ed39c0cad0eb768d6ebf94acc51094730da7e8d14a79cddfbe7e1f",
    [
        ("KA-07", ("INS-0001", "INS-0003")),
        ("KA-09", ("INS-0002", "INS-0004")),
        ("KA-10", ("INS-0001", "INS-0002")),  # INS-0000 inspected KA-10 last campaign
        ("KA-11", ("INS-0000", "INS-0004")),
    ],
)


# --- the seed as DRAW.md derives it (draw-seed-v1) ----------------------------------------------


def documented_commitment(party: str, secret: str) -> str:
    """An independent transcription of DRAW.md's commitment."""
    return hashlib.sha256(bytes(party, "utf-8") + bytes([0]) + bytes(secret, "utf-8")).hexdigest()


def documented_seed(snapshot_hash_hex: str, secrets: dict[str, str], beacon_value: str) -> str:
    """An independent transcription of DRAW.md's seed derivation."""
    lines = [b"supervision.draw-seed.v1", snapshot_hash_hex.encode("ascii")]
    in_code_point_order = sorted(secrets, key=lambda party: [ord(c) for c in party])
    lines += [party.encode() + bytes([0]) + secrets[party].encode() for party in in_code_point_order]
    return hashlib.sha256(b"\n".join(lines) + b"\n" + beacon_value.encode()).hexdigest()


SEED_VECTOR_SECRETS = {"regulator": "0123456789abcdef" * 4, "notary-fuzhou": "c0ffee" * 6, "discipline-office": ""}
SEED_VECTOR_BEACON = "China Welfare Lottery 3D 2026-12-05: 4 7 1"


def test_known_answer_pins_the_commitment_and_the_seed_derivation():
    # If these change, no published commitment or derived seed would check any more.
    assert commitment("notary-fuzhou", "c0ffee" * 6) == documented_commitment("notary-fuzhou", "c0ffee" * 6) == (
        "201ac84a5bc88bf69fad1469330e2e53a32b69421e44f3f37e31e3d096e4a7e7"
    )
    seed = derive_seed(KNOWN_ANSWER[0], SEED_VECTOR_SECRETS, SEED_VECTOR_BEACON)  # discipline-office withheld: ""
    assert seed == documented_seed(KNOWN_ANSWER[0], SEED_VECTOR_SECRETS, SEED_VECTOR_BEACON) == (
        "972392ba96ce0785a2497f216021fcdae3e201c114c74769ed2d13219a31a1f6"
    )


def test_the_derived_seed_drives_the_unchanged_draw():
    s = Snapshot(
        targets=[Target(f"KA-{i:02d}", ENTERPRISE, f"Known {i}", B if i < 10 else D) for i in range(12)],
        inspectors=inspectors(5),
        previous_assignments={"KA-10": ["INS-0000"]},
        parameters=CampaignParameters(kinds=ALL_KINDS, ratios=ratios()),
    )
    seed = derive_seed(snapshot_hash(s), SEED_VECTOR_SECRETS, SEED_VECTOR_BEACON)
    assert [(t.target_id, t.inspector_ids) for t in draw(seed, s).targets] == [
        ("KA-03", ("INS-0000", "INS-0003")),
        ("KA-05", ("INS-0001", "INS-0002")),
        ("KA-10", ("INS-0002", "INS-0004")),  # INS-0000 inspected KA-10 last campaign
        ("KA-11", ("INS-0000", "INS-0004")),
    ]


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=40), min_size=1, max_size=4), st.text(max_size=30))
def test_property_the_seed_is_the_documented_derivation(secrets, beacon_value):
    digest = "ab" * 32
    assert derive_seed(digest, secrets, beacon_value) == documented_seed(digest, secrets, beacon_value)


# --- properties -----------------------------------------------------------------------------


ratio_values = st.decimals(min_value=0, max_value=1, places=3, allow_nan=False, allow_infinity=False)


@st.composite
def campaigns(draw_):
    n_targets = draw_(st.integers(0, 40))
    target_list = [
        Target(CODES[i], draw_(st.sampled_from(list(OrganisationKind))), f"T{i}", draw_(st.sampled_from(CLASS_ORDER)))
        for i in range(n_targets)
    ]
    n_inspectors = draw_(st.integers(0, 16))
    target_ids = [t.id for t in target_list] or [CODES[2999]]
    inspector_list = [
        Inspector(
            f"INS-{i:03d}",
            f"I{i}",
            draw_(st.sampled_from(target_ids + [CODES[2998]])),
            "R",
            draw_(st.sampled_from([True, True, True, False])),
        )
        for i in range(n_inspectors)
    ]
    inspector_ids = [i.id for i in inspector_list] + ["INS-GONE"]
    previous = draw_(
        st.dictionaries(st.sampled_from(target_ids), st.lists(st.sampled_from(inspector_ids), max_size=3), max_size=10)
    )
    params = CampaignParameters(
        kinds=draw_(st.sets(st.sampled_from(list(OrganisationKind)), min_size=1)),
        ratios={c: draw_(ratio_values) for c in CLASS_ORDER},
        inspectors_per_target=draw_(st.integers(2, 4)),
    )
    return Snapshot(tuple(target_list), tuple(inspector_list), previous, params)


property_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@property_settings
@given(campaigns(), st.text(min_size=1, max_size=20))
def test_property_drawn_counts_follow_the_rounding_rule(s, seed):
    result = draw(seed, replace(s, inspectors=tuple(inspectors(4))))  # enough, none conflicted
    for count in result.counts:
        population = [t for t in s.targets if t.credit_class == count.credit_class and t.kind in s.parameters.kinds]
        assert count.population == len(population)
        assert count.drawn == math.ceil(count.ratio * len(population))
        if count.ratio > 0 and population:
            assert count.drawn >= 1
        assert sum(1 for t in result.targets if t.credit_class == count.credit_class) == count.drawn


@property_settings
@given(campaigns(), st.text(min_size=1, max_size=20))
def test_property_every_target_gets_n_distinct_eligible_inspectors_or_the_draw_is_refused(s, seed):
    n = s.parameters.inspectors_per_target
    by_id = {i.id: i for i in s.inspectors}
    try:
        result = draw(seed, s)
    except InsufficientInspectors as refused:
        assert refused.shortfalls and all(sf.eligible < n for sf in refused.shortfalls)
        event("refused: too few inspectors")
        return
    event("drawn")
    for drawn in result.targets:
        assert len(drawn.inspector_ids) == n == len(set(drawn.inspector_ids))
        for inspector_id in drawn.inspector_ids:
            inspector = by_id[inspector_id]
            assert inspector.active
            assert inspector.organisation != drawn.target_id
            assert inspector_id not in s.previous_assignments.get(drawn.target_id, ())
        assert drawn.kind in s.parameters.kinds
    assert verify(seed, s, result)


@property_settings
@given(campaigns(), st.randoms(use_true_random=False))
def test_property_the_snapshot_hash_ignores_the_order_entries_were_given_in(s, rng):
    targets_shuffled, inspectors_shuffled = list(s.targets), list(s.inspectors)
    rng.shuffle(targets_shuffled)
    rng.shuffle(inspectors_shuffled)
    previous = dict(reversed(list(s.previous_assignments.items())))
    again = Snapshot(tuple(targets_shuffled), tuple(inspectors_shuffled), previous, s.parameters)
    assert snapshot_hash(again) == snapshot_hash(s)
    assert Snapshot.from_json(s.canonical_bytes) == s


@property_settings
@given(campaigns(), st.text(min_size=1, max_size=20))
def test_property_a_snapshot_the_freeze_accepts_always_draws_and_one_it_refuses_names_the_draws_shortfalls(s, seed):
    # The freeze checks every target that could be drawn: exactly the shortfalls of a draw that
    # takes every class sampled above zero whole.
    every = replace(s, parameters=CampaignParameters(
        kinds=s.parameters.kinds, ratios={c: 1 if r > 0 else 0 for c, r in s.parameters.ratios.items()},
        inspectors_per_target=s.parameters.inspectors_per_target,
    ))
    try:
        check_enough_inspectors(s)
    except InsufficientInspectors as refused:
        event("refused at the freeze")
        with pytest.raises(InsufficientInspectors) as drawn_refused:
            draw(seed, every)
        assert refused.shortfalls == drawn_refused.value.shortfalls
        return
    event("frozen")
    draw(seed, s)  # never short of inspectors
    draw(seed, every)
