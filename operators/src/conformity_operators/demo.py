"""`conformity demo`: seed a small, realistic world through the public HTTP APIs, then play the
five cross-service flows of DESIGN.md so that a newcomer sees them happen (in the terminal,
and live on the dashboard).

Only the public APIs are used, exactly as the agencies, inspectors and regulator would. A
flow that needs an endpoint the running version does not offer yet is skipped with a clear
message saying what would happen; nothing else is faked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from conformity_shared import uscc
from conformity_shared.auth import Role
from conformity_operators import broker
from conformity_operators.errors import OperatorError, ServiceUnreachable
from conformity_operators.events_view import OrganisationNames
from conformity_operators.platform_api import EndpointMissing, PlatformApi, Refused
from conformity_operators.causal_trace import Trace, build_trace

# --- the world ------------------------------------------------------------------------------

BODIES = (
    ("Fujian Certification Co.", ("MS-QMS", "MS-EMS"), "Fuzhou, Gulou district, 12 Wusi Road"),
    ("Shanghai Huace Product Certification Centre", ("CCC-08", "CCC-09"), "Shanghai, Xuhui district, 88 Caoxi Road"),
    ("Guangdong Zhongjian Certification Ltd.", ("VP-GEN", "MS-QMS"), "Guangzhou, Tianhe district, 3 Tiyu Road"),
)
LABS = (
    ("Zhejiang Electrical Safety Testing Institute", ("TL-ELEC", "TL-EMC"), "Hangzhou, Binjiang district"),
    ("Tianjin Consumer Goods Analysis Lab", ("TL-CHEM",), "Tianjin, Nankai district"),
)
ENTERPRISES = (
    "Beijing Kettle Works",
    "Suzhou Textile Dyeing Group",
    "Ningbo Bright Lamp Factory",
    "Shenzhen Link Router Co.",
    "Hangzhou Bamboo Furniture Co.",
    "Chengdu Spice Foods Ltd.",
)
# (body, enterprise, scheme, field, product, standard)
CERTIFICATES = (
    (0, 0, "management_system", "MS-QMS", "Design and manufacture of electric kettles", "GB/T 19001-2016"),
    (0, 1, "management_system", "MS-EMS", "Dyeing and finishing of cotton fabrics", "GB/T 24001-2016"),
    (1, 2, "CCC", "CCC-09", "LED ceiling lamps, 12-36 W", "GB 7000.1-2015"),
    (1, 3, "CCC", "CCC-08", "Dual-band Wi-Fi routers", "GB 4943.1-2022"),
    (2, 4, "voluntary_product", "VP-GEN", "Bamboo dining furniture", "GB/T 35607-2017"),
    (2, 5, "management_system", "MS-QMS", "Production of hotpot seasoning", "GB/T 19001-2016"),
)
INSPECTORS = (("Zhang San", "110000"), ("Li Si", "310000"), ("Wang Wu", "440000"), ("Zhao Liu", "330000"))
SPOT_CHECKED = 0  # the kettle certificate fails its spot check (flows 1 and 2)
BREACHING_BODY = 2  # Guangdong's commitment turns out untrue (flows 3 and 5)
# The next draw is committed to by the regulator and an outside observer, and seeded by a beacon.
OBSERVER = "notary-fuzhou"
BEACON_SOURCE = "China Welfare Lottery 3D, the draw published after the reveal deadline"
REVEAL_WINDOW = dt.timedelta(seconds=4)  # time to commit, freeze and reveal before the deadline


@dataclass
class Organisation:
    uscc: str
    name: str
    fields: tuple[str, ...] = ()
    approval_id: str | None = None


@dataclass
class Certificate:
    number: str
    body: Organisation
    holder: Organisation
    field: str


@dataclass
class World:
    bodies: list[Organisation] = field(default_factory=list)
    labs: list[Organisation] = field(default_factory=list)
    enterprises: list[Organisation] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    inspectors: list[str] = field(default_factory=list)
    spot_check_id: str | None = None
    suspended_by_revocation: list[Certificate] = field(default_factory=list)


# --- how the demo speaks ----------------------------------------------------------------------


class Narrator(Protocol):
    """What the demo tells; the CLI draws it with Rich, tests record it."""

    def section(self, title: str, text: str) -> None: ...
    def step(self, text: str) -> None: ...
    def done(self, text: str) -> None: ...
    def degraded(self, text: str) -> None: ...
    def failed(self, text: str) -> None: ...
    def progress(self, total: int, label: str) -> AbstractContextManager[Callable[[str], None]]: ...
    def cascade(self, trace: Trace, names: OrganisationNames) -> None: ...


@dataclass
class FlowOutcome:
    flow: str
    status: str  # "shown", "explained" (time-based, described), "degraded" (endpoint missing), "failed"
    detail: str = ""


class StepTimeout(OperatorError):
    pass


FLOWS = (
    "1 spot check fails → certificates suspended",
    "2 rectification verified → certificates reinstated",
    "3 commitment breached → approval revoked → certificates suspended → credit drops",
    "4 lab fails twice → field suspended",
    "5 suspension deadline passes → certificate withdrawn",
)


class Demo:
    def __init__(
        self,
        api: PlatformApi,
        narrator: Narrator,
        *,
        bootstrap: str | None = None,
        seed: int | None = None,
        timeout: float = 45.0,
    ) -> None:
        self.api = api
        self.say = narrator
        self.bootstrap = bootstrap  # where to read the cascades from; None: do not draw them
        self.rng = random.Random(seed)
        self.run_id = f"{self.rng.getrandbits(24):06x}"
        self.timeout = timeout
        self.world = World()
        self.regulator = api.auth(Role.REGULATOR)

    # --- running ---

    async def run(self) -> list[FlowOutcome]:
        await self.preflight()
        await self.seed()
        outcomes = []
        for flow, play in zip(FLOWS, (self.flow_1, self.flow_2, self.flow_3, self.flow_4, self.flow_5), strict=True):
            try:
                outcomes.append(await play())
            except ServiceUnreachable:
                raise
            except EndpointMissing as exc:
                self.say.degraded(exc.message)
                outcomes.append(FlowOutcome(flow, "degraded", exc.message))
            except OperatorError as exc:
                self.say.failed(exc.message)
                outcomes.append(FlowOutcome(flow, "failed", exc.message))
        return outcomes

    async def preflight(self) -> None:
        """The three services the seeding needs must answer; proficiency may be missing (flow 4 only)."""
        for service in ("approval", "certificates", "supervision"):
            await self.api.health(service)

    async def until(self, check: Callable[[], Awaitable[Any]], what: str, hint: str) -> Any:
        """Poll `check` until it returns something truthy; a clear StepTimeout otherwise."""
        deadline = time.monotonic() + self.timeout
        while True:
            result = await check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise StepTimeout(f"{what} did not happen within {self.timeout:.0f} s: {hint}")
            await asyncio.sleep(0.3)

    # --- the world ---

    async def seed(self) -> None:
        self.say.section(
            "Seeding a small world",
            "through the public APIs, as agencies and the regulator would: certification bodies and labs approved "
            "on the notification-commitment path, enterprises certified, inspectors registered",
        )
        steps = len(BODIES) + len(LABS) + len(CERTIFICATES) + len(INSPECTORS)
        with self.say.progress(steps, "seeding") as advance:
            for name, fields, premises in BODIES:
                body = await self._approved(name, "certification_body", fields, premises, staff=12)
                self.world.bodies.append(body)
                advance(f"approved {name} for {', '.join(fields)}")
            for name, fields, premises in LABS:
                lab = await self._approved(name, "testing_lab", fields, premises, staff=4)
                self.world.labs.append(lab)
                advance(f"approved {name} for {', '.join(fields)}")
            self.world.enterprises = [Organisation(uscc.make(self.rng), name) for name in ENTERPRISES]
            for body_index, holder_index, scheme, field_code, product, standard in CERTIFICATES:
                body, holder = self.world.bodies[body_index], self.world.enterprises[holder_index]
                number = await self._issued(body, holder, scheme, field_code, product, standard)
                self.world.certificates.append(Certificate(number, body, holder, field_code))
                advance(f"{body.name} certified {holder.name}: {number}")
            for index, (name, region) in enumerate(INSPECTORS, start=1):
                inspector_id = f"insp-{self.run_id}-{index:02d}"
                await self.api.call(
                    "supervision", "POST", "/inspectors", auth=self.regulator,
                    json={"id": inspector_id, "name": name, "region": region,
                          "organisation": uscc.make(self.rng, kind="12", division=region)},
                )
                self.world.inspectors.append(inspector_id)
                advance(f"registered inspector {name} ({inspector_id})")
        self.say.done(
            f"{len(self.world.bodies)} certification bodies, {len(self.world.labs)} labs, "
            f"{len(self.world.certificates)} certificates for {len(self.world.enterprises)} enterprises, "
            f"{len(self.world.inspectors)} inspectors"
        )

    async def _approved(self, name: str, kind: str, fields: tuple[str, ...], premises: str, staff: int) -> Organisation:
        org = Organisation(uscc.make(self.rng), name, fields)
        answer = await self.api.call(
            "approval", "POST", "/applications", auth=self.api.auth(Role.AGENCY, org=org.uscc),
            json={
                "organisation_uscc": org.uscc, "organisation_name": name, "kind": kind, "path": "commitment",
                "requested_fields": list(fields),
                "declared": {
                    "staff_per_field": {f: staff for f in fields}, "registered_capital_rmb": 5_000_000,
                    "premises": premises, "management_system": "ISO/IEC 17021-1 / 17025 quality manual v3",
                },
                "commitment_text": "We commit that every condition is met. Signed: the legal representative.",
            },
        )
        org.approval_id = answer.get("approval_id")
        if answer.get("status") != "granted" or not org.approval_id:
            raise OperatorError(f"{name} was not approved on the spot: {answer.get('status')} {answer.get('failed_rules')}")
        return org

    async def _issued(
        self, body: Organisation, holder: Organisation, scheme: str, field_code: str, product: str, standard: str
    ) -> str:
        agency = self.api.auth(Role.AGENCY, org=body.uscc)
        request = {"holder_uscc": holder.uscc, "holder_name": holder.name, "scheme": scheme, "field": field_code,
                   "product": product, "standard": standard}

        refusals: list[str] = []

        async def issue() -> str | None:
            try:
                return (await self.api.call("certificates", "POST", "/certificates", auth=agency, json=request))["number"]
            except Refused as exc:
                if exc.status == 422:  # certificates has not yet learned of the approval from its event
                    refusals.append(str(exc.detail))
                    return None
                raise

        try:
            return await self.until(
                issue, f"issuing a certificate by {body.name}",
                "the certificates service learns of approvals from approval.granted.v1; is it consuming? "
                "(see its log, var/certificates.log under `make run`)",
            )
        except StepTimeout as exc:
            raise StepTimeout(f"{exc.message}; its last answer: {refusals[-1] if refusals else 'none'}") from None

    async def _public_status(self, number: str) -> dict[str, Any]:
        return await self.api.call("certificates", "GET", f"/public/certificates/{number}")

    async def _show_cascade(self, correlation_id: str, expected: set[str]) -> None:
        """Draw the causal tree of the flow, read back from the topics (as `conformity trace` does)."""
        if not self.bootstrap:
            return
        deadline = time.monotonic() + 15
        while True:
            views = await broker.read_topics(self.bootstrap, broker.resolve_topics(None))
            found = build_trace(views, correlation_id)
            if expected <= {n.event.type for n in found.nodes()} or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        names = OrganisationNames()
        for view in views:
            names.learn(view)
        self.say.cascade(found, names)

    # --- the flows ---

    async def flow_1(self) -> FlowOutcome:
        cert = self.world.certificates[SPOT_CHECKED]
        self.say.section(
            "Flow 1 · a product spot check fails → the named certificates are suspended",
            f"an inspector samples a product of {cert.holder.name} (certificate {cert.number}); the sample overheats",
        )
        first, second = self.world.inspectors[0], self.world.inspectors[1]
        ordered = await self.api.call(
            "supervision", "POST", "/inspections", auth=self.regulator,
            json={"target_uscc": cert.holder.uscc, "target_kind": "enterprise", "kind": "product_spot_check",
                  "inspector_ids": [first, second]},
        )
        self.world.spot_check_id = ordered["id"]
        self.say.step(f"the regulator ordered product spot check {ordered['id']} (inspectors {first}, {second})")
        correlation_id = self.api.new_correlation_id()
        await self.api.call(
            "supervision", "POST", f"/inspections/{ordered['id']}/result",
            auth=self.api.auth(Role.INSPECTOR, inspector_id=first), correlation_id=correlation_id,
            json={"findings": "sample overheats at 1.15 × rated power (GB 4706.19 clause 11)",
                  "samples": [{"certificate_number": cert.number, "passed": False, "finding": "overheating"}]},
        )
        self.say.step(f"inspector {first} recorded the failed sample (request {correlation_id})")

        async def suspended() -> dict[str, Any] | None:
            status = await self._public_status(cert.number)
            return status if status["status"] == "suspended" else None

        status = await self.until(suspended, f"the suspension of {cert.number}", "is the certificates service consuming supervision.events?")
        self.say.done(
            f"public check of {cert.number}: suspended ({status['suspension']['reason']}) "
            f"until {status['suspension']['until']}, with no human in the loop"
        )
        await self._show_cascade(correlation_id, {"supervision.spot_check_failed.v1", "certificate.suspended.v1"})
        return FlowOutcome(FLOWS[0], "shown", f"{cert.number} suspended")

    async def flow_2(self) -> FlowOutcome:
        cert = self.world.certificates[SPOT_CHECKED]
        self.say.section(
            "Flow 2 · rectification verified → those certificates are reinstated",
            f"{cert.holder.name} fixes its kettle; a re-inspection checks it",
        )
        if not self.world.spot_check_id:
            raise OperatorError("flow 2 needs the spot check of flow 1, which did not happen")
        # Two inspectors, as for every inspection; here not those of the spot check.
        inspector, second = self.world.inspectors[2], self.world.inspectors[3]
        ordered = await self.api.call(
            "supervision", "POST", "/inspections", auth=self.regulator,
            json={"target_uscc": cert.holder.uscc, "target_kind": "enterprise", "kind": "re_inspection",
                  "inspector_ids": [inspector, second], "spot_check_id": self.world.spot_check_id},
        )
        correlation_id = self.api.new_correlation_id()
        await self.api.call(
            "supervision", "POST", f"/inspections/{ordered['id']}/result",
            auth=self.api.auth(Role.INSPECTOR, inspector_id=inspector), correlation_id=correlation_id,
            json={"verdict": "pass", "findings": "thermal cut-out replaced; the new samples pass clause 11"},
        )
        self.say.step(f"inspector {inspector} recorded re-inspection {ordered['id']}: pass (request {correlation_id})")

        async def valid() -> dict[str, Any] | None:
            status = await self._public_status(cert.number)
            return status if status["status"] == "valid" else None

        await self.until(valid, f"the reinstatement of {cert.number}", "is the certificates service consuming supervision.events?")
        self.say.done(f"public check of {cert.number}: valid again")
        await self._show_cascade(correlation_id, {"supervision.rectification_verified.v1", "certificate.reinstated.v1"})
        return FlowOutcome(FLOWS[1], "shown", f"{cert.number} reinstated")

    async def flow_3(self) -> FlowOutcome:
        body = self.world.bodies[BREACHING_BODY]
        certificates = [c for c in self.world.certificates if c.body is body]
        self.say.section(
            "Flow 3 · a breached commitment → approval revoked → its certificates suspended → credit drops",
            f"the post-approval verification of {body.name} finds it had 3 qualified staff, not the 12 it signed for",
        )
        before = await self._credit_class(body.uscc)
        correlation_id = await self._record_breach(body)
        await self._await_suspensions(body, certificates)
        after = await self._await_credit_change(body, before)
        await self._show_cascade(
            correlation_id,
            {"approval.commitment_breached.v1", "approval.revoked.v1", "certificate.suspended.v1",
             "supervision.credit_class_changed.v1"},
        )
        await self._next_draw(body, after)
        return FlowOutcome(FLOWS[2], "shown", f"{body.name}: revoked, {len(certificates)} certificates suspended, credit {before} → {after}")

    async def _record_breach(self, body: Organisation) -> str:
        """An inspector records the post-approval verification as breached; returns the request's correlation id."""
        approval = await self.api.call("approval", "GET", f"/approvals/{body.approval_id}", auth=self.regulator)
        pending = [v for v in approval.get("verifications", []) if v.get("status") == "scheduled"]
        if not pending:
            raise OperatorError(f"approval {body.approval_id} has no post-approval verification to record")
        verification = pending[0]["id"]
        inspector = self.world.inspectors[2]
        await self.api.call("approval", "POST", f"/verifications/{verification}/assign", auth=self.regulator,
                            json={"inspector_id": inspector})
        correlation_id = self.api.new_correlation_id()
        await self.api.call(
            "approval", "POST", f"/verifications/{verification}/result",
            auth=self.api.auth(Role.INSPECTOR, inspector_id=inspector), correlation_id=correlation_id,
            json={"outcome": "breached", "findings": "3 full-time qualified auditors for MS-QMS, not the 12 declared"},
        )
        self.say.step(f"inspector {inspector} recorded verification {verification}: commitment breached (request {correlation_id})")
        return correlation_id

    async def _await_suspensions(self, body: Organisation, certificates: list[Certificate]) -> None:
        async def all_suspended() -> list[dict[str, Any]] | None:
            statuses = [await self._public_status(c.number) for c in certificates]
            return statuses if all(s["status"] == "suspended" for s in statuses) else None

        statuses = await self.until(all_suspended, f"the suspension of {body.name}'s certificates",
                                    "is the certificates service consuming approval.events?")
        self.world.suspended_by_revocation = certificates
        for s in statuses:
            self.say.done(f"public check of {s['number']}: suspended ({s['suspension']['reason']})")

    async def _await_credit_change(self, body: Organisation, before: str | None) -> str:
        async def lowered() -> str | None:
            current = await self._credit_class(body.uscc)
            return current if current and current != before else None

        after = await self.until(lowered, f"the credit class change of {body.name}",
                                 "is the supervision service consuming approval.events?")
        self.say.done(f"credit class of {body.name}: {before} → {after}")
        return after

    async def _credit_class(self, organisation: str) -> str | None:
        try:
            return (await self.api.call("supervision", "GET", f"/targets/{organisation}", auth=self.regulator))["credit_class"]
        except Refused as exc:
            if exc.status == 404:  # not in the directory yet: its approval event has not arrived
                return None
            raise

    async def _next_draw(self, body: Organisation, credit_class: str) -> None:
        """'It is sampled more in the next draw': draw a campaign when supervision offers it."""
        ratios = {"A": "0.05", "B": "0.2", "C": "0.6", "D": "1"}
        try:
            drawn = await self._drawn_campaign(ratios)
        except (EndpointMissing, Refused) as exc:
            self.say.degraded(
                f"next draw not shown ({exc.message}); in the next campaign {body.name} is sampled with class "
                f"{credit_class}'s ratio ({ratios.get(credit_class, '?')}) instead of class A's {ratios['A']}"
            )
            return
        self.say.done(f"campaign {drawn['id']} drawn with seed {drawn['seed'][:16]}… derived from the snapshot, "
                      f"both secrets and the beacon; {body.name} is now sampled at class {credit_class}'s ratio "
                      f"{ratios.get(credit_class, '?')}")

    async def _drawn_campaign(self, ratios: dict[str, str]) -> dict[str, Any]:
        """A campaign no one can steer: the regulator and an outside observer commit to secrets, the
        snapshot is frozen, both reveal, and once the beacon is due the regulator draws."""
        now = dt.datetime.now(dt.UTC)
        campaign = await self.api.call(
            "supervision", "POST", "/campaigns", auth=self.regulator,
            json={"name": f"demo campaign {self.run_id}", "target_kinds": ["certification_body", "testing_lab"],
                  "ratios": ratios, "inspectors_per_target": 2, "observers": [OBSERVER],
                  "reveal_deadline": (now + REVEAL_WINDOW).isoformat(), "beacon_source": BEACON_SOURCE,
                  "beacon_due": (now + REVEAL_WINDOW + dt.timedelta(seconds=1)).isoformat()},
        )
        path = f"/campaigns/{campaign['id']}"
        parties = {"regulator": self.regulator, OBSERVER: self.api.auth(Role.OBSERVER, subject=OBSERVER)}
        kept = {party: secrets.token_hex(32) for party in parties}  # each party's secret, private until revealed
        for party, auth in parties.items():
            committed = hashlib.sha256(party.encode() + b"\x00" + kept[party].encode()).hexdigest()
            await self.api.call("supervision", "POST", f"{path}/commitments", auth=auth, json={"commitment": committed})
        frozen = await self.api.call("supervision", "POST", f"{path}/freeze", auth=self.regulator)
        self.say.step(f"the regulator and {OBSERVER} committed to secrets; the directories are frozen "
                      f"(snapshot {frozen['snapshot_hash'][:16]}…, published before any secret)")
        for party, auth in parties.items():
            await self.api.call("supervision", "POST", f"{path}/reveals", auth=auth, json={"secret": kept[party]})
        due = dt.datetime.fromisoformat(frozen["beacon"]["due"])
        await asyncio.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
        beacon = f"demo beacon {self.run_id}"
        self.say.step(f"both revealed; the beacon is published: {beacon!r}")
        return await self.api.call("supervision", "POST", f"{path}/draw", auth=self.regulator,
                                   json={"beacon_value": beacon})

    async def flow_4(self) -> FlowOutcome:
        lab = self.world.labs[0]
        field_code = lab.fields[0]
        self.say.section(
            "Flow 4 · a lab fails twice → that field of its qualification is suspended, its credit drops",
            f"{lab.name} reports far-off values in two proficiency-testing rounds of {field_code} (action signals, |z| ≥ 3)",
        )
        explain = (
            f"when it runs: two action signals in a row → proficiency.lab_failed.v1 twice and "
            f"proficiency.lab_field_suspension_required.v1 → approval suspends {field_code} of {lab.name} "
            "(approval.suspended.v1) and supervision lowers its credit class (supervision.credit_class_changed.v1)"
        )
        try:
            await self.api.health("proficiency")
        except ServiceUnreachable as exc:
            self.say.degraded(f"{exc.message}; {explain}")
            return FlowOutcome(FLOWS[3], "degraded", "the proficiency service is not reachable")
        other = self.world.labs[1]
        correlation_ids = []
        try:
            for round_number in (1, 2):
                correlation_ids.append(await self._failed_round(lab, other, field_code, round_number))
        except (EndpointMissing, Refused) as exc:
            self.say.degraded(f"{exc.message}; {explain}")
            return FlowOutcome(FLOWS[3], "degraded", exc.message)

        async def field_suspended() -> bool:
            approval = await self.api.call("approval", "GET", f"/approvals/{lab.approval_id}", auth=self.regulator)
            return field_code in (approval.get("suspended_fields") or [])

        await self.until(field_suspended, f"the suspension of {field_code} for {lab.name}",
                         "is the approval service consuming proficiency.events?")
        self.say.done(f"{lab.name}: {field_code} suspended; its other fields stay approved")
        await self._show_cascade(correlation_ids[-1], {"proficiency.lab_field_suspension_required.v1", "approval.suspended.v1"})
        return FlowOutcome(FLOWS[3], "shown", f"{lab.name}: {field_code} suspended")

    async def _failed_round(self, lab: Organisation, other: Organisation, field_code: str, number: int) -> str:
        """One round with a reference value where `lab` reads far off (z ≈ 10): an action signal."""
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
        created = await self.api.call(
            "proficiency", "POST", "/rounds", auth=self.regulator,
            json={"field": field_code, "measurand": "insulation resistance at 500 V d.c.", "unit": "MΩ",
                  "deadline": deadline.isoformat(), "sigma_pt": {"method": "fixed", "value": 0.5},
                  "assigned_value": {"method": "reference", "value": 100.0, "expanded_uncertainty": 0.2,
                                     "coverage_factor": 2},
                  "labs": [lab.uscc, other.uscc]},
        )
        round_id = created["id"]
        self.say.step(f"round {number} ({round_id}): reference 100.0 MΩ, σ_pt 0.5 MΩ")
        for org, value in ((lab, 105.0), (other, 100.2)):
            await self.api.call(
                "proficiency", "POST", f"/rounds/{round_id}/results", auth=self.api.auth(Role.LAB, org=org.uscc),
                json={"value": value, "expanded_uncertainty": 0.4, "coverage_factor": 2},
            )
        await asyncio.sleep(max(0.0, (deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
        correlation_id = self.api.new_correlation_id()
        await self.api.call("proficiency", "POST", f"/rounds/{round_id}/close", auth=self.regulator,
                            correlation_id=correlation_id)
        self.say.step(f"round {number} closed: {lab.name} z ≈ 10 (action signal)")
        return correlation_id

    async def flow_5(self) -> FlowOutcome:
        self.say.section(
            "Flow 5 · a suspension deadline passes → the certificate is withdrawn",
            "time-based: the certificates service's due-transition pass withdraws a certificate whose suspension "
            "deadline has passed without reinstatement",
        )
        waiting = self.world.suspended_by_revocation or self.world.certificates[:1]
        statuses = [await self._public_status(c.number) for c in waiting]
        suspended = [s for s in statuses if s["status"] == "suspended"]
        if not suspended:
            raise OperatorError("no suspended certificate to wait on (flow 3 did not suspend any)")
        hook = await self._due_transitions_hook()
        if hook is None:
            return self._explain_withdrawal(suspended)
        return await self._withdraw_after_deadline(suspended[0], hook)

    def _explain_withdrawal(self, suspended: list[dict[str, Any]]) -> FlowOutcome:
        """Where the running certificates service offers no hook, say what its scheduler will do."""
        for s in suspended:
            until = s["suspension"]["until"]
            after = dt.date.fromisoformat(until) + dt.timedelta(days=1)
            self.say.step(f"{s['number']} is suspended until {until}")
            self.say.done(
                f"on {after.isoformat()}, unless reinstated, the certificates service's due-transition pass "
                "(every CONFORMITY_SCHEDULER_INTERVAL_SECONDS, 60 s by default) withdraws it and publishes "
                "certificate.withdrawn.v1; the public check then answers withdrawn"
            )
        self.say.degraded(
            "certificates offers no HTTP hook to run the due-transition pass now, so this flow is explained "
            "rather than shown (its scheduler runs it inside the service)"
        )
        return FlowOutcome(FLOWS[4], "explained", f"{len(suspended)} certificate(s) will be withdrawn after their deadline")

    async def _withdraw_after_deadline(self, target: dict[str, Any], hook: str) -> FlowOutcome:
        """Run the due transitions as of the day after the deadline, and watch the withdrawal."""
        today = (dt.date.fromisoformat(target["suspension"]["until"]) + dt.timedelta(days=1)).isoformat()
        correlation_id = self.api.new_correlation_id()
        try:
            await self.api.call("certificates", "POST", hook, auth=self.regulator, params={"as_of": today},
                                correlation_id=correlation_id)
        except Refused as exc:
            self.say.degraded(
                f"certificates refused to run the due transitions as of {today} ({exc}); start it with "
                "CONFORMITY_ALLOW_AS_OF=true (make run does) to see the withdrawal now"
            )
            return FlowOutcome(FLOWS[4], "explained", f"{target['number']} will be withdrawn after {target['suspension']['until']}")
        self.say.step(f"ran the due-transition pass as of {today} (POST {hook})")

        async def withdrawn() -> bool:
            return (await self._public_status(target["number"]))["status"] == "withdrawn"

        await self.until(withdrawn, f"the withdrawal of {target['number']}", "the due-transition pass did not withdraw it")
        self.say.done(f"public check of {target['number']}: withdrawn")
        await self._show_cascade(correlation_id, {"certificate.withdrawn.v1"})
        return FlowOutcome(FLOWS[4], "shown", f"{target['number']} withdrawn")

    async def _due_transitions_hook(self) -> str | None:
        """A POST route of certificates that runs the due-transition pass, if the running version has one."""
        for path, operations in (await self.api.paths("certificates")).items():
            if "post" in operations and ("due" in path or "transition" in path.split("/")[-1]):
                return path
        return None


def summary_counts(outcomes: list[FlowOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts

