"""One member's ledger against a model of it, driven by Hypothesis in any order: earn,
redeliver, refund, debit, restore, adjust. After every step the balance is the sum of
the entries, each entry's `balance_after` the running sum, only a clawback or an
adjustment takes the balance below zero, each purchase, refund and debit has its effect
once, and the clawbacks of a purchase are exactly `floor(earned x refunded / amount)`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from loyalty_kernel.intake.commands import RecordPurchase, RecordRefund
from loyalty_kernel.intake.rules import ConflictingDuplicate, RefundExceedsPurchase
from loyalty_kernel.programme import Earnings, PointsLifecycle, Programme, TierPolicy
from loyalty_points.domain.entries import Debit, DebitRefused, EntryKind
from loyalty_points.domain.ledger import Ledger
from loyalty_points.domain.lot_book import LotBook

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
TIERS = TierPolicy(Programme().tiers)
EARN = Earnings(Programme())
cents = st.integers(min_value=1, max_value=30_000)


class OneMembersLedger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        lifecycle = PointsLifecycle(pending_days=0, expire_after_days=0)
        self.ledger = Ledger("m-1", LotBook("m-1", lifecycle), {}, "USD")
        self.at = T0
        self.bought: dict[str, RecordPurchase] = {}
        self.refunds = 0
        self.debits: dict[str, Debit] = {}
        self.restored: set[str] = set()

    def later(self, minutes: int) -> datetime:
        self.at += timedelta(minutes=minutes)
        return self.at

    @rule(amount=cents, minutes=st.integers(0, 3 * 24 * 60))
    def buy(self, amount: int, minutes: int) -> None:
        pid = f"p{len(self.bought)}"
        cmd = RecordPurchase(
            pid, "m-1", "s-1", Decimal(amount) / 100, "USD", self.later(minutes), pid
        )
        entry = self.ledger.earn(cmd, TIERS, EARN)
        self.bought[pid] = cmd
        assert entry is None or entry.delta > 0

    @precondition(lambda self: self.bought)
    @rule(data=st.data(), other_amount=st.booleans())
    def redeliver(self, data: st.DataObject, other_amount: bool) -> None:
        cmd = self.bought[data.draw(st.sampled_from(sorted(self.bought)))]
        before = self.ledger.balance
        if other_amount:
            changed = RecordPurchase(
                cmd.purchase_id, "m-1", "s-1", cmd.amount + 1, "USD", cmd.occurred_at, "again"
            )
            try:
                self.ledger.earn(changed, TIERS, EARN)
                raise AssertionError("a reused purchase with another amount was accepted")
            except ConflictingDuplicate:
                pass
        else:
            assert self.ledger.earn(cmd, TIERS, EARN) is None
        assert self.ledger.balance == before

    @precondition(lambda self: self.bought)
    @rule(data=st.data(), share=st.integers(1, 120), minutes=st.integers(0, 600))
    def refund(self, data: st.DataObject, share: int, minutes: int) -> None:
        pid = data.draw(st.sampled_from(sorted(self.bought)))
        bought = self.bought[pid]
        amount = (bought.amount * share / 100).quantize(Decimal("0.01"), ROUND_FLOOR)
        if amount <= 0:
            return
        at = max(self.later(minutes), bought.occurred_at)
        cmd = RecordRefund(f"r{self.refunds}", pid, "m-1", amount, "USD", at, f"e-r{self.refunds}")
        self.refunds += 1
        before = self.ledger.balance
        try:
            entry = self.ledger.claw_back(cmd)
        except RefundExceedsPurchase:
            assert self.ledger.balance == before
            return
        assert entry is None or entry.kind is EntryKind.CLAWED_BACK
        assert self.ledger.claw_back(cmd) is None  # the same refund again: nothing

    @rule(points=st.integers(1, 5_000))
    def debit(self, points: int) -> None:
        debit_id = f"d{len(self.debits)}"
        before = self.ledger.balance
        try:
            self.debits[debit_id] = self.ledger.debit(debit_id, points, "reward", self.later(1))
        except DebitRefused:
            assert before < 0 or points > before
            assert self.ledger.balance == before
            return
        assert self.ledger.balance == before - points >= 0

    @precondition(lambda self: set(self.debits) - self.restored)
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        debit_id = data.draw(st.sampled_from(sorted(set(self.debits) - self.restored)))
        before = self.ledger.balance
        self.ledger.restore(self.debits[debit_id], self.later(1))
        self.restored.add(debit_id)
        assert self.ledger.balance == before + self.debits[debit_id].points

    @rule(points=st.integers(-2_000, 2_000).filter(bool))
    def adjust(self, points: int) -> None:
        before = self.ledger.balance
        self.ledger.adjust(
            f"a{len(self.ledger.new_entries)}", points, "ops", "key-1", self.later(1)
        )
        assert self.ledger.balance == before + points

    @invariant()
    def the_balance_is_the_sum_of_the_entries(self) -> None:
        running = 0
        for entry in self.ledger.new_entries:
            running += entry.delta
            assert entry.balance_after == running
            if running < 0:  # below zero only through a clawback or by hand
                assert entry.kind in (EntryKind.CLAWED_BACK, EntryKind.ADJUSTED) or entry.delta > 0
        assert self.ledger.balance == running

    @invariant()
    def each_effect_happened_once(self) -> None:
        entries = self.ledger.new_entries
        earned = [e.reference for e in entries if e.kind is EntryKind.EARNED]
        clawed = [e.reference for e in entries if e.kind is EntryKind.CLAWED_BACK]
        debited = [e.reference for e in entries if e.kind is EntryKind.REDEEMED]
        restored = [e.reference for e in entries if e.kind is EntryKind.RESTORED]
        for references in (earned, clawed, debited, restored):
            assert len(references) == len(set(references))
        assert set(debited) == set(self.debits)
        assert set(restored) == self.restored

    @invariant()
    def clawbacks_follow_the_formula(self) -> None:
        for purchase in self.ledger.purchases.values():
            total = purchase.points_earned * purchase.refunded / purchase.amount
            assert purchase.clawed_back == int(total.to_integral_value(ROUND_FLOOR))
            assert 0 <= purchase.clawed_back <= purchase.points_earned


OneMembersLedger.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
test_one_members_ledger = OneMembersLedger.TestCase
