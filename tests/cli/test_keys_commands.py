"""`loyalty keys` and `loyalty token`, and the development credentials of `loyalty up`,
on a real database."""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyalty_cli import keys
from loyalty_cli.credentials import development_credentials
from loyalty_cli.main import app
from loyalty_cli.stack import create_database, drop_database
from loyalty_platform.access.credentials import read_key
from loyalty_platform.access.migrations import MIGRATIONS_DIR
from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.tokens import MemberTokens
from loyalty_platform.migrations import upgrade


@pytest.fixture
def keys_database(database_server: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = asyncio.run(create_database(database_server, name))
    upgrade(MIGRATIONS_DIR, url)
    yield url
    asyncio.run(drop_database(database_server, name))


def run(*args: str, database_url: str | None = None) -> str:
    # Wide enough for the listings to be read whole. The console keeps a width it was
    # made with (a test worker's COLUMNS, say) over the one set for the run.
    keys.console.width = 250
    env = {"COLUMNS": "250", **({"DATABASE_URL": database_url} if database_url else {})}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_key_is_issued_listed_and_revoked(keys_database: str) -> None:
    printed = run("keys", "issue", "till", "--store", "store-18", "--till", "till-1",
                  "--label", "front desk", database_url=keys_database)  # fmt: skip
    key = read_key(printed.strip().splitlines()[-1])
    assert key is not None
    listing = run("keys", "list", database_url=keys_database)
    assert key.key_id in listing
    assert "store-18" in listing
    assert key.secret not in listing
    assert "works" in listing
    assert run("keys", "revoke", key.key_id, database_url=keys_database).startswith("revoked")
    assert "revoked" in run("keys", "list", database_url=keys_database)
    again = CliRunner().invoke(app, ["keys", "revoke", key.key_id],
                               env={"DATABASE_URL": keys_database})  # fmt: skip
    assert again.exit_code == 1


def test_a_key_with_rights_that_do_not_fit_its_kind_is_not_issued(keys_database: str) -> None:
    for args in (["till"], ["ops"], ["ops", "--scope", "points:write"],
                 ["till", "--store", "s", "--scope", "points:read"]):  # fmt: skip
        result = CliRunner().invoke(app, ["keys", "issue", *args],
                                    env={"DATABASE_URL": keys_database})  # fmt: skip
        assert result.exit_code == 2, args
    assert "ops_" not in run("keys", "list", database_url=keys_database)


def test_a_member_token_from_the_cli_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_TOKEN_SECRET", "s" * 40)
    token = run("token", "member-9", "--minutes", "5").strip()
    assert MemberTokens(AccessSettings()).member(token) == "member-9"


def test_development_credentials_are_written_and_exported(
    keys_database: str, tmp_path: Path
) -> None:
    made = development_credentials(keys_database, members=["member-1", "member-2"])
    path = tmp_path / "var" / "credentials.json"
    made.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert set(saved["member_tokens"]) == {"member-1", "member-2"}
    tokens = MemberTokens(AccessSettings(LOYALTY_TOKEN_SECRET=made.token_secret))
    assert tokens.member(saved["member_tokens"]["member-1"]) == "member-1"
    exports = run("credentials", "--file", str(path))
    assert f"export OPS_KEY={made.ops_key}" in exports
    assert "export MEMBER=member-1" in exports
    listing = run("keys", "list", database_url=keys_database)
    assert listing.count("(dev)") == 3  # every development key is marked as one


def test_a_service_key_can_go_to_a_secret_file(keys_database: str, tmp_path: Path) -> None:
    out = tmp_path / "secrets" / "rewards.key"
    printed = run("keys", "issue", "service", "--scope", "points:debit", "--out", str(out),
                  database_url=keys_database)  # fmt: skip
    key = read_key(out.read_text().strip())
    assert key is not None
    assert key.secret not in printed
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
