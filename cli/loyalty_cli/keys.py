"""`loyalty keys` (issue, list, revoke API keys), `loyalty token` (a member token, where
the platform holds the signing secret: development and tests) and `loyalty credentials`
(the development credentials of `loyalty up`, as shell exports)."""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Column, Table

from loyalty_platform.access.credentials import SCOPES, InvalidKeyRequest, Kind
from loyalty_platform.access.keystore import KeyStore
from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.startup import key_store_at
from loyalty_platform.access.tokens import MemberTokens

keys_app = typer.Typer(help="API keys of tills, ops and services.", no_args_is_help=True)
console = Console()
T = TypeVar("T")
DatabaseUrl = Annotated[
    str, typer.Option(envvar=["ACCESS_DATABASE_URL", "DATABASE_URL"], help="Where keys are kept")
]


def _with_keys(database_url: str, work: Callable[[KeyStore], Awaitable[T]]) -> T:
    async def run() -> T:
        async with key_store_at(database_url) as keys:
            return await work(keys)

    return asyncio.run(run())


@keys_app.command("issue")
def issue(
    kind: Annotated[Kind, typer.Argument(help="till, ops or service")],
    database_url: DatabaseUrl,
    store: Annotated[str | None, typer.Option(help="A till's store")] = None,
    till: Annotated[str | None, typer.Option(help="A till's own id, for the audit trail")] = None,
    scope: Annotated[
        list[str] | None, typer.Option(help=f"Repeatable; one of: {', '.join(SCOPES)}")
    ] = None,
    label: Annotated[str, typer.Option(help="Who or what holds it")] = "",
    development: Annotated[
        bool, typer.Option(help="Mark it as a development key (production refuses those)")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write the key to this file (mode 600) instead")
    ] = None,
) -> None:
    """Issue a key and print it: this is the only time its secret is shown."""
    try:
        issued = _with_keys(
            database_url,
            lambda keys: keys.issue(
                kind,
                store_id=store,
                till_id=till,
                scopes=frozenset(scope or ()),
                label=label,
                development=development,
            ),
        )
    except InvalidKeyRequest as refused:
        console.print(f"[red]{refused}[/]")
        raise typer.Exit(2) from refused
    console.print(f"key id  {issued.holder.key_id}", highlight=False)
    if out is None:
        print(issued.text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600)
    out.write_text(issued.text + "\n")
    console.print(f"written to {out}")


@keys_app.command("revoke")
def revoke(key_id: str, database_url: DatabaseUrl) -> None:
    """Revoke a key; every service refuses it within ACCESS_KEY_CACHE_SECONDS."""
    if not _with_keys(database_url, lambda keys: keys.revoke(key_id)):
        console.print(f"[yellow]no working key {key_id}[/]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


@keys_app.command("list")
def listing(database_url: DatabaseUrl) -> None:
    """Every key: kind, store, scopes, whether it still works. Never the secrets."""
    records = _with_keys(database_url, lambda keys: keys.records())
    table = Table(
        Column("key id", no_wrap=True),
        "kind",
        "store",
        "scopes",
        "label",
        Column("created", no_wrap=True),
        Column("state", no_wrap=True),
    )
    for r in records:
        h = r.holder
        state = f"revoked {r.revoked_at:%Y-%m-%d}" if r.revoked_at else "works"
        table.add_row(
            h.key_id,
            h.kind.value + (" (dev)" if h.development else ""),
            h.store_id or "",
            " ".join(sorted(h.scopes)),
            h.label,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            state,
        )
    console.print(table)


def token(
    member_id: Annotated[str, typer.Argument(help="The member the token speaks for")],
    minutes: Annotated[int, typer.Option(help="Lifetime")] = 60,
) -> None:
    """Print a member token signed with LOYALTY_TOKEN_SECRET (as the retailer's identity
    service would issue one at login)."""
    print(MemberTokens(AccessSettings()).issue(member_id, lifetime=timedelta(minutes=minutes)))


def credentials(
    file: Annotated[Path, typer.Option(help="Written by `loyalty up`")] = Path(
        "var/credentials.json"
    ),
) -> None:
    """Print `loyalty up`'s development credentials as shell exports, for
    `eval "$(loyalty credentials)"`: MEMBER, MEMBER_TOKEN, OPS_KEY, TILL_KEY."""
    if not file.exists():
        console.print(f"[red]{file} does not exist: `loyalty up` writes it[/]")
        raise typer.Exit(1)
    saved = json.loads(file.read_text())
    member, token = next(iter(saved["member_tokens"].items()))
    exports = {
        "MEMBER": member,
        "MEMBER_TOKEN": token,
        "OPS_KEY": saved["ops_key"],
        "TILL_KEY": saved["till_key"],
        "TILL_STORE": saved["till_store"],
    }
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
