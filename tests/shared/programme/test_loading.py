from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty_kernel.programme import ProgrammeFileError, load_programme


def test_without_a_file_the_default_programme_applies():
    programme = load_programme(None)
    assert [(t.name, t.threshold) for t in programme.tiers.levels] == [
        ("opal", 0), ("pearl", 20), ("ruby", 50), ("diamond", 100)
    ]  # fmt: skip
    assert (programme.tiers.window_days, programme.tiers.hold_days, programme.currency) == (
        7,
        28,
        "USD",
    )


def test_a_retailer_can_run_a_year_long_window_with_other_thresholds(tmp_path):
    path = tmp_path / "programme.toml"
    path.write_text(
        """
        name = "annual"
        currency = "EUR"
        [tiers]
        window_days = 365
        hold_days = 0
        levels = [
          { name = "bronze", threshold = "0", multiplier = "1" },
          { name = "gold", threshold = "2500", multiplier = "1.5" },
        ]
        """
    )
    programme = load_programme(path)
    assert programme.tiers.window_days == 365
    assert programme.tiers.levels[1].threshold == Decimal(2500)
    assert programme.currency == "EUR"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("tiers = [", "not valid TOML"),
        ("[tiers]\nwindow_days = 0", "tiers.window_days"),
        ('[[tiers.levels]]\nname = "gold"\nthreshold = "10"\nmultiplier = "2"', "threshold 0"),
        (
            '[tiers]\nlevels = [{name="a", threshold="0", multiplier="1"},'
            ' {name="b", threshold="0", multiplier="2"}]',
            "rise strictly",
        ),
        ('currency = "usd"', "currency"),
        ("surprise = 1", "surprise"),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_message(tmp_path, text, complaint):
    path = tmp_path / "programme.toml"
    path.write_text(text)
    with pytest.raises(ProgrammeFileError, match=complaint):
        load_programme(path)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ProgrammeFileError, match="does not exist"):
        load_programme(tmp_path / "nope.toml")
