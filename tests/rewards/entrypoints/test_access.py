"""Access in the rewards service: a member redeems for themselves only, within the
abuse limit; cancelling and the catalog admin are for ops."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tests.support.access import member_header, member_token
from tests.support.events import purchase
from tests.support.rewards import rewards_stack

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
COFFEE = {"reward_id": "cheap", "name": "cheap", "kind": "physical", "points_cost": 1}


async def test_a_member_redeems_for_themselves_only(platform_database, kafka) -> None:
    async with rewards_stack(platform_database, kafka) as s:
        await s.feed(purchase("m-1", "p1", "50.00", T0), purchase("m-2", "p2", "50.00", T0))
        assert (await s.client.post("/v1/admin/rewards", json=COFFEE)).status_code == 201
        me = member_header(member_token("m-1"))
        body, key = {"reward_id": "cheap"}, {"Idempotency-Key": "k1"}
        mine = await s.client.post("/v1/members/m-1/redemptions", json=body, headers={**key, **me})
        theirs = await s.client.post(
            "/v1/members/m-2/redemptions", json=body, headers={**key, **me}
        )
        peek = await s.client.get("/v1/rewards", params={"member_id": "m-2"}, headers=me)
        cancel = await s.client.post(
            f"/v1/redemptions/{mine.json()['redemption_id']}/cancel", headers=me
        )
        admin = await s.client.post(
            "/v1/admin/rewards", json={**COFFEE, "reward_id": "x"}, headers=me
        )
        assert (mine.status_code, theirs.status_code, peek.status_code) == (201, 404, 404)
        assert (cancel.status_code, admin.status_code) == (403, 403)
        assert await s.balance("m-2") == 50
        assert await s.balance("m-1") == 49


async def test_redemptions_over_the_limit_wait(platform_database, kafka, caplog) -> None:
    caplog.set_level(logging.WARNING, "loyalty.security")
    async with rewards_stack(platform_database, kafka, redemptions_per_member=2) as s:
        await s.feed(purchase("m-1", "p1", "50.00", T0), purchase("m-2", "p2", "50.00", T0))
        await s.client.post("/v1/admin/rewards", json=COFFEE)

        async def redeem(member: str, key: str) -> tuple[int, str | None]:
            answer = await s.client.post(
                f"/v1/members/{member}/redemptions",
                json={"reward_id": "cheap"},
                headers={"Idempotency-Key": key, **member_header(member_token(member))},
            )
            return answer.status_code, answer.headers.get("Retry-After")

        assert [await redeem("m-1", f"k{n}") for n in range(2)] == [(201, None)] * 2
        status, wait = await redeem("m-1", "k3")
        assert status == 429
        assert wait is not None
        assert 1 <= int(wait) <= 60
        assert await redeem("m-2", "k1") == (201, None)  # each member has their own count
        assert await s.balance("m-1") == 48
    events = [r.getMessage() for r in caplog.records if r.name == "loyalty.security"]
    assert len(events) == 1
    assert '"security_event": "redemptions_over_limit"' in events[0]


async def test_a_coupon_code_is_shown_to_its_member_only(platform_database, kafka) -> None:
    coupon = {"reward_id": "voucher", "name": "voucher", "kind": "coupon", "points_cost": 5}
    async with rewards_stack(platform_database, kafka) as s:
        await s.feed(purchase("m-1", "p1", "50.00", T0))
        assert (await s.client.post("/v1/admin/rewards", json=coupon)).status_code == 201
        me = member_header(member_token("m-1"))
        made = await s.client.post(
            "/v1/members/m-1/redemptions",
            json={"reward_id": "voucher"},
            headers={"Idempotency-Key": "k1", **me},
        )
        code = made.json()["coupon_code"]
        own = (await s.client.get("/v1/members/m-1/redemptions", headers=me)).json()
        ops = (await s.client.get("/v1/members/m-1/redemptions")).json()  # the stack's key
    assert code
    assert [r["coupon_code"] for r in own] == [code]
    assert [(r["redemption_id"], r["coupon_code"]) for r in ops] == [
        (made.json()["redemption_id"], None)
    ]
