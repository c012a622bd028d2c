"""Running a service's app under uvicorn, as every service's `__main__` does."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI


def serve(app: FastAPI, *, package: str, host: str, port: int) -> None:
    # Our own loggers at INFO; libraries at WARNING (SQLAlchemy at INFO logs every statement).
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    for name in (package, "loyalty_shared"):
        logging.getLogger(name).setLevel(logging.INFO)
    uvicorn.run(app, host=host, port=port, log_level="warning")
