"""The churn watch's Alembic migrations (schema `churn`)."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent
