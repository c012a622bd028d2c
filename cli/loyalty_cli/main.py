"""The `loyalty` command: run the platform, migrate, create topics, replay and simulate
traffic, report on points and tiers, follow churn alerts, backtest the churn watch."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loyalty_cli.churn import alerts_app, churn_app
from loyalty_cli.credentials import DevelopmentCredentials, development_credentials
from loyalty_cli.dlq import dlq_app
from loyalty_cli.keys import credentials, keys_app, token
from loyalty_cli.points import points_app
from loyalty_cli.replay import publish_events, read_jsonl
from loyalty_cli.services import SERVICES
from loyalty_cli.tiers import tiers_app
from loyalty_cli.traffic import TrafficPlan, grocery_traffic
from loyalty_cli.whatif import programme_app
from loyalty_platform.kafka import ensure_topics
from loyalty_platform.settings import KafkaSettings

app = typer.Typer(help="The loyalty platform's command-line tool.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(points_app, name="points")
app.add_typer(programme_app, name="programme")
app.add_typer(tiers_app, name="tiers")
app.add_typer(churn_app, name="churn")
app.add_typer(alerts_app, name="alerts")
app.add_typer(keys_app, name="keys")
app.add_typer(dlq_app, name="dlq")
app.command()(token)
app.command()(credentials)
console = Console()


@app.command()
def up(
    partitions: Annotated[int, typer.Option(help="Partitions per topic")] = 6,
    demo: Annotated[bool, typer.Option(help="Send some demo grocery traffic")] = True,
    demo_rate: Annotated[float, typer.Option(help="Demo events per second")] = 200.0,
    var_dir: Annotated[Path, typer.Option(help="Where data and logs go")] = Path("var"),
) -> None:
    """Run the whole platform: database, broker, topics, migrations, services, demo traffic."""
    from loyalty_cli import up as stack

    var_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)
    events = list(grocery_traffic(_demo_plan())) if demo else []
    members = list(dict.fromkeys(e.subject or "member-1" for e in events))[:3] or ["member-1"]
    with stack.embedded_parts(var_dir.resolve(), partitions) as platform:
        stack.prepare(platform)
        credentials = development_credentials(platform.database_url, members=members)
        credentials.write(var_dir / "credentials.json")
        processes = stack.start_services(platform, var_dir, credentials.service_environment())
        try:
            stack.wait_ready()
            _print_welcome(platform.kafka.bootstrap_servers, credentials, var_dir)
            if events:
                lines = [e.to_bytes() for e in events]
                topic = platform.kafka.topics.purchases
                asyncio.run(
                    publish_events(
                        lines,
                        bootstrap_servers=platform.kafka.bootstrap_servers,
                        topic=topic,
                        rate=demo_rate,
                    )
                )
                console.print(f"[green]demo traffic sent: {len(lines)} events[/]")
                from loyalty_cli.demo import spend_some

                for line in spend_some(credentials.member_tokens):
                    console.print(f"[green]demo spend: {line}[/]")
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
            console.print("[red]a service stopped; see its log under var/[/]")
        except KeyboardInterrupt:
            console.print("\n[yellow]stopping...[/]")
        finally:
            stack.stop_processes(processes)


@app.command()
def migrate(
    database_url: Annotated[str, typer.Option(envvar="DATABASE_URL", help="PostgreSQL URL")],
) -> None:
    """Apply every service's database migrations (a step before the services start)."""
    from loyalty_cli.up import migrate_all

    migrate_all(database_url)


@topics_app.command("create")
def create_topics() -> None:
    """Create the platform's topics (KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC_PARTITIONS)."""
    kafka = KafkaSettings()
    names = kafka.topics.all()
    asyncio.run(ensure_topics(kafka, names))
    console.print(f"topics ready: {', '.join(names)}")


@app.command()
def replay(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines of CloudEvents")
    ],
    rate: Annotated[
        float | None, typer.Option(help="Messages per second (default: as fast as possible)")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Topic (default: purchases)")] = None,
) -> None:
    """Publish a JSON-lines file of CloudEvents to `purchases`, keyed by member."""
    kafka = KafkaSettings()
    lines = list(read_jsonl(file))
    with _progress() as progress:
        task = progress.add_task("replaying", total=len(lines))
        sent = asyncio.run(
            publish_events(
                lines,
                bootstrap_servers=kafka.bootstrap_servers,
                topic=topic or kafka.topics.purchases,
                rate=rate,
                on_sent=lambda n: progress.update(task, completed=n),
            )
        )
    console.print(f"published {sent} messages")


