"""The catalog TOML: the default and the example agree, a bad file is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyalty_rewards.adapters.catalog_file import CatalogFileError, load_catalog

ROOT = Path(__file__).resolve().parents[3]
TIERS = {"opal", "pearl", "ruby", "diamond"}


def test_the_example_file_is_the_built_in_default():
    default = load_catalog(None, TIERS)
    assert load_catalog(ROOT / "deploy" / "catalog.example.toml", TIERS) == default
    ids = {r.reward_id for r in default}
    assert {"store-credit-15", "thanksgiving-turkey", "christmas-tree"} <= ids
    assert all(
        r.min_tier == "diamond"
        for r in default
        if r.reward_id != "store-credit-15" and r.kind.value == "physical"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[reward]]\nreward_id = 'x'", "name"),
        ("not toml ===", "not valid TOML"),
        (
            "[[reward]]\nreward_id='x'\nname='x'\nkind='physical'\npoints_cost=5\nmin_tier='gold'",
            "unknown tier gold",
        ),
        (
            "[[reward]]\nreward_id='x'\nname='x'\nkind='physical'\npoints_cost=5\ncolour='red'",
            "colour",
        ),
    ],
)
def test_a_bad_file_is_refused_with_a_message_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    with pytest.raises(CatalogFileError, match=message):
        load_catalog(path, TIERS)
    with pytest.raises(CatalogFileError, match="does not exist"):
        load_catalog(tmp_path / "missing.toml", TIERS)
