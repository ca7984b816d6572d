"""The new views' own logic, without a browser: the round's plot drawn as SVG, paging, and every
new page rendered from the services' answers (the services faked at the HTTP transport, the
signed-in user set on the sign-in; the pages against the real platform are in
test_portal_browser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conformity_devstack import testing
from conformity_shared.auth import Principal, Role
from conformity_portal import paging, plot
from conformity_portal.app import create_app
from conformity_portal.settings import PortalSettings

# --- the plot ------------------------------------------------------------------------------------

DISTRIBUTION = [
    {"value": 10.6, "score": 1.2, "signal": "acceptable", "yours": False},
    {"value": 9.0, "score": -2.0, "signal": "acceptable", "yours": False},
    {"value": 10.2, "score": 0.4, "signal": "acceptable", "yours": True},
    {"value": 12.0, "score": 4.0, "signal": "action", "yours": False},
]


def drawn(distribution: list[dict[str, Any]] = DISTRIBUTION, **texts: str) -> str:
    points = plot.points_of(distribution)
    return str(plot.render(points, **({"title": "TL-FOOD · lead", "description": "4 scores", "score_kind": "z",
                                        "you": "You"} | texts)))


def test_points_are_in_score_order_with_their_rank_and_the_own_one_marked() -> None:
    points = plot.points_of(DISTRIBUTION + [{"value": 1.0, "score": None, "signal": "action"}])
    assert [(p.rank, p.score, p.yours) for p in points] == [(1, -2.0, False), (2, 0.4, True), (3, 1.2, False),
                                                            (4, 4.0, False)]


def test_the_plot_is_an_image_with_a_title_and_a_description_and_one_highlighted_point() -> None:
    svg = drawn()
    assert svg.startswith('<svg id="round-plot"') and 'role="img"' in svg
    assert 'aria-labelledby="round-plot-title round-plot-desc"' in svg
    assert '<title id="round-plot-title">TL-FOOD · lead</title>' in svg and '<desc id="round-plot-desc">4 scores</desc>' in svg
    assert len(re.findall(r'<circle class="point[^"]*"', svg)) == 4
    assert len(re.findall(r'class="point signal-acceptable yours"', svg)) == 1
    assert ">You 0.40</text>" in svg
    # The signal bands and the limits ±2, ±3 are drawn.
    assert {"band-acceptable", "band-warning", "band-action"} <= set(re.findall(r"band-\w+", svg))
    assert all(f">{z}</text>" in svg for z in ("+2", "-2", "+3", "-3", "0"))


def test_higher_scores_are_higher_on_the_plot() -> None:
    svg = drawn()
    heights = {int(r): float(y) for y, r in re.findall(r'cy="([\d.]+)" r="\d" data-rank="(\d)"', svg)}
    assert heights[4] < heights[3] < heights[2] < heights[1]  # SVG's y grows downwards


def test_the_axis_widens_for_a_far_score_and_stops_at_ten_with_the_score_marked_clipped() -> None:
    assert plot.axis_range(plot.points_of(DISTRIBUTION)) == 5  # 4.0 + margin
    far = DISTRIBUTION + [{"value": 99.0, "score": 55.0, "signal": "action"}]
    assert plot.axis_range(plot.points_of(far)) == plot.LARGEST_RANGE
    svg = drawn(far)
    assert 'class="point signal-action clipped"' in svg and f'cy="{plot.TOP}' in svg  # at the top edge


def test_no_text_of_a_service_becomes_markup() -> None:
    svg = drawn(title="<script>x</script>", you="<b>me</b>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;me&lt;/b&gt;" in svg


def test_an_empty_round_still_draws_its_bands() -> None:
    svg = drawn([])
    assert "<circle" not in svg and "band-acceptable" in svg


# --- paging --------------------------------------------------------------------------------------


def test_the_page_asked_for_is_read_and_bounded() -> None:
    assert paging.requested_page({}, "rounds") == 1
    assert paging.requested_page({"rounds_page": "3"}, "rounds") == 3
    assert paging.requested_page({"rounds_page": "-2"}, "rounds") == 1
    assert paging.requested_page({"rounds_page": "x"}, "rounds") == 1
    assert paging.requested_page({"rounds_page": str(10**30)}, "rounds") == paging.MAX_PAGE


def test_a_service_is_asked_for_one_more_than_a_page_to_know_whether_another_follows() -> None:
    limit, offset, pager = paging.window({"rounds_page": "2"}, "/lab", "rounds", size=3)
    assert (limit, offset) == (4, 3)
    shown, settled = paging.settle(pager, ["d", "e", "f", "g"])
    assert shown == ["d", "e", "f"] and settled.has_next and settled.has_previous and settled.shown
    last, settled = paging.settle(pager, ["d"])
    assert last == ["d"] and not settled.has_next


def test_a_single_page_has_no_controls() -> None:
    _, _, pager = paging.window({}, "/lab", "rounds", size=3)
    assert not paging.settle(pager, [1, 2, 3])[1].shown


def test_page_links_keep_the_other_lists_pages_and_drop_the_flash() -> None:
    query = {"samples_page": "2", "rounds_page": "2", "ok": "done", "lang": "en", "as_of": "2027-01-04"}
    _, _, pager = paging.window(query, "/lab", "rounds", size=3)
    assert pager.href(3) == "/lab?samples_page=2&as_of=2027-01-04&rounds_page=3"
    assert pager.href(1) == "/lab?samples_page=2&as_of=2027-01-04"  # page 1 is the list's plain address


def test_a_list_answered_whole_is_sliced_into_pages() -> None:
    page, pager = paging.slice_page({"x_page": "2"}, "/p", "x", list(range(7)), size=3)
    assert page == [3, 4, 5] and pager.has_next and pager.number == 2
    page, pager = paging.slice_page({"x_page": "3"}, "/p", "x", list(range(7)), size=3)
    assert page == [6] and not pager.has_next


# --- the pages, from the services' answers -------------------------------------------------------

LAB, OTHER = "91350100M000100Y43", "91110000100000000X"
ROUND = {"id": "r" * 36, "field": "TL-FOOD", "measurand": "lead", "unit": "mg/kg", "status": "closed",
         "deadline": "2026-01-01T00:00:00+00:00", "submitted": True}


def fake_services(request: httpx.Request) -> httpx.Response:
    path, query = request.url.path, dict(request.url.params)
    answers: dict[str, Any] = {
        "/rounds": {"items": [ROUND]},
        f"/rounds/{ROUND['id']}": ROUND,
        f"/rounds/{ROUND['id']}/results/{LAB}": {"value": 10.2, "submitted_at": "2026-01-01T00:00:00+00:00",
                                                  "scores": {"score_kind": "z", "score": 0.4, "signal": "acceptable",
                                                             "zeta": None, "en": None}},
        f"/rounds/{ROUND['id']}/report": {"distribution": DISTRIBUTION, "score_used": "z", "assigned_value": 10.0,
                                          "sigma_pt": 0.5, "participants": 4},
        "/samples": {"items": [{"id": "s" * 36, "field": "TL-ELEC", "measurand": "leakage current", "unit": "mA",
                                "description": "", "assigned_at": "2026-01-01T00:00:00+00:00", "status": "assigned",
                                "reported_value": None, "reported_at": None}]},
        f"/labs/{LAB}/outcomes": {"lab_uscc": LAB, "outcomes": [
            {"field": "TL-FOOD", "kind": "round", "reference_id": ROUND["id"], "signal": "action", "passed": False,
             "failure": "action_signal", "at": "2026-01-02T00:00:00+00:00", "settled_by": "x"}],
            "suspensions_required": [{"id": "u1", "field": "TL-FOOD", "rule": "two action signals in a row",
                                      "evidence": [ROUND["id"], "q" * 36], "at": "2026-01-03T00:00:00+00:00"}]},
        "/applications/overdue": {"as_of": query.get("as_of", "2026-11-26"), "applications": [
            {"id": "a" * 36, "organisation_uscc": OTHER, "organisation_name": "Late Co", "requested_fields": ["MS-QMS"],
             "decision_due": "2026-11-01", "working_days_left": -18, "overdue": True, "status": "accepted"}],
            "verifications": []},
        "/verifications": {"items": [{"id": "v" * 36, "approval_id": "p", "organisation_uscc": OTHER,
                                      "due": "2026-12-01", "status": "scheduled", "inspector_id": None}]},
        "/inspectors": {"items": [{"id": "INS-7", "name": "Wang", "region": "Fujian", "active": True}]},
        "/applications": {"items": []},
        "/approvals": {"items": [{"id": "p", "status": "suspended", "approved_fields": ["MS-QMS"],
                                  "suspended_fields": [], "verifications": [], "history": [
                                      {"action": "suspended", "fields": [], "reason": "commitment breached",
                                       "at": "2026-02-01T00:00:00+00:00"}]}]},
        "/credit-sanctions": {"items": [{"id": "c1", "reason": "false commitment", "verification_id": "v" * 36,
                                         "at": "2026-02-01T00:00:00+00:00"}]},
        "/certificates": {"items": []},
        f"/targets/{OTHER}": {"uscc": OTHER, "credit_class": "D", "credit_history": [
            {"previous": "A", "current": "D", "cause": "commitment_breached (VER-7)", "at": "2026-02-01T00:00:00+00:00"}]},
    }
    if path == "/rounds":  # 25 rounds, paged as the service pages them
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        many = [{**ROUND, "id": f"round-{i:02}", "status": "open"} for i in range(25)]
        return httpx.Response(200, json={"items": many[offset: offset + limit]})
    if request.method == "POST" and path.endswith("/assign"):
        return httpx.Response(422, json={"detail": "inspector unknown", "field": "inspector_id"})
    if path in answers:
        return httpx.Response(200, json=answers[path])
    return httpx.Response(404, json={"detail": "not found"})


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, Principal]]]:
    for key, value in testing.identity_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CONFORMITY_SESSION_SECRET", "x" * 32)
    app = create_app(PortalSettings(), transport=httpx.MockTransport(fake_services))
    who: dict[str, Principal] = {}

    async def principal(_request: Any) -> Principal:
        return who["user"]

    app.state.sign_in.session_principal = principal
    app.state.sign_in.session_token = lambda _request: "token"
    with TestClient(app) as client:
        yield client, who


def test_a_closed_rounds_page_shows_the_plot_with_the_labs_point_and_its_table(portal: Any) -> None:
    client, who = portal
    who["user"] = Principal(LAB, Role.LAB, org=LAB)
    page = client.get(f"/lab/rounds/{ROUND['id']}?lang=en").text
    assert 'role="img"' in page and 'class="point signal-acceptable yours"' in page
    assert '<tr class="yours" id="plot-yours" data-rank="2">' in page
    assert "Yours is 0.40 (acceptable), 2 of 4." in page  # the description a screen reader reads


def test_the_labs_home_lists_its_samples_outcomes_and_suspension_with_its_evidence(portal: Any) -> None:
    client, who = portal
    who["user"] = Principal(LAB, Role.LAB, org=LAB)
    page = client.get("/lab?lang=en").text
    assert f'href="/lab/samples/{"s" * 36}"' in page
    assert 'id="suspensions"' in page and f'href="/lab/rounds/{ROUND["id"]}"' in page and "qqqqqqqq" in page
    assert '<tr data-field="TL-FOOD"><th scope="row">TL-FOOD</th><td>1</td><td>1</td>' in page


def test_the_regulator_sees_overdue_applications_as_of_a_day_and_a_bad_day_is_refused_beside_its_input(
    portal: Any
) -> None:
    client, who = portal
    who["user"] = Principal("reg", Role.REGULATOR)
    page = client.get("/regulator/overdue?as_of=2027-01-04&lang=en")
    assert page.status_code == 200 and f'data-id="{"a" * 36}"' in page.text and "2027-01-04" in page.text
    bad = client.get("/regulator/overdue?as_of=tomorrow&lang=en")
    assert bad.status_code == 422 and 'href="#as_of"' in bad.text and 'aria-invalid="true"' in bad.text


def test_assigning_a_verification_refused_shows_the_refusal_beside_the_inspector_input(portal: Any) -> None:
    client, who = portal
    who["user"] = Principal("reg", Role.REGULATOR)
    page = client.get("/regulator/verifications?lang=en").text
    assert '<option value="INS-7">' in page and 'list="inspector-ids"' in page
    refused = client.post(f"/regulator/verifications/{'v' * 36}/assign", data={"inspector_id": "nobody"})
    assert refused.status_code == 422
    assert f'href="#inspector-{"v" * 36}"' in refused.text and 'value="nobody"' in refused.text


def test_the_agency_sees_its_suspension_with_its_reason_and_its_credit_sanctions(portal: Any) -> None:
    client, who = portal
    who["user"] = Principal(OTHER, Role.AGENCY, org=OTHER)
    assert 'id="suspended-notice"' in client.get("/agency?lang=en").text
    page = client.get("/agency/supervision?lang=en").text
    assert 'data-action="suspended"' in page and "commitment breached" in page and "false commitment" in page
    assert 'id="credit-class" data-class="D"' in page and "A → D" in page and "commitment_breached (VER-7)" in page


def test_a_long_list_is_paged_with_links_that_keep_the_other_lists_pages(portal: Any) -> None:
    client, who = portal
    who["user"] = Principal(LAB, Role.LAB, org=LAB)
    first = client.get("/lab?lang=en").text
    assert first.count('<tr data-id="round-') == paging.PAGE_SIZE
    pager = first[first.index('id="rounds-pager"'):]
    pager = pager[: pager.index("</nav>")]
    assert 'aria-label="Rounds · pages"' in pager and 'aria-current="page">Page 1<' in pager
    assert 'href="/lab?rounds_page=2" rel="next"' in pager and 'rel="prev"' not in pager
    second = client.get("/lab?rounds_page=2&samples_page=1&lang=en").text
    assert second.count('<tr data-id="round-') == 5 and 'data-id="round-24"' in second
    assert 'href="/lab?samples_page=1" rel="prev"' in second and 'rel="next"' not in second.split('id="rounds-pager"')[1].split("</nav>")[0]
    assert 'id="samples-pager"' not in second  # one page: no controls
