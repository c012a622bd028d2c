"""`python -m loyalty_points`: serve the API and run the consumer."""

from __future__ import annotations

import logging

import uvicorn

from loyalty_points.entrypoints.app import create_app
from loyalty_points.settings import PointsSettings


def main() -> None:
    # Our own loggers at INFO; libraries at WARNING (SQLAlchemy at INFO logs every statement).
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    for name in ("loyalty_points", "loyalty_shared"):
        logging.getLogger(name).setLevel(logging.INFO)
    settings = PointsSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
