"""What spending and adjusting share: an id that makes a request idempotent.

Asked again with the same facts, the first answer stands; with other facts, the id
is refused. Both run in one unit of work holding the member's balance row locked, so
a retry racing its original waits for it, then finds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import asyncpg

K = TypeVar("K")


class ReusedId(Exception):
    """The request's id was used before, for other facts."""


def same_request(
    known: K,
    facts: tuple[object, ...],
    asked: tuple[object, ...],
    refused: type[ReusedId],
    what: str,
) -> K:
    """`known` when it was made with the facts asked now; else `refused` is raised."""
    if facts != asked:
        raise refused(f"{what} was made with other facts")
    return known


@contextmanager
def one_use_of(refused: type[ReusedId], what: str) -> Iterator[None]:
    """The same id made at the same moment for another member (whose lock is another
    row) breaks the id's uniqueness in the database: that is a reused id too."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise refused(f"{what} was made with other facts") from exc
