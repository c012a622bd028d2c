"""The spending that `loyalty up` and `loyalty simulate --spend` do after their traffic:
each member's app waits for spendable points, then redeems once."""

from __future__ import annotations

import httpx

from loyalty_cli.credentials import DevelopmentCredentials
from loyalty_cli.demo import DEMO_REWARD, app_tokens, spend_some
from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.tokens import MemberTokens

SECRET = "a-development-secret-of-at-least-32-characters"


class Platform:
    """The points and rewards endpoints the apps call, as answers in turn."""

    def __init__(self, available: list[int]) -> None:
        self.available, self.redeemed = available, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/rewards":
            return httpx.Response(
                200, json={"rewards": [{"reward_id": DEMO_REWARD, "points_cost": 100}]}
            )
        if path.endswith("/balance"):
            return httpx.Response(200, json={"available": self.available.pop(0)})
        self.redeemed.append(
            (path, request.headers["authorization"], request.headers["idempotency-key"])
        )
        return httpx.Response(201, json={})


def test_a_member_redeems_once_their_spendable_points_cover_the_reward():
    platform = Platform(available=[0, 60, 140])
    lines = spend_some({"member-00001": "tok"}, wait_seconds=5, poll_seconds=0,
                       transport=httpx.MockTransport(platform))  # fmt: skip
    assert lines == [f"member-00001: {DEMO_REWARD} redeemed (201)"]
    assert platform.redeemed == [("/v1/members/member-00001/redemptions", "Bearer tok",
                                  "demo-member-00001")]  # fmt: skip
    assert platform.available == []  # it waited through the polls where points fell short


def test_a_member_who_never_has_enough_gives_up_at_the_deadline():
    platform = Platform(available=[10] * 10_000)
    lines = spend_some({"member-00002": "tok"}, wait_seconds=0.05, poll_seconds=0.01,
                       transport=httpx.MockTransport(platform))  # fmt: skip
    assert lines == [f"member-00002: not enough spendable points for {DEMO_REWARD} yet"]
    assert platform.redeemed == []


def test_app_tokens_speak_for_their_members_under_the_platforms_secret(tmp_path):
    path = tmp_path / "credentials.json"
    DevelopmentCredentials(SECRET, "ops", "till", "store-17", "svc").write(path)
    tokens = app_tokens(DevelopmentCredentials.read(path), ["member-00001", "member-00009"])
    verify = MemberTokens(AccessSettings(LOYALTY_TOKEN_SECRET=SECRET))
    assert {m: verify.member(t) for m, t in tokens.items()} == {
        "member-00001": "member-00001", "member-00009": "member-00009"}  # fmt: skip
