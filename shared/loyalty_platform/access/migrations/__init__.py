"""The API keys' Alembic migrations (schema `access`), shared by every service."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent
