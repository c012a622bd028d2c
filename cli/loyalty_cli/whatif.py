"""`loyalty programme whatif`: what a change of the programme would have done to every
member over a whole purchase log, before it is switched on.

Both programmes replay the same log in memory (`whatif_replay`), through the services'
own domain code; the report sets them side by side: points earned and by which rule,
what was clawed back and expired, the liability at the end and its value, the tiers,
the cost of the change at the point value, the members it moves most; every member in
the CSV.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loyalty_cli.options import utc_moment
from loyalty_cli.replay import message_key, read_jsonl
from loyalty_cli.whatif_replay import Outcome, PurchaseLog, read_log, replay
from loyalty_cli.whatif_report import compare, print_report, write_members
from loyalty_kernel.programme import Programme, ProgrammeFileError, load_programme
from loyalty_platform.serving import tune_collector
from loyalty_platform.settings import KafkaSettings, ProgrammeSettings

programme_app = typer.Typer(help="The programme: what a change would do.", no_args_is_help=True)
console = Console(stderr=True)


@programme_app.command("whatif")
def whatif(
    log: Annotated[Path, typer.Argument(help="JSON lines of CloudEvents, as `loyalty replay` takes")],
    programme: Annotated[Path, typer.Option("--programme", help="The new programme: a file or a folder of versions")],
    against: Annotated[Path | None, typer.Option("--against", help="The current programme (default: LOYALTY_PROGRAMME, or the built-in one)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Count from this moment (ISO; UTC if no zone)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Up to this moment; default the log's last event")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write every member's figures to this CSV")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on standard output")] = False,
    partitions: Annotated[int | None, typer.Option(help="Partitions of `purchases` (default: the platform's)")] = None,
    top: Annotated[int, typer.Option(help="How many of the most affected members to list")] = 10,
) -> None:  # fmt: skip
    """Replay LOG under the current programme and the new one, and compare."""
    try:
        new = load_programme(programme)
        current = load_programme(against) if against else ProgrammeSettings().load()
    except ProgrammeFileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    since, until = (utc_moment(v) if v else None for v in (start, end))
    tune_collector()  # millions of long-lived objects: the default thresholds rescan them
    count = partitions or KafkaSettings().topic_partitions
    with _progress() as progress:
        lines = list(read_jsonl(log))
        reading = progress.add_task("reading", total=len(lines))
        parsed = read_log(_counted(lines, progress, reading), count, message_key)
        del lines
        gc.freeze()  # the log's commands live to the end: out of the collector's scans
        tasks = {label: progress.add_task(label, total=len(parsed.commands))
                 for label in ("current", "new")}  # fmt: skip
        before, after = replay_both(
            parsed, current, new, since, until,
            lambda label, n: progress.update(tasks[label], completed=n),
        )  # fmt: skip
    report = compare(parsed, before, after, since, until, top)
    if out is not None:
        write_members(out, before, after)
    if as_json:
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print_report(report)


def _counted(lines: list[bytes], progress: Progress, task: Any) -> Any:
    for n, line in enumerate(lines, 1):
        if n % 5_000 == 0:
            progress.update(task, completed=n)
        yield line
    progress.update(task, completed=len(lines))


def replay_both(
    log: PurchaseLog,
    current: Programme,
    new: Programme,
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: Callable[[str, int], None] = lambda label, n: None,
) -> tuple[Outcome, Outcome]:
    """Both replays, the new one in a forked process where the system has fork (the two
    are independent and the machine has cores to spare), with progress from both."""
    if sys.platform != "linux":
        return (replay(log, current, since, until, lambda n: on_progress("current", n)),
                replay(log, new, since, until, lambda n: on_progress("new", n)))  # fmt: skip
    context = multiprocessing.get_context("fork")
    news: Any = context.Queue()
    child = context.Process(target=_replay_to, args=(news, log, new, since, until), daemon=True)
    child.start()
    after: list[Outcome] = []

    def heard(message: tuple[str, Any]) -> None:
        kind, value = message
        if kind == "progress":
            on_progress("new", value)
        elif kind == "done":
            after.append(value)
        else:
            raise RuntimeError(f"the replay under the new programme failed: {value}")

    def both(n: int) -> None:
        on_progress("current", n)
        while not news.empty():
            heard(news.get())

    try:
        before = replay(log, current, since, until, both)
        while not after:
            heard(news.get())
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
    return before, after[0]


def _replay_to(out: Any, log: PurchaseLog, programme: Programme, since: datetime | None,
               until: datetime | None) -> None:  # fmt: skip
    try:
        outcome = replay(log, programme, since, until, lambda n: out.put(("progress", n)))
    except Exception as exc:  # reported to the parent, which fails the command
        out.put(("error", repr(exc)))
    else:
        out.put(("done", outcome))


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)  # fmt: skip
