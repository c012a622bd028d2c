"""`loyalty programme whatif`: its in-memory replay agrees exactly with what the points
and tier consumers record on the real database for the same log, and the command's
report and CSV say what each programme gave."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from loyalty_cli.main import app
from loyalty_cli.replay import message_key
from loyalty_cli.traffic import TrafficPlan, grocery_traffic, to_json_line
from loyalty_cli.whatif_replay import read_log, replay
from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_kernel.programme import Programme, load_programme
from loyalty_kernel.topics import TopicNames
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.settings import asyncpg_url
from loyalty_points.adapters.orm import LedgerEntryRow
from loyalty_points.bootstrap import in_process_handler
from loyalty_points.domain.replay import PointsReplay
from loyalty_points.migrations import MIGRATIONS_DIR as POINTS
from loyalty_tiers.adapters.orm import TierChangeRow
from loyalty_tiers.domain.replay import TierReplay
from loyalty_tiers.migrations import MIGRATIONS_DIR as TIERS
from loyalty_tiers.service_layer.handlers import TierHandler
from loyalty_tiers.service_layer.unit_of_work import TiersUnitOfWork

VERSIONS = Path(__file__).parents[2] / "deploy" / "programme"
PARTITIONS = 3


def the_log(members: int = 60, days: int = 120) -> list[bytes]:
    """Grocery traffic from August to the end of November 2026: across the holiday
    version's start and Thanksgiving week."""
    plan = TrafficPlan(members, days, seed=4, start=datetime(2026, 8, 1, tzinfo=UTC),
                       refund_rate=0.1)  # fmt: skip
    return [to_json_line(e).rstrip(b"\n") for e in grocery_traffic(plan)]


async def live_points(url: str, programme: Programme, log, end: datetime) -> list[tuple]:
    handler, engine = in_process_handler(url, programme)
    try:
        items = inbound(log)
        for start in range(0, len(items), 40):
            await handler.apply(items[start : start + 40])
        await handler.sweep(range(PARTITIONS), end)
        async with handler.uow() as uow:
            rows = await uow.session.scalars(
                select(LedgerEntryRow).order_by(LedgerEntryRow.member_id, LedgerEntryRow.id)
            )
            return [_entry(r) for r in rows]
    finally:
        await engine.dispose()


async def live_tiers(url: str, programme: Programme, log) -> list[tuple]:
    engine = create_engine(asyncpg_url(url))
    sessions = session_factory(engine)
    handler = TierHandler(lambda: TiersUnitOfWork(sessions, currency="USD", consumer_group="t"),
                          programme, TopicNames())  # fmt: skip
    try:
        items = inbound(log)
        for start in range(0, len(items), 40):
            await handler.apply(items[start : start + 40])
        async with sessions() as session:
            rows = await session.execute(
                select(TierChangeRow.member_id, TierChangeRow.from_tier, TierChangeRow.to_tier,
                       TierChangeRow.effective_at, TierChangeRow.cause)
                .order_by(TierChangeRow.member_id, TierChangeRow.sequence))  # fmt: skip
            return [tuple(r) for r in rows]
    finally:
        await engine.dispose()


def inbound(log) -> list:
    """The log as the consumer gets it: each line on its partition, offsets in order."""
    offsets: dict[int, int] = {}
    items = []
    for (cmd, partition), line in log:
        offset = offsets[partition] = offsets.get(partition, -1) + 1
        message = InboundMessage("purchases", partition, offset, cmd.member_id.encode(), line, 0)
        items.append(translate_purchase(message))
    return items


def _entry(e) -> tuple:
    return (e.member_id, e.kind, e.delta, e.balance_after, e.available_after, e.reference,
            e.occurred_at, e.tier, e.programme_version, tuple(e.rules),
            tuple(tuple(x) for x in e.lots))  # fmt: skip


async def test_the_replay_records_what_the_consumers_record_for_the_same_log(new_database):
    programme = load_programme(VERSIONS)
    lines = the_log()
    parsed = read_log(lines, PARTITIONS, message_key)
    assert not parsed.unreadable
    end = parsed.last
    assert end is not None
    log = list(zip(parsed.commands, lines, strict=True))

    points = PointsReplay(programme)
    made = []
    for cmd, partition in parsed.commands:
        made += points.apply(cmd, partition)[0]
    made += points.finish(end, range(PARTITIONS))[0]
    replayed = sorted((_entry(e) for e in made), key=lambda t: t[0])  # stable: made order
    live = await live_points(await new_database(POINTS), programme, log, end)
    assert replayed == live
    assert {e[8] for e in live if e[1] == "earned"} == {"2025-01-launch", "2026-11-holiday"}
    assert any("thanksgiving-meat" in e[9] for e in live)

    tiers = TierReplay(programme)
    for cmd, partition in parsed.commands:
        tiers.apply(cmd, partition)
    changes = sorted(((c.member_id, c.from_tier, c.to_tier, c.effective_at, c.cause.value)
                      for c in tiers.changes), key=lambda t: t[0])  # fmt: skip
    assert changes == await live_tiers(await new_database(TIERS), programme, log)
    assert len(changes) > 10


