"""`python -m loyalty_tiers`: serve the API and run the consumer."""

from __future__ import annotations

from loyalty_platform.serving import serve
from loyalty_tiers.entrypoints.app import create_app
from loyalty_tiers.settings import TiersSettings


def main() -> None:
    settings = TiersSettings()
    serve(create_app(settings), package="loyalty_tiers", host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
