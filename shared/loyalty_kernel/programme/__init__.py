"""The loyalty programme: its rules (pure) and the TOML file that tunes them."""

from loyalty_kernel.programme.earning import (
    Earned,
    EarningPast,
    EarningPolicy,
    Earnings,
    clawback_total,
)
from loyalty_kernel.programme.loading import ProgrammeFileError, load_programme
from loyalty_kernel.programme.model import (
    ChurnSettings,
    PointsLifecycle,
    Programme,
    ProgrammeVersion,
    SeverityBands,
    TierLevel,
    TierSettings,
)
from loyalty_kernel.programme.tiers import CountedPurchase, QualifyingPurchase, TierPolicy

__all__ = [
    "ChurnSettings",
    "CountedPurchase",
    "Earned",
    "EarningPast",
    "EarningPolicy",
    "Earnings",
    "PointsLifecycle",
    "Programme",
    "ProgrammeFileError",
    "ProgrammeVersion",
    "QualifyingPurchase",
    "SeverityBands",
    "TierLevel",
    "TierPolicy",
    "TierSettings",
    "clawback_total",
    "load_programme",
]
