"""Asking a service's report endpoint from the command line, with an ops key: the
answer's JSON, or a red line saying what went wrong and exit status 1."""

from __future__ import annotations

from typing import Any

import httpx
import typer
from rich.console import Console

console = Console()


def fetch_report(
    url: str, path: str, params: dict[str, str], api_key: str | None, service: str,
    timeout: float = 30,
) -> Any:  # fmt: skip
    try:
        response = httpx.get(
            f"{url}{path}",
            params=params,
            headers={"X-API-Key": api_key} if api_key else {},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach the {service} at {url}: {exc}[/]")
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        console.print(f"[red]{response.status_code}: {response.text}[/]")
        raise typer.Exit(1)
    return response.json()
