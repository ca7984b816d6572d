"""Walk a supervision campaign over HTTP as its parties would: the regulator creates it, every
party commits to a fresh secret, the regulator freezes the snapshot, every party reveals, and
once the beacon is due the regulator draws with the beacon's value (DRAW.md).

For tests and benchmarks that need drawn campaigns; `until` waits for an instant (by default
by sleeping; an in-process test may move its runtime's clock instead).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx

from conformity_shared.auth import Role
from conformity_devstack.factories import BEACON_VALUE, campaign_request, commitment, party_secret
from conformity_devstack.testing import token

REGULATOR_PARTY = "regulator"


async def sleep_until(instant: dt.datetime) -> None:
    """Wait, on the wall clock, until `instant` has passed."""
    await asyncio.sleep(max(0.0, (instant - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)


class CampaignWalk:
    """One client's campaigns walked through their lifecycle; the secrets stay in this object."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        regulator: Mapping[str, str] | None = None,
        until: Callable[[dt.datetime], Awaitable[None]] = sleep_until,
    ) -> None:
        self.http = http
        self.regulator = dict(regulator or token(Role.REGULATOR))
        self.until = until
        self.secrets: dict[tuple[str, str], str] = {}

    def headers(self, party: str) -> dict[str, str]:
        """The party's own token: the regulator's, or an observer token naming the observer."""
        return self.regulator if party == REGULATOR_PARTY else token(Role.OBSERVER, subject=party)

    async def create(self, **overrides: Any) -> dict[str, Any]:
        answer = await self.http.post("/campaigns", headers=self.regulator, json=campaign_request(**overrides))
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def commit_all(self, campaign: Mapping[str, Any]) -> None:
        """Every party commits to a fresh secret of its own."""
        for party in (p["party"] for p in campaign["parties"]):
            secret = self.secrets.setdefault((campaign["id"], party), party_secret())
            answer = await self.http.post(
                f"/campaigns/{campaign['id']}/commitments", headers=self.headers(party),
                json={"commitment": commitment(party, secret)},
            )
            assert answer.status_code == 200, answer.text

    async def freeze(self, campaign_id: str) -> httpx.Response:
        return await self.http.post(f"/campaigns/{campaign_id}/freeze", headers=self.regulator)

    async def reveal_all(self, campaign: Mapping[str, Any], withhold: Iterable[str] = ()) -> None:
        """Every party but `withhold` reveals the secret it committed to."""
        for party in (p["party"] for p in campaign["parties"]):
            if party in set(withhold):
                continue
            answer = await self.http.post(
                f"/campaigns/{campaign['id']}/reveals", headers=self.headers(party),
                json={"secret": self.secrets[(campaign["id"], party)]},
            )
            assert answer.status_code == 200, answer.text

    async def draw(self, campaign: Mapping[str, Any], beacon_value: str = BEACON_VALUE) -> httpx.Response:
        """Wait until the beacon is due, then draw with its value."""
        await self.until(dt.datetime.fromisoformat(campaign["beacon"]["due"]))
        return await self.http.post(
            f"/campaigns/{campaign['id']}/draw", headers=self.regulator, json={"beacon_value": beacon_value}
        )

    async def frozen(self, **overrides: Any) -> httpx.Response:
        """Create, commit every party, freeze: the freeze's answer (a refusal included)."""
        created = await self.create(**overrides)
        await self.commit_all(created)
        return await self.freeze(created["id"])

    async def drawn(self, *, withhold: Iterable[str] = (), **overrides: Any) -> dict[str, Any]:
        """A campaign created, committed to, frozen, revealed (but by `withhold`) and drawn."""
        frozen = await self.frozen(**overrides)
        assert frozen.status_code == 200, frozen.text
        await self.reveal_all(frozen.json(), withhold)
        drawn = await self.draw(frozen.json())
        assert drawn.status_code == 200, drawn.text
        return drawn.json()
