"""SIGKILL the rewards process between the points debit and its own commit, start it
again: the pending redemption is finished, points are taken once, stock once, and the
same Idempotency-Key answers with the same redemption. Then SIGKILL it between giving
the points back and committing the cancel: started again, it finishes the cancel."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime

import httpx

from loyalty_cli.stack import free_port
from loyalty_platform.access import Kind
from loyalty_platform.settings import KafkaSettings
from tests.support import processes
from tests.support.access import SERVICE_SCOPES, KeyByPath, issue_key
from tests.support.events import encode, purchase
from tests.support.kafka import payloads, publish, read_all, read_topic


def points_group(kafka: KafkaSettings) -> dict[str, str]:
    """The points process's consumer group, the test's own, with the shortest session the
    settings allow: the embedded broker lets a consumer join in about half a session, and
    one that follows a stopped process only after about two (points serves no request
    before its consumer has joined)."""
    return {"consumer_group": f"points-{kafka.topic_prefix}", "session_timeout_seconds": "6"}


async def until(check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_a_crash_after_the_debit_is_finished_on_restart(platform_database, kafka, tmp_path):
    points_port, rewards_port = free_port(), free_port()
    log = tmp_path / "services.log"
    points = processes.spawn("loyalty_points", "POINTS_", platform_database, kafka, log,
                             processes.spendable_at_once(tmp_path),
                             port=str(points_port), **points_group(kafka))  # fmt: skip

    def rewards(**extra: str):
        return processes.spawn("loyalty_rewards", "REWARDS_", platform_database, kafka, log,
                               port=str(rewards_port), tiers_url="",
                               points_url=f"http://127.0.0.1:{points_port}",
                               service_key=service_key, relay_takeover_seconds="1",
                               **extra)  # fmt: skip

    service_key = await issue_key(platform_database, Kind.SERVICE, scopes=SERVICE_SCOPES)
    crashing = rewards(failpoint="after_debit")
    auth = KeyByPath(await issue_key(platform_database))
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{rewards_port}", timeout=10, auth=auth)
    points_api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{points_port}", timeout=10, auth=auth
    )
    try:
        at = datetime.now(UTC).replace(microsecond=0)
        await publish(
            kafka, kafka.topics.purchases, [(b"m-1", encode(purchase("m-1", "p1", "500.00", at)))]
        )

        async def balance() -> int | None:
            response = await points_api.get("/v1/members/m-1/balance")
            return response.json()["balance"] if response.status_code == 200 else None

        assert await until(balance) == 500
        await until(lambda: _ready(api))
        created = await api.post("/v1/admin/rewards", json={
            "reward_id": "tree", "name": "tree", "kind": "physical", "points_cost": 200, "stock": 5})  # fmt: skip
        assert created.status_code == 201
        body, headers = {"reward_id": "tree"}, {"Idempotency-Key": "once"}
        try:
            await api.post("/v1/members/m-1/redemptions", json=body, headers=headers)
            raise AssertionError("the rewards process answered: the failpoint did not fire")
        except httpx.HTTPError:
            pass
        assert crashing.wait(10) == -signal.SIGKILL
        assert await balance() == 300  # the points were taken, the redemption is pending

        restarted = rewards()
        try:
            await until(lambda: _ready(api))
            mine = await until(lambda: _confirmed(api))
            again = await api.post("/v1/members/m-1/redemptions", json=body, headers=headers)
            assert again.status_code == 201
            assert again.json()["redemption_id"] == mine[0]["redemption_id"]
            catalog = (await api.get("/v1/rewards")).json()["rewards"]
            assert next(r for r in catalog if r["reward_id"] == "tree")["stock"] == 4
            assert await balance() == 300
            await read_topic(kafka, kafka.topics.rewards_events, expect=1)  # it is out
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(30)
        # Stopped, it has published all it ever will: the redemption, once.
        events = payloads(await read_all(kafka, kafka.topics.rewards_events))
        assert [e["type"] for e in events] == ["loyalty.reward.redeemed.v1"]

        crashing = rewards(failpoint="after_restore")
        await until(lambda: _ready(api))
        redemption_id = mine[0]["redemption_id"]
        try:
            await api.post(f"/v1/redemptions/{redemption_id}/cancel")
            raise AssertionError("the rewards process answered: the failpoint did not fire")
        except httpx.HTTPError:
            pass
        assert crashing.wait(10) == -signal.SIGKILL
        assert await balance() == 500  # the points came back; the cancel is not committed
        restarted = rewards()
        try:
            await until(lambda: _ready(api))
            assert (await until(lambda: _status(api, "cancelled")))[0]["redemption_id"] == (
                redemption_id
            )
            again = await api.post(f"/v1/redemptions/{redemption_id}/cancel")
            assert (again.status_code, again.json()["status"]) == (200, "cancelled")
            catalog = (await api.get("/v1/rewards")).json()["rewards"]
            assert next(r for r in catalog if r["reward_id"] == "tree")["stock"] == 5
            assert await balance() == 500
            await read_topic(kafka, kafka.topics.rewards_events, expect=2)  # the cancel is out
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(30)
        events = payloads(await read_all(kafka, kafka.topics.rewards_events))
        assert [e["type"] for e in events] == [
            "loyalty.reward.redeemed.v1",
            "loyalty.reward.redemption_cancelled.v1",
        ]
    finally:
        await api.aclose()
        await points_api.aclose()
        if crashing.poll() is None:
            crashing.kill()
        points.send_signal(signal.SIGTERM)
        points.wait(30)


async def _ready(api: httpx.AsyncClient) -> bool:
    return (await api.get("/readyz")).status_code == 200


async def _confirmed(api: httpx.AsyncClient):
    return await _status(api, "confirmed")


async def _status(api: httpx.AsyncClient, status: str):
    mine = (await api.get("/v1/members/m-1/redemptions")).json()
    return mine if mine and mine[0]["status"] == status else None


async def test_a_points_outage_leaves_the_redemption_pending_until_points_is_back(
    platform_database, kafka, tmp_path
):
    points_port, rewards_port = free_port(), free_port()
    log = tmp_path / "services.log"

    def points():
        return processes.spawn("loyalty_points", "POINTS_", platform_database, kafka, log,
                               processes.spendable_at_once(tmp_path),
                               port=str(points_port), **points_group(kafka))  # fmt: skip

    service_key = await issue_key(platform_database, Kind.SERVICE, scopes=SERVICE_SCOPES)
    rewards = processes.spawn("loyalty_rewards", "REWARDS_", platform_database, kafka, log,
                              port=str(rewards_port), tiers_url="", pending_grace_seconds="1",
                              points_url=f"http://127.0.0.1:{points_port}",
                              service_key=service_key)  # fmt: skip
    auth = KeyByPath(await issue_key(platform_database))
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{rewards_port}", timeout=10, auth=auth)
    points_api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{points_port}", timeout=10, auth=auth
    )
    first = points()
    try:
        at = datetime.now(UTC).replace(microsecond=0)
        await publish(
            kafka, kafka.topics.purchases, [(b"m-1", encode(purchase("m-1", "p1", "50.00", at)))]
        )

        async def balance() -> int | None:
            response = await points_api.get("/v1/members/m-1/balance")
            return response.json()["balance"] if response.status_code == 200 else None

        assert await until(balance) == 50
        first.send_signal(signal.SIGTERM)
        first.wait(30)
        await until(lambda: _created(api))
        body, headers = {"reward_id": "cheap"}, {"Idempotency-Key": "during-outage"}
        down = await api.post("/v1/members/m-1/redemptions", json=body, headers=headers)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "points_unavailable"
        assert (await api.get("/v1/members/m-1/redemptions")).json()[0]["status"] == "pending"
        # Still ready (the catalog reads need no points), and saying what is down.
        ready = await api.get("/readyz")
        assert (ready.status_code, ready.json()["dependencies"]) == (200, {"points": False})
        assert (await api.get("/v1/rewards")).status_code == 200

        back = points()
        try:
            mine = await until(lambda: _settled(api), timeout=60)
            assert mine[0]["status"] == "confirmed"
            assert await balance() == 40
            again = await api.post("/v1/members/m-1/redemptions", json=body, headers=headers)
            assert again.status_code == 201
            assert again.json()["redemption_id"] == mine[0]["redemption_id"]
        finally:
            back.send_signal(signal.SIGTERM)
            back.wait(30)
    finally:
        await api.aclose()
        await points_api.aclose()
        rewards.send_signal(signal.SIGTERM)
        rewards.wait(30)
        if first.poll() is None:
            first.kill()


async def _created(api: httpx.AsyncClient) -> bool:
    response = await api.post("/v1/admin/rewards", json={
        "reward_id": "cheap", "name": "cheap", "kind": "coupon", "points_cost": 10})  # fmt: skip
    return response.status_code in (201, 409)


async def _settled(api: httpx.AsyncClient):
    mine = (await api.get("/v1/members/m-1/redemptions")).json()
    return mine if mine and mine[0]["status"] != "pending" else None
