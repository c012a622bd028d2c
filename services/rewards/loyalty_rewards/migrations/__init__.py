"""The rewards service's Alembic migrations (schema `rewards`)."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent
