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


# --- versions and earning rules ------------------------------------------------------

BASE = """
version = "{name}"
{start}
[earning]
points_per_unit = "{ppu}"
"""


def write_version(folder, file, name, start=None, ppu="1", extra=""):
    line = f"effective_from = {start}" if start else ""
    (folder / file).write_text(BASE.format(name=name, start=line, ppu=ppu) + extra)


def test_a_folder_holds_the_versions_and_the_one_in_force_earns(tmp_path):
    from datetime import UTC, datetime

    write_version(tmp_path, "a.toml", "2025", ppu="1")
    write_version(tmp_path, "c.toml", "2026-11", "2026-11-01T00:00:00Z", ppu="3")
    write_version(tmp_path, "b.toml", "2026-06", "2026-06-01T00:00:00+02:00", ppu="2")
    programme = load_programme(tmp_path)
    assert [v.version for v in programme.versions] == ["2025", "2026-06", "2026-11"]
    at = lambda *d: programme.version_at(datetime(*d, tzinfo=UTC)).version  # noqa: E731
    assert at(2020, 1, 1) == "2025"
    assert at(2026, 5, 31, 22) == "2026-06"  # midnight at +02:00: effective_from inclusive
    assert at(2026, 5, 31, 21, 59) == "2025"
    assert at(2026, 11, 1) == "2026-11"


def test_versions_may_change_only_how_purchases_earn(tmp_path):
    write_version(tmp_path, "a.toml", "1")
    write_version(
        tmp_path, "b.toml", "2", "2026-01-01T00:00:00Z", extra="[tiers]\nwindow_days = 30\n"
    )
    with pytest.raises(ProgrammeFileError, match=r"b.toml differs from a.toml in tiers"):
        load_programme(tmp_path)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("a.toml", "1", None), ("b.toml", "2", None)], "only the first version may go without"),
        ([("a.toml", "1", None), ("b.toml", "1", "2026-01-01T00:00:00Z")], "the same version"),
        (
            [("a.toml", "1", "2026-01-01T00:00:00Z"), ("b.toml", "2", "2026-01-01T00:00:00Z")],
            "the same effective_from",
        ),
    ],
)
def test_versions_need_their_own_names_and_starts(tmp_path, files, message):
    for file, name, start in files:
        write_version(tmp_path, file, name, start)
    with pytest.raises(ProgrammeFileError, match=message):
        load_programme(tmp_path)


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(ProgrammeFileError, match=r"holds no \.toml"):
        load_programme(tmp_path)


def test_a_bad_rule_is_named_by_file_rule_and_field(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        """
        [[earning.rules]]
        id = "fine"
        bonus = 5

        [[earning.rules]]
        id = "thanksgiving-meat"
        multiplier = "3"
        match = { category = ["meat"] }
        from = 2026-11-27T00:00:00Z
        until = 2026-11-20T00:00:00Z
        """
    )
    with pytest.raises(ProgrammeFileError) as refused:
        load_programme(path)
    text = str(refused.value)
    assert str(path) in text
    assert 'earning.rules[1] (rule "thanksgiving-meat")' in text
    assert "until (2026-11-20T00:00:00+00:00) must be after from" in text


def test_a_field_of_a_rule_is_named_too(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[[earning.rules]]\nid = "neg"\nmultiplier = -2\n')
    with pytest.raises(ProgrammeFileError, match=r'earning.rules\[0\] \(rule "neg"\).multiplier'):
        load_programme(path)


def test_a_later_version_needs_only_its_earning_and_takes_the_rest_from_the_first(tmp_path):
    (tmp_path / "1.toml").write_text(
        'version = "launch"\ncurrency = "EUR"\n[tiers]\nwindow_days = 30\n'
        'levels = [{ name = "bronze", threshold = "0", multiplier = "1" },'
        ' { name = "gold", threshold = "500", multiplier = "2" }]\n'
    )
    (tmp_path / "2.toml").write_text(
        'version = "gold-bonus"\neffective_from = 2026-03-01T00:00:00Z\n'
        '[[earning.rules]]\nid = "gold-5"\nbonus = 5\ntiers = ["gold"]\n'
    )
    programme = load_programme(tmp_path)
    assert (programme.currency, programme.tiers.window_days) == ("EUR", 30)
    assert [v.version for v in programme.versions] == ["launch", "gold-bonus"]
    assert programme.versions[1].earning.rules[0].tiers == ("gold",)
