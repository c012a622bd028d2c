from pathlib import Path

from loyalty_kernel.programme import Programme, load_programme

EXAMPLE = Path(__file__).parents[3] / "deploy" / "programme.example.toml"


def test_the_shipped_example_file_is_exactly_the_built_in_default():
    assert load_programme(EXAMPLE) == Programme()


VERSIONS = Path(__file__).parents[3] / "deploy" / "programme"


def test_the_shipped_versions_show_each_kind_of_rule():
    programme = load_programme(VERSIONS)
    assert [v.version for v in programme.versions] == ["2025-01-launch", "2026-11-holiday"]
    assert programme.versions[0].earning.rules == ()
    rules = {r.id: r for r in programme.versions[1].earning.rules}
    assert rules["thanksgiving-meat"].cap_points == 600
    assert rules["no-gift-cards-or-tobacco"].multiplier == 0  # type: ignore[union-attr]
    assert rules["welcome"].first_purchase is True  # type: ignore[union-attr]
    assert rules["big-basket"].min_amount == 100  # type: ignore[union-attr]
    assert rules["top-tier-produce"].tiers == ("ruby", "diamond")
    assert programme.tiers == Programme().tiers
