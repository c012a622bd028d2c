"""Per-member (x, t_x, T) summaries, checked and folded into distinct rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


class InvalidSummaries(ValueError):
    """The summaries are not counts and times a member could have."""


def as_floats(*values: npt.ArrayLike) -> list[Floats]:
    return [np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(*values)]


@dataclass(frozen=True)
class Summaries:
    """Distinct (x, t_x, T) rows and how many members share each: members with the same
    history share a row, so the likelihood is evaluated once for all of them."""

    x: Floats
    t_x: Floats
    T: Floats
    members: Floats

    @classmethod
    def of(cls, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> Summaries:
        rows = np.column_stack([np.ravel(v) for v in as_floats(x, t_x, T)])
        if not np.all(np.isfinite(rows)):
            raise InvalidSummaries("summaries must be finite numbers")
        if np.any(rows < 0) or np.any(rows[:, 1] > rows[:, 2]):
            raise InvalidSummaries("need x >= 0 and 0 <= t_x <= T")
        distinct, counts = np.unique(rows, axis=0, return_counts=True)
        return cls(distinct[:, 0], distinct[:, 1], distinct[:, 2], counts.astype(np.float64))

    @property
    def learnable(self) -> bool:
        # Without a repeat purchase, or without any time watched, the rates are unknowable.
        return bool(np.any(self.x > 0) and np.any(self.T > 0))

    @property
    def purchase_rate(self) -> float:
        return float(self.members @ self.x) / float(self.members @ self.T)

    def sample(self, rows: int) -> Summaries:
        pick = np.random.default_rng(0).choice(len(self.x), rows, replace=False)
        return Summaries(self.x[pick], self.t_x[pick], self.T[pick], self.members[pick])
