"""`python -m loyalty_churn`: serve the API and run the consumer."""

from __future__ import annotations

from loyalty_churn.entrypoints.app import create_app
from loyalty_churn.settings import ChurnWatchSettings
from loyalty_platform.serving import serve


def main() -> None:
    settings = ChurnWatchSettings()
    serve(create_app(settings), package="loyalty_churn", host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
