"""The points and tier services, as the rewards service calls them over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx


def segment(value: str) -> str:
    """An id as one path segment. Ids may be `.` or `..`, which a URL would read as
    "here" and "up": those dots are escaped, so the call reaches that member's route."""
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


# The points service refused the debit itself: not enough points (409), or a body or a
# debit id it will never take (422). Asked again it answers the same, so nothing was
# taken, now or by an earlier attempt. Any other answer (a 5xx, an auth or routing
# fault, a timeout) says nothing about the debit: it is asked again later.
_REFUSED = (409, 422)


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return {"code": "points_refused", "message": response.text[:200]}
    return error if isinstance(error, dict) else {"code": "points_refused"}


class NoAnswer(Exception):
    """The other service did not answer clearly: the outcome is unknown, retry later."""


@dataclass(frozen=True)
class DebitAnswer:
    taken: bool
    refusal: str | None = None  # the points service's reason code when nothing was taken
    message: str = ""


@dataclass(frozen=True)
class Spendable:
    available: int
    later: tuple[tuple[datetime, int], ...] = ()  # (when pending points vest, spendable then)


class PointsClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def reachable(self) -> bool:
        try:
            return (await self._client.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def spendable(self, member_id: str) -> Spendable:
        """What the member can spend now, and what they can as their pending points vest."""
        response = await self._call("GET", f"/v1/members/{segment(member_id)}/balance")
        if response.status_code == 404:
            return Spendable(0)
        body = self._json(response, 200)
        return Spendable(int(body["available"]), _later(body))

    async def debit(
        self, debit_id: str, member_id: str, points: int, reference: str
    ) -> DebitAnswer:
        """Take points; asked again with the same id, the same answer (the points
        service keeps the debit), so a retry after any failure is safe."""
        body = {"debit_id": debit_id, "points": points, "reference": reference}
        response = await self._call("POST", f"/v1/members/{segment(member_id)}/debits", json=body)
        if response.status_code in (200, 201):
            return DebitAnswer(True)
        if response.status_code in _REFUSED:
            error = _error(response)
            return DebitAnswer(False, error.get("code", "points_refused"), error.get("message", ""))
        raise NoAnswer(f"points answered {response.status_code}: {response.text[:200]}")

    async def restore(self, debit_id: str) -> bool:
        """Give a debit's points back; False if the points service never took them."""
        response = await self._call("POST", f"/v1/debits/{segment(debit_id)}/restore")
        if response.status_code == 404:
            return False
        self._json(response, 200)
        return True

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise NoAnswer(f"points service: {exc!r}") from exc

    @staticmethod
    def _json(response: httpx.Response, expected: int) -> Any:
        if response.status_code != expected:
            raise NoAnswer(f"answered {response.status_code}: {response.text[:200]}")
        return response.json()


class TiersClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def tier(self, member_id: str) -> str | None:
        """The member's tier now; None for a member the tier service has not seen."""
        try:
            response = await self._client.get(f"/v1/members/{segment(member_id)}/tier")
        except httpx.HTTPError as exc:
            raise NoAnswer(f"tier service: {exc!r}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise NoAnswer(f"tier service answered {response.status_code}")
        return str(response.json()["tier"])


def _later(balance: dict[str, Any]) -> tuple[tuple[datetime, int], ...]:
    """(when, spendable then) as the pending points vest. A points service from before
    `spendable_after` gives only what vests: added up, not counting expiry."""
    later, have = [], int(balance["available"])
    for v in balance.get("vesting", []):
        have += int(v["points"])
        then = v.get("spendable_after")
        later.append((datetime.fromisoformat(v["vests_at"]), have if then is None else int(then)))
    return tuple(later)
