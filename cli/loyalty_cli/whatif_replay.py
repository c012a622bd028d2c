"""The what-if replay: a purchase log run through the points and tier domains in
memory under one programme, and what it gave every member and the programme.

The log is read once into commands, each on the partition its member's key hashes to
(as the broker would place it), then applied by the services' own domain code, on the
same partition clocks, so the outcome is what the live services would record for the
same log. Nothing here touches a database or a broker.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from loyalty_kernel.intake.commands import IntakeCommand, RecordPurchase
from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import Consumed, InboundMessage, RuleBroken
from loyalty_kernel.programme import Programme
from loyalty_platform.kafka import partition_of
from loyalty_points.domain.entries import EntryKind, LedgerEntry
from loyalty_points.domain.replay import PointsReplay
from loyalty_tiers.domain.replay import TierReplay
from loyalty_tiers.domain.standing import Direction

Placed = tuple[IntakeCommand, int]  # a command and the partition it was read from


@dataclass(frozen=True)
class PurchaseLog:
    """A log's commands in log order, each with its partition; what could not be read."""

    commands: list[Placed]
    unreadable: Counter[str]
    first: datetime | None
    last: datetime | None
    partitions: int


def read_log(lines: Iterable[bytes], partitions: int, key_of: Callable[[bytes], bytes | None]
             ) -> PurchaseLog:  # fmt: skip
    """Translate every line as the consumers do; a line they would dead-letter is
    counted by reason and left out."""
    commands: list[Placed] = []
    unreadable: Counter[str] = Counter()
    offsets: Counter[int] = Counter()
    first = last = None
    for line in lines:
        key = key_of(line)
        partition = partition_of(key.decode(), partitions) if key else 0
        message = InboundMessage("purchases", partition, offsets[partition], key, line, 0)
        offsets[partition] += 1
        item = translate_purchase(message)
        if not isinstance(item, Consumed):
            unreadable[item.why.reason] += 1
            continue
        at = item.command.occurred_at
        first, last = min(first or at, at), max(last or at, at)
        commands.append((item.command, partition))
    return PurchaseLog(commands, unreadable, first, last, partitions)


@dataclass
class MemberOutcome:
    purchases: int = 0
    spend: Decimal = Decimal(0)
    earned: int = 0
    clawed_back: int = 0
    expired: int = 0
    balance: int = 0
    available: int = 0
    tier: str = ""
    moves_up: int = 0
    moves_down: int = 0


@dataclass
class Outcome:
    """What one programme gave over the period (from, to] of the log."""

    programme: Programme
    members: dict[str, MemberOutcome] = field(default_factory=dict)
    by_rule: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    versions: Counter[str] = field(default_factory=Counter)  # purchases earned under each
    refused: Counter[str] = field(default_factory=Counter)  # what the consumer dead-letters
    vested: int = 0

    def total(self, attribute: str) -> int:
        return sum(getattr(m, attribute) for m in self.members.values())

    @property
    def earned(self) -> int:
        return self.total("earned")

    @property
    def base(self) -> Decimal:
        """What the purchases earned before any rule: the rate and the tier multiplier."""
        return Decimal(self.earned) - sum(self.by_rule.values(), Decimal(0))

    @property
    def outstanding(self) -> int:
        return sum(m.balance for m in self.members.values() if m.balance > 0)

    @property
    def owed(self) -> int:
        return -sum(m.balance for m in self.members.values() if m.balance < 0)

    @property
    def value(self) -> Decimal:
        return self.outstanding * self.programme.points.point_value

    def tiers(self) -> dict[str, int]:
        counts = Counter(m.tier for m in self.members.values())
        return {level.name: counts.get(level.name, 0) for level in self.programme.tiers.levels}


def replay(
    log: PurchaseLog,
    programme: Programme,
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Apply the log up to `until` (its events stamped later are left out) under
    `programme`; count what happened in (since, until]; the state as of `until`."""
    end = until or log.last
    points, tiers = PointsReplay(programme), TierReplay(programme)
    out = Outcome(programme)
    in_period = _period(since, end)
    for n, (cmd, partition) in enumerate(log.commands, 1):
        if end is not None and cmd.occurred_at > end:
            continue
        try:
            entries, purchases = points.apply(cmd, partition)
        except RuleBroken as refused:
            out.refused[refused.reason] += 1
            continue
        tiers.apply(cmd, partition)
        _count_entries(out, entries, in_period)
        for p in purchases:
            if in_period(p.occurred_at):
                member = out.members.setdefault(p.member_id, MemberOutcome())
                member.purchases += 1
                member.spend += p.amount
                out.versions[p.programme_version or ""] += 1
                for rule, extra in p.extras.items():
                    out.by_rule[rule] += extra  # exact: what each rule added
        if on_progress is not None and n % 5_000 == 0:
            on_progress(n)
    if end is not None:
        entries, _ = points.finish(end, range(log.partitions))
        _count_entries(out, entries, in_period)
        tiers.finish(end, range(log.partitions))
    for change in tiers.changes:
        if in_period(change.effective_at):
            member = out.members.setdefault(change.member_id, MemberOutcome())
            if change.direction is Direction.UP:
                member.moves_up += 1
            else:
                member.moves_down += 1
    for member_id, ledger in points.ledgers.items():
        member = out.members.setdefault(member_id, MemberOutcome())
        member.balance, member.available = ledger.balance, ledger.available
    lowest = programme.tiers.levels[0].name
    for member_id, member in out.members.items():
        member.tier = tiers.tier_of(member_id) or lowest
    if on_progress is not None:
        on_progress(len(log.commands))
    return out


def _period(since: datetime | None, until: datetime | None) -> Callable[[datetime], bool]:
    def inside(at: datetime) -> bool:
        return (since is None or at > since) and (until is None or at <= until)

    return inside


def _count_entries(
    out: Outcome, entries: Sequence[LedgerEntry], in_period: Callable[[datetime], bool]
) -> None:
    for e in entries:
        if not in_period(e.occurred_at):
            continue
        member = out.members.setdefault(e.member_id, MemberOutcome())
        if e.kind is EntryKind.EARNED:
            member.earned += e.delta
        elif e.kind is EntryKind.CLAWED_BACK:
            member.clawed_back -= e.delta
        elif e.kind is EntryKind.EXPIRED:
            member.expired -= e.delta
        elif e.kind is EntryKind.VESTED:
            out.vested += e.available_delta


def purchases_of(log: PurchaseLog) -> int:
    return sum(1 for cmd, _ in log.commands if isinstance(cmd, RecordPurchase))
