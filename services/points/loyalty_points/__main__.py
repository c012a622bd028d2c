"""`python -m loyalty_points`: serve the API and run the consumer."""

from __future__ import annotations

from loyalty_platform.serving import serve
from loyalty_points.entrypoints.app import create_app
from loyalty_points.settings import PointsSettings


def main() -> None:
    settings = PointsSettings()
    serve(create_app(settings), package="loyalty_points", host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
