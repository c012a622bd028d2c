"""The purchases and refunds a consuming service keeps of its own, and loading the part
of each member's history a batch needs.

Points and tiers both record purchases and their refunds in their own schema; the
tables share these columns, and the same loader reads them: the purchases named by
id, and each member's since their own lookback start (members' clocks can be far
apart, and one early start would load everyone's whole history). Both halves are
index lookups: one good plan however the table's statistics stand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty_kernel.intake.commands import PurchaseKey


class PurchaseColumns:
    """Columns of a service's `purchases` table: a purchase is its store's receipt."""

    store_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    purchase_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RefundColumns:
    """Columns of a service's `refunds` table: a refund counts once per purchase."""

    store_id: Mapped[str] = mapped_column(String(128), primary_key=True)  # the purchase's
    purchase_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    refund_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class _Refund(Protocol):
    @property
    def purchase_key(self) -> PurchaseKey: ...


class _Purchase(Protocol):
    @property
    def key(self) -> PurchaseKey: ...
    @property
    def purchase_id(self) -> str: ...
    @property
    def member_id(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def refunds(self) -> list[Any]: ...


P = TypeVar("P", bound=_Purchase)
R = TypeVar("R", bound=_Refund)


class PurchaseHistory:
    """Reads `schema`'s purchases and refunds into the service's own domain objects,
    built from the columns named, in the order their constructors take them."""

    def __init__(
        self, schema: str, purchase_columns: Sequence[str], refund_columns: Sequence[str]
    ) -> None:
        p = ", ".join(purchase_columns)
        lp = ", ".join(f"p.{c}" for c in purchase_columns)
        self._purchases = f"""
            select {p} from {schema}.purchases where purchase_id = any($1::text[])
            union
            select {lp}
            from unnest($2::text[], $3::timestamptz[]) as l(member_id, since)
            join {schema}.purchases p on p.member_id = l.member_id and p.occurred_at > l.since"""
        self._refunds = f"""
            select {", ".join(refund_columns)} from {schema}.refunds
            where purchase_id = any($1::text[]) order by occurred_at, refund_id"""

    async def load(
        self,
        db: Any,
        referenced: Sequence[str],
        lookback: Mapping[str, datetime],
        purchase: Callable[..., P],
        refund: Callable[..., R],
    ) -> dict[PurchaseKey, P]:
        """The purchases with the ids named (at any store) and each member's since
        `lookback`, by store and id, each with its refunds in time order."""
        rows = await db.fetch(
            self._purchases, list(referenced), list(lookback), list(lookback.values())
        )
        purchases = {p.key: p for p in (purchase(*r) for r in rows)}
        if purchases:
            ids = sorted({p.purchase_id for p in purchases.values()})
            for r in await db.fetch(self._refunds, ids):
                made = refund(*r)
                if made.purchase_key in purchases:  # not another store's namesake
                    purchases[made.purchase_key].refunds.append(made)
        return purchases


def by_member(
    purchases: Mapping[PurchaseKey, P],
    lookback: Mapping[str, datetime],
    references: Mapping[str, set[str]],
) -> dict[str, dict[PurchaseKey, P]]:
    """Each member's loaded purchases: their own since their lookback start, and every
    purchase with an id their events name, however old and whoever's."""
    found: dict[str, dict[PurchaseKey, P]] = defaultdict(dict)
    wanted = set().union(*references.values())
    named: dict[str, list[tuple[PurchaseKey, P]]] = defaultdict(list)
    # One pass over what may be a year of every member's purchases: kept lean.
    for key, p in purchases.items():
        since = lookback.get(p.member_id)
        if since is not None and p.occurred_at > since:
            found[p.member_id][key] = p
        if key[1] in wanted:
            named[key[1]].append((key, p))
    for member, ids in references.items():
        own = found[member]
        for i in ids:
            own.update(named.get(i, ()))
    return found