@app.command()
def simulate(
    members: Annotated[int, typer.Option(help="How many members shop")] = 200,
    days: Annotated[int, typer.Option(help="How many days of trading")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same traffic")] = 1,
    start: Annotated[
        datetime | None, typer.Option(help="First day (UTC); default: DAYS ago")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write JSON lines here instead of publishing")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Messages per second when publishing")] = None,
    spend: Annotated[
        Path | None,
        typer.Option(
            help="Then spend: the credentials file of the running `loyalty up` "
            "(var/credentials.json); --spenders of the members redeem a coffee as an app "
            "would, once their points have vested"
        ),
    ] = None,
    spenders: Annotated[int, typer.Option(help="How many members spend, with --spend")] = 10,
) -> None:
    """Synthetic grocery traffic: to a file, or straight onto `purchases` (and then, with
    --spend, some members redeem through the rewards service)."""
    first = (start or datetime.now(UTC) - timedelta(days=days)).replace(tzinfo=UTC)
    events = list(grocery_traffic(TrafficPlan(members=members, days=days, seed=seed, start=first)))
    lines = [e.to_bytes() for e in events]
    if out is not None:
        out.write_bytes(b"".join(line + b"\n" for line in lines))
        console.print(f"wrote {len(lines)} events to {out}")
        return
    kafka = KafkaSettings()
    sent = asyncio.run(
        publish_events(
            lines,
            bootstrap_servers=kafka.bootstrap_servers,
            topic=kafka.topics.purchases,
            rate=rate,
        )
    )
    console.print(f"published {sent} events")
    if spend is not None:
        from loyalty_cli.demo import app_tokens, spend_some

        shoppers = list(dict.fromkeys(e.subject for e in events if e.subject))
        tokens = app_tokens(DevelopmentCredentials.read(spend), shoppers[:spenders])
        for line in spend_some(tokens):
            console.print(f"spend: {line}")


def _demo_plan() -> TrafficPlan:
    # Over a year, so the demo members' points have vested and some have expired.
    days = 400
    return TrafficPlan(
        members=150, days=days, seed=7, start=datetime.now(UTC) - timedelta(days=days)
    )


def _print_welcome(bootstrap: str, credentials: DevelopmentCredentials, var_dir: Path) -> None:
    console.rule("[bold green]loyalty platform is up")
    for spec in SERVICES:
        base = f"http://127.0.0.1:{spec.port}"
        console.print(f"{spec.name:<11} {base}/docs   {base}/readyz   {base}/metrics")
    console.print(
        f"broker      {bootstrap}   (topics: purchases, points.events, purchases.dlq, ...)"
    )
    member, token = next(iter(credentials.member_tokens.items()))
    console.print(
        f"\ndevelopment credentials (also in {var_dir / 'credentials.json'}):", highlight=False
    )

    def say(line: str) -> None:
        console.print(line, highlight=False, soft_wrap=True)

    say(f"  export MEMBER_TOKEN={token}   # the app of {member}")
    say(f"  export OPS_KEY={credentials.ops_key}   # every ops scope")
    say(f"  export TILL_KEY={credentials.till_key}   # posts for {credentials.till_store}")
    me = '-H "Authorization: Bearer $MEMBER_TOKEN"'
    ops = '-H "X-API-Key: $OPS_KEY"'
    say(f"\ntry:  curl -s {me} http://127.0.0.1:8001/v1/members/{member}/balance")
    say(f"      curl -s {me} 'http://127.0.0.1:8001/v1/members/{member}/ledger?limit=5'")
    say(f"      curl -s {me} http://127.0.0.1:8002/v1/members/{member}/tier")
    say(f"      curl -s {me} 'http://127.0.0.1:8003/v1/rewards?member_id={member}'")
    say(
        f"      curl -s {me} -XPOST http://127.0.0.1:8003/v1/members/{member}/redemptions "
        "-H 'Idempotency-Key: demo-1' -H 'content-type: application/json' "
        '-d \'{"reward_id": "coffee-coupon"}\''
    )
    say(f"      curl -s {ops} http://127.0.0.1:8004/v1/members/{member}/risk")
    say(f"      curl -s {ops} 'http://127.0.0.1:8004/v1/alerts?severity=high'")
    say("      LOYALTY_API_KEY=$OPS_KEY loyalty tiers report --days 30")
    say("      loyalty alerts tail")
    console.print("\nCtrl-C stops everything.\n")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(app())
