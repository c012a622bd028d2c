"""`loyalty points liability` against a points service serving over HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from loyalty_cli.main import app as cli
from loyalty_cli.stack import free_port
from loyalty_kernel.intake.translation import translate_purchase
from loyalty_points.bootstrap import build
from loyalty_points.entrypoints.app import create_app
from tests.support.access import issue_key
from tests.support.points import lifecycle_log, points_settings

T0 = datetime(2024, 6, 3, 9, tzinfo=UTC)
AS_OF = "2025-09-01T00:00:00Z"


@pytest.fixture
async def served(points_database, kafka) -> Iterator[tuple[str, str]]:
    settings = points_settings(points_database, kafka)
    service = build(settings)  # fill the ledger first, through the consumer's handler
    items = [translate_purchase(m) for m in lifecycle_log(20, 500, seed=3, start=T0)]
    for start in range(0, len(items), 100):
        await service.handler.apply(items[start : start + 100])
    await service.engine.dispose()
    key = await issue_key(points_database)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, consume=False), port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(100):
            if not server.started:
                await asyncio.sleep(0.1)
        assert (await client.get("/healthz")).status_code == 200
    yield url, key
    server.should_exit = True
    await asyncio.to_thread(thread.join, 10)


async def test_the_liability_reads_at_a_glance_and_as_csv_with_the_reports_figures(served):
    url, key = served
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}) as client:
        body = (await client.get("/v1/points/liability", params={"as_of": AS_OF})).json()
    runner = CliRunner()
    args = ["points", "liability", "--as-of", AS_OF, "--url", url]
    shown = await asyncio.to_thread(runner.invoke, cli, args, env={"LOYALTY_API_KEY": key})
    assert shown.exit_code == 0, shown.output
    held = body["outstanding"]
    assert f"{held['points']:,} points held by {held['members']:,} members" in shown.output
    assert "expiring within" in shown.output
    as_csv = await asyncio.to_thread(runner.invoke, cli, [*args, "--csv"],
                                     env={"LOYALTY_API_KEY": key})  # fmt: skip
    assert as_csv.exit_code == 0, as_csv.output
    rows = dict(csv.reader(io.StringIO(as_csv.output)))
    assert rows["outstanding_points"] == str(held["points"])
    assert rows["period_expired"] == str(body["period"]["expired"])
    assert rows["expiring_90d_points"] == str(body["expiring"][-1]["points"])
    assert int(rows["breakage_expired"]) > 0  # a year in, some points have expired


async def test_without_a_key_it_says_what_the_service_answered(served):
    url, _ = served
    refused = await asyncio.to_thread(CliRunner().invoke, cli,
                                      ["points", "liability", "--url", url], env={})  # fmt: skip
    assert refused.exit_code == 1
    assert "401" in refused.output