def test_the_report_sets_both_programmes_side_by_side(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join(the_log(40, 120)) + b"\n")
    members = tmp_path / "members.csv"
    result = CliRunner().invoke(app, ["programme", "whatif", str(log), "--programme",
                                      str(VERSIONS), "--out", str(members), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # Worked out again from the replay of each programme alone.
    parsed = read_log(log.read_bytes().splitlines(), 6, message_key)
    before, after = replay(parsed, Programme()), replay(parsed, load_programme(VERSIONS))
    assert report["current"]["earned"] == before.earned
    assert report["new"]["earned"] == after.earned > before.earned
    assert report["change"]["earned"] == after.earned - before.earned
    assert report["current"]["earned_by_rule"] == {"base": str(before.earned)}
    assert set(report["new"]["earned_by_rule"]) >= {"base", "thanksgiving-meat"}
    assert report["change"]["cost"] == str(
        (after.earned - before.earned) * after.programme.points.point_value
    )
    assert sum(report["new"]["tiers"].values()) == len(after.members)
    with members.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(after.members)
    assert (
        sum(int(r["earned_new"]) - int(r["earned_current"]) for r in rows)
        == report["change"]["earned"]
    )
    top = report["most_affected"][0]
    assert abs(top["earned_new"] - top["earned_current"]) == max(
        abs(int(r["earned_new"]) - int(r["earned_current"])) for r in rows
    )
    # Readable at a glance without --json.
    text = CliRunner().invoke(app, ["programme", "whatif", str(log), "--programme", str(VERSIONS)])
    assert text.exit_code == 0, text.output
    assert "points earned" in text.stdout
    assert "thanksgiving-meat" in text.stdout


def test_a_bad_programme_is_refused_before_anything_runs(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[earning.rules]]\nid = "x"\nmultiplier = -1\n')
    log = tmp_path / "log.jsonl"
    log.write_text("")
    result = CliRunner().invoke(app, ["programme", "whatif", str(log), "--programme", str(bad)])
    assert result.exit_code == 2
    assert 'rule "x"' in result.output


def test_from_and_to_bound_what_is_counted_and_the_state_is_as_of_to(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join(the_log(30, 120)) + b"\n")

    def report(*period: str) -> dict:
        result = CliRunner().invoke(app, ["programme", "whatif", str(log), "--programme",
                                          str(VERSIONS), "--json", *period])  # fmt: skip
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    whole = report()
    # Before the holiday version starts, both programmes are the launch programme.
    before = report("--to", "2026-10-31T23:59:59Z")
    assert before["change"]["earned"] == 0
    assert before["new"]["earned"] == before["current"]["earned"] < whole["current"]["earned"]
    assert before["period"]["to"] == "2026-10-31 23:59:59+00:00"
    # From its start on, all of the change falls in the period.
    after = report("--from", "2026-11-01T00:00:00Z")
    assert after["change"]["earned"] == whole["change"]["earned"] > 0
    assert after["current"]["earned"] + before["current"]["earned"] == whole["current"]["earned"]


def test_lines_the_consumers_would_dead_letter_are_left_out_and_counted_by_reason(tmp_path):
    lines = the_log(10, 30)
    wrong_currency = json.loads(lines[0])
    wrong_currency["data"]["currency"] = "EUR"
    wrong_currency["data"]["purchase_id"] = "p-eur"
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join([*lines, b"{not json", json.dumps(wrong_currency).encode()]))
    result = CliRunner().invoke(app, ["programme", "whatif", str(log), "--programme",
                                      str(VERSIONS), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["log"]["unreadable"] == {"invalid_json": 1}
    assert report["current"]["refused"] == report["new"]["refused"] == {"wrong_currency": 1}
    assert report["log"]["commands"] == len(lines) + 1


def test_an_empty_log_gives_an_empty_report(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("\n")
    result = CliRunner().invoke(
        app, ["programme", "whatif", str(log), "--programme", str(VERSIONS)]
    )
    assert result.exit_code == 0, result.output
    assert "0 purchases and refunds" in result.stdout
