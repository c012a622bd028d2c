"""The loyalty programme: its rules (pure) and the TOML file that tunes them."""

from loyalty_kernel.programme.earning import EarningRule
from loyalty_kernel.programme.loading import ProgrammeFileError, load_programme
from loyalty_kernel.programme.model import (
    ChurnSettings,
    PointsLifecycle,
    Programme,
    SeverityBands,
    TierLevel,
    TierSettings,
)
from loyalty_kernel.programme.tiers import CountedPurchase, QualifyingPurchase, TierPolicy

__all__ = [
    "ChurnSettings",
    "CountedPurchase",
    "EarningRule",
    "PointsLifecycle",
    "Programme",
    "ProgrammeFileError",
    "QualifyingPurchase",
    "SeverityBands",
    "TierLevel",
    "TierPolicy",
    "TierSettings",
    "load_programme",
]
