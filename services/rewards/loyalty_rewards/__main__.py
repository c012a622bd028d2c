"""`python -m loyalty_rewards`: serve the API and run the consumer."""

from __future__ import annotations

from loyalty_platform.serving import serve
from loyalty_rewards.entrypoints.app import create_app
from loyalty_rewards.settings import RewardsSettings


def main() -> None:
    settings = RewardsSettings()
    serve(create_app(settings), package="loyalty_rewards", host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
