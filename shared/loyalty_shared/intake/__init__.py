"""The `purchases` topic as every consuming service reads it: messages translated
into commands, and the rules a purchase or refund must keep to be applied."""

from loyalty_shared.intake.commands import IntakeCommand, RecordPurchase, RecordRefund
from loyalty_shared.intake.rules import (
    ConflictingDuplicate,
    MemberMismatch,
    PurchaseRuleBroken,
    RefundablePurchase,
    RefundBeforePurchase,
    RefundExceedsPurchase,
    RefundTally,
    UnknownPurchase,
    WrongCurrency,
    admit_purchase,
    admit_refund,
)
from loyalty_shared.intake.topic import (
    BatchOutcome,
    DeadLetters,
    Inbound,
    IntakeHandler,
    PurchaseTopicConsumer,
    unapplied,
)
from loyalty_shared.intake.translation import translate

__all__ = [
    "BatchOutcome",
    "ConflictingDuplicate",
    "DeadLetters",
    "Inbound",
    "IntakeCommand",
    "IntakeHandler",
    "MemberMismatch",
    "PurchaseRuleBroken",
    "PurchaseTopicConsumer",
    "RecordPurchase",
    "RecordRefund",
    "RefundBeforePurchase",
    "RefundExceedsPurchase",
    "RefundTally",
    "RefundablePurchase",
    "UnknownPurchase",
    "WrongCurrency",
    "admit_purchase",
    "admit_refund",
    "translate",
    "unapplied",
]
