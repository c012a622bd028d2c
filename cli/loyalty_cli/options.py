"""Parsing the command line's values the same way in every command."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_moment(value: str) -> datetime:
    """An ISO date or time; UTC when it names no zone."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
