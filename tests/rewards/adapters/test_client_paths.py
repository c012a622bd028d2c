"""The rewards service's calls reach the member they name, whatever the id."""

from __future__ import annotations

import httpx
import pytest

from loyalty_rewards.adapters.clients import PointsClient, TiersClient


@pytest.mark.parametrize("member", ["..", ".", "m.1", "a:b", "..x"])
async def test_a_dotted_member_id_reaches_that_members_routes(member):
    asked: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.raw_path)
        return httpx.Response(200, json={"available": 0, "vesting": [], "tier": "opal"})

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        await PointsClient(client).spendable(member)
        await TiersClient(client).tier(member)
    paths = [httpx.URL("http://svc" + p.decode()).path for p in asked]  # as a server reads them
    assert paths == [f"/v1/members/{member}/balance", f"/v1/members/{member}/tier"]


async def spendable_of(balance: dict) -> object:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=balance))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await PointsClient(client).spendable("m-1")


async def test_what_is_spendable_later_is_the_points_services_figure_or_added_up_before_it():
    vesting = [{"points": 20, "vests_at": "2026-03-03T09:00:00Z", "spendable_after": 80},
               {"points": 30, "vests_at": "2026-03-05T09:00:00Z", "spendable_after": 110}]  # fmt: skip
    now = await spendable_of({"available": 100, "vesting": vesting})
    assert [then for _, then in now.later] == [80, 110]  # 40 expired in between
    older = [{k: v for k, v in x.items() if k != "spendable_after"} for x in vesting]
    before = await spendable_of({"available": 100, "vesting": older})
    assert [then for _, then in before.later] == [120, 150]
