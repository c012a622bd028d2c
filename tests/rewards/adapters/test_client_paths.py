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
