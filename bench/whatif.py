"""How long `loyalty programme whatif` takes on a grocery log, against a plain JSON parse
of the same file.

Not a test: it prints figures and never asserts. It writes a log of simulated grocery
traffic (`loyalty simulate`'s generator: baskets with items, some refunds), then times,
in this process:

  parse    every line through `json.loads`: the baseline
  read     every line translated as the consumers translate it (`read_log`)
  current  the replay under the built-in programme
  new      the replay under deploy/programme (the holiday rules)
  both     the two replays as the command runs them: the new one in a forked process

    .venv/bin/python bench/whatif.py [--members 1800] [--days 400]
    .venv/bin/python bench/whatif.py --members 25000 --both-only  # about 1,000,000 events
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from loyalty_cli.replay import message_key, read_jsonl
from loyalty_cli.traffic import TrafficPlan, grocery_traffic, to_json_line
from loyalty_cli.whatif import replay_both
from loyalty_cli.whatif_replay import purchases_of, read_log, replay
from loyalty_kernel.programme import Programme, load_programme
from loyalty_platform.serving import tune_collector

VERSIONS = Path(__file__).parents[1] / "deploy" / "programme"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--members", type=int, default=1_800)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--both-only", action="store_true",
                    help="time only the two replays as the command runs them (long logs)")  # fmt: skip
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        plan = TrafficPlan(args.members, args.days, seed=7, start=datetime(2025, 11, 1, tzinfo=UTC))
        with path.open("wb") as f:
            for event in grocery_traffic(plan):
                f.write(to_json_line(event))
        figures = run(path, args.partitions, alone=not args.both_only)
    n, commands = figures.pop("purchases"), figures.pop("commands")
    total = figures["read"] + figures["both"]
    print(f"what-if on {commands:,} events ({n:,} purchases) by {args.members:,} members over "
          f"{args.days} days, {args.partitions} partitions; Python {sys.version.split()[0]}")  # fmt: skip
    print(f"  parse    {figures['parse']:7.2f} s  json.loads of every line (baseline)")
    for phase in ("read", "current", "new", "both"):
        if phase in figures:
            print(f"  {phase:<8} {figures[phase]:7.2f} s")
    print(f"  what-if  {total:7.2f} s  read + both ({total / figures['parse']:.1f}x the "
          f"baseline; {commands / total:,.0f} events/s; target 5 s for 70,000 purchases)")  # fmt: skip


def run(path: Path, partitions: int, alone: bool = True) -> dict[str, float]:
    tune_collector()  # as the command does
    started = time.perf_counter()
    for line in read_jsonl(path):
        json.loads(line)
    parse = time.perf_counter() - started
    started = time.perf_counter()
    log = read_log(read_jsonl(path), partitions, message_key)
    gc.freeze()  # as the command does
    read = time.perf_counter() - started
    out = {
        "parse": parse,
        "read": read,
        "commands": len(log.commands),
        "purchases": purchases_of(log),
    }
    current, new = Programme(), load_programme(VERSIONS)
    for label, programme in (("current", current), ("new", new)) if alone else ():
        started = time.perf_counter()
        replay(log, programme)
        out[label] = time.perf_counter() - started
    started = time.perf_counter()
    replay_both(log, current, new)
    out["both"] = time.perf_counter() - started
    return out


if __name__ == "__main__":
    main()
