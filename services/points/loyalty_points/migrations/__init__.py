"""The points service's Alembic migrations (schema `points`)."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent
