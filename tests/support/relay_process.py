"""An outbox relay alone in a process, for tests that kill it: `python -m
tests.support.relay_process DATABASE_URL BOOTSTRAP_SERVERS TAKEOVER_SECONDS`.

It relays the points service's outbox until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from loyalty_platform.database import create_engine
from loyalty_platform.kafka import make_producer
from loyalty_platform.relay import OutboxRelay
from loyalty_platform.settings import KafkaSettings, asyncpg_url
from loyalty_points.adapters.orm import OutboxRow

RUNNING = "relay running"


async def main(database_url: str, bootstrap: str, takeover: float) -> None:
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    engine = create_engine(asyncpg_url(database_url))
    producer = make_producer(kafka)
    await producer.start()
    relay = OutboxRelay(
        engine, OutboxRow, producer, kafka, batch_size=500, takeover_seconds=takeover
    )
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, relay.stop)
    print(RUNNING, flush=True)
    try:
        await relay.run()
    finally:
        await producer.stop()
        await engine.dispose()
    logging.getLogger(__name__).warning("relay stopped cleanly")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
