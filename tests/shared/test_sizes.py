"""Size limits (docs/contracts/events.md, "Sizes"): what no till or client can exceed,
and what a dead letter keeps of a message too large to read."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request

from loyalty_kernel.events.dead_letters import KEPT_OF_OVERSIZED, dead_letter_event
from loyalty_kernel.events.purchases import MAX_ITEMS
from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import (
    MAX_MESSAGE_BYTES,
    Consumed,
    InboundMessage,
    Rejection,
    Unprocessable,
    refuse_oversized,
)
from loyalty_platform.request_size import MAX_BODY_BYTES, BodyLimit
from tests.support.events import purchase

AT = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
BROKER_DEFAULT_LIMIT = 1024 * 1024


def message(value: bytes, key: bytes | None = b"m-1") -> InboundMessage:
    return InboundMessage("purchases", 0, 7, key, value, 1_700_000_000_000)


def with_items(count: int) -> bytes:
    event = purchase("m-1", "p-1", "10.00", AT)
    line = {"sku": "S", "quantity": 1, "unit_price": "0.01"}
    event["data"]["items"] = [line] * count
    return json.dumps(event).encode()


def test_a_receipt_of_500_lines_is_a_purchase_and_one_more_is_a_schema_violation():
    assert isinstance(translate_purchase(message(with_items(MAX_ITEMS))), Consumed)
    refused = translate_purchase(message(with_items(MAX_ITEMS + 1)))
    assert isinstance(refused, Unprocessable)
    assert refused.why.reason == "schema_violation"
    assert "items" in refused.why.detail


def test_a_message_at_the_limit_is_read_and_one_byte_more_is_too_large():
    key = b"m-1"
    assert refuse_oversized(message(b"x" * (MAX_MESSAGE_BYTES - len(key)), key)) is None
    refused = refuse_oversized(message(b"x" * (MAX_MESSAGE_BYTES - len(key) + 1), key))
    assert refused is not None
    assert refused.why.reason == "too_large"


def test_the_dead_letter_of_a_huge_message_keeps_its_digest_and_first_4_kib_and_fits():
    value = b"{" + b"a" * (3 * BROKER_DEFAULT_LIMIT)
    letter = dead_letter_event(message(value, b"k" * 100_000), "points", Rejection("too_large", ""))
    size = len(letter.to_bytes())
    original = json.loads(letter.to_bytes())["data"]["original"]
    assert size < BROKER_DEFAULT_LIMIT / 8
    assert base64.b64decode(original["value_base64"]) == value[:KEPT_OF_OVERSIZED]
    assert original["size"] == len(value)
    assert original["sha256"] == hashlib.sha256(value).hexdigest()
    assert original["truncated"] is True
    assert len(original["key"]) == KEPT_OF_OVERSIZED


def test_the_dead_letter_of_a_message_within_the_limit_keeps_it_whole():
    value = b"not json " * 1000
    letter = json.loads(dead_letter_event(message(value), "tiers", Rejection("x", "")).to_bytes())
    original = letter["data"]["original"]
    assert base64.b64decode(original["value_base64"]) == value
    assert original["truncated"] is False
    assert original["size"] == len(value)


def echo_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodyLimit)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=echo_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_a_body_at_the_limit_reaches_the_route_whole(client):
    answer = await client.post("/echo", content=b"x" * MAX_BODY_BYTES)
    assert answer.status_code == 200
    assert answer.json() == {"received": MAX_BODY_BYTES}


async def test_a_body_declared_over_the_limit_is_refused_413(client):
    answer = await client.post("/echo", content=b"x" * (MAX_BODY_BYTES + 1))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"


async def test_a_chunked_body_that_grows_past_the_limit_is_refused_413(client):
    async def chunks():
        for _ in range(100):
            yield b"x" * 1024

    answer = await client.post("/echo", content=chunks())
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"
