"""Keeping the catalog through the service layer, on the real database: what each
change leaves in the catalog, and the named errors for what is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.settings import KafkaSettings
from loyalty_rewards import bootstrap
from loyalty_rewards.adapters.catalog_file import CatalogFileError
from loyalty_rewards.domain.catalog import (
    MAX_STOCK,
    Reward,
    RewardKind,
    StockLimit,
    StockNotCounted,
)
from loyalty_rewards.migrations import MIGRATIONS_DIR
from loyalty_rewards.service_layer.cataloguing import (
    Cataloguing,
    InvalidChange,
    Problem,
    RewardExists,
    UnknownReward,
    UnknownTier,
)
from tests.support.rewards import rewards_settings

BASE = Reward("x", "x", "", RewardKind.PHYSICAL, 1, None, None, None, None, None, None, True)
DEFAULT_IDS = {"store-credit-15", "coffee-coupon", "thanksgiving-turkey", "christmas-tree"}


def reward(reward_id: str, cost: int, **fields) -> Reward:
    return replace(
        BASE, **({"reward_id": reward_id, "name": reward_id, "points_cost": cost} | fields)
    )


def passes(reward: Reward) -> list[Problem]:
    return []


@pytest.fixture
async def catalog(new_database):
    url = await new_database(MIGRATIONS_DIR)
    settings = rewards_settings(url, KafkaSettings())  # no broker: nothing is published
    calls = bootstrap.upstream(settings)  # never called: the catalog asks no one
    engine = create_engine(settings.database_url)
    _, cataloguing = bootstrap.handlers(settings, session_factory(engine), calls)
    yield cataloguing
    for client in calls.http:
        await client.aclose()
    await engine.dispose()


async def stored(catalog: Cataloguing, reward_id: str) -> Reward | None:
    return next((r for r in await catalog.rewards() if r.reward_id == reward_id), None)


async def test_rewards_are_added_and_listed_cheapest_first(catalog):
    dear, cheap = reward("dear", 500, stock=3), reward("cheap", 10, min_tier="diamond")

    assert await catalog.add(dear) == dear
    assert await catalog.add(cheap) == cheap

    assert await catalog.rewards() == [cheap, dear]


async def test_a_reward_whose_id_exists_is_refused_and_the_first_kept(catalog):
    await catalog.add(reward("r", 10))

    with pytest.raises(RewardExists, match="a reward r exists"):
        await catalog.add(reward("r", 99, name="other"))

    assert await catalog.rewards() == [reward("r", 10)]


async def test_a_tier_outside_the_programme_is_refused(catalog):
    with pytest.raises(UnknownTier, match="opal, pearl, ruby, diamond"):
        await catalog.add(reward("r", 10, min_tier="platinum"))
    await catalog.add(reward("r", 10))
    with pytest.raises(UnknownTier):
        await catalog.change("r", {"min_tier": "platinum"}, check=passes)

    assert await catalog.rewards() == [reward("r", 10)]


async def test_a_change_is_checked_on_the_reward_it_would_make(catalog):
    await catalog.add(reward("r", 10, stock=4, description="kept"))
    seen: list[Reward] = []

    def refuses(merged: Reward) -> list[Problem]:
        seen.append(merged)
        return [Problem("", "limit_per_member and limit_period_days go together")]

    with pytest.raises(InvalidChange) as refused:
        await catalog.change("r", {"limit_per_member": 2, "name": "new"}, check=refuses)

    assert seen == [reward("r", 10, stock=4, description="kept", limit_per_member=2, name="new")]
    assert refused.value.problems == [
        Problem("", "limit_per_member and limit_period_days go together")
    ]
    assert await stored(catalog, "r") == reward("r", 10, stock=4, description="kept")


async def test_a_change_that_passes_is_kept(catalog):
    await catalog.add(reward("r", 10, stock=4))

    changed = await catalog.change("r", {"points_cost": 20, "min_tier": "ruby"}, check=passes)

    assert changed == reward("r", 20, stock=4, min_tier="ruby")
    assert await stored(catalog, "r") == changed


async def test_an_unknown_reward_cannot_be_changed_deactivated_or_restocked(catalog):
    checked: list[Reward] = []

    def check(merged: Reward) -> list[Problem]:
        checked.append(merged)
        return []

    with pytest.raises(UnknownReward, match="no reward nope"):
        await catalog.change("nope", {"name": "y"}, check=check)
    with pytest.raises(UnknownReward):
        await catalog.deactivate("nope")
    with pytest.raises(UnknownReward):
        await catalog.restock("nope", 1)
    assert checked == []
    assert await catalog.rewards() == []


async def test_a_deactivated_reward_stays_in_the_catalog_inactive(catalog):
    await catalog.add(reward("r", 10))

    assert await catalog.deactivate("r") == reward("r", 10, active=False)

    assert await catalog.rewards() == [reward("r", 10, active=False)]


async def test_restocking_adds_to_a_counted_stock_up_to_the_limit(catalog):
    await catalog.add(reward("r", 10, stock=1))
    await catalog.add(reward("free", 10))

    assert (await catalog.restock("r", 4)).stock == 5
    assert (await catalog.restock("r", MAX_STOCK - 5)).stock == MAX_STOCK
    with pytest.raises(StockLimit, match="10,000,000"):
        await catalog.restock("r", 1)
    with pytest.raises(StockNotCounted, match="free has no counted stock"):
        await catalog.restock("free", 1)

    assert (await stored(catalog, "r")).stock == MAX_STOCK
    assert (await stored(catalog, "free")).stock is None


async def test_the_catalog_file_seeds_what_the_catalog_lacks_once(catalog):
    assert set(await catalog.seed(None)) == DEFAULT_IDS
    await catalog.deactivate("coffee-coupon")

    assert await catalog.seed(None) == []

    assert {r.reward_id for r in await catalog.rewards()} == DEFAULT_IDS
    assert (await stored(catalog, "coffee-coupon")).active is False  # as the admin left it


async def test_a_bad_catalog_file_adds_nothing(catalog, tmp_path):
    path = tmp_path / "catalog.toml"
    entry = "[[reward]]\nreward_id='{0}'\nname='{0}'\nkind='physical'\npoints_cost={1}\n"
    path.write_text(entry.format("x", 5) + entry.format("y", 0))

    with pytest.raises(CatalogFileError, match="points_cost"):
        await catalog.seed(path)

    assert await catalog.rewards() == []
