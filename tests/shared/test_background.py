"""Background loops (sweepers, refitter, finisher) outlive any failure of their work."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from loyalty_platform.service import RunningService


async def test_a_loop_whose_work_breaks_keeps_running_and_retries():
    service = RunningService(parts=cast(Any, None), settings=cast(Any, None))
    calls: list[str] = []

    async def work() -> None:
        calls.append("call")
        if len(calls) == 1:
            raise ValueError("a bug in the sweep")  # not an infrastructure failure
        service._stopping()

    loop = asyncio.create_task(service.every(0.01, work, "test sweep"))
    await asyncio.wait_for(loop, timeout=10)
    assert calls == ["call", "call"]
