"""The tier service's Alembic migrations (schema `tiers`)."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent
