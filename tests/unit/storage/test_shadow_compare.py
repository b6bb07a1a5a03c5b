"""Champion vs challenger on labelled live traffic, at the same alert volume."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from storage.shadow import compare


@dataclass(frozen=True)
class Row:
    """A labelled shadow-scored transaction."""

    champion_score: float | None
    challenger_score: float
    alerted: bool
    fraud: bool
    challenger_version: str = "chall"
    champion_version: str = "champ"


def test_the_challenger_is_held_to_the_champions_alert_volume() -> None:
    """Two alerts raised: the champion caught one fraud of two, the challenger ranks both top."""
    rows = [
        Row(0.9, 0.8, alerted=True, fraud=True),
        Row(0.8, 0.1, alerted=True, fraud=False),
        Row(0.1, 0.9, alerted=False, fraud=True),
        Row(0.2, 0.2, alerted=False, fraud=False),
    ]
    [result] = compare(rows)
    assert (result.rows, result.frauds, result.alerts) == (4, 2, 2)
    assert result.champion.recall_at_volume == pytest.approx(0.5)
    assert result.challenger.recall_at_volume == pytest.approx(1.0)
    assert result.challenger.precision_at_volume == pytest.approx(1.0)
    assert result.challenger.average_precision == pytest.approx(1.0)
    assert "at the same 2 alerts" in result.lines()[1]


def test_degraded_rows_are_left_out_and_pairs_are_separate() -> None:
    """Rows without a champion score do not count; each champion/challenger pair is its own."""
    rows = [
        Row(None, 0.5, alerted=False, fraud=True),
        Row(0.5, 0.5, alerted=False, fraud=False, challenger_version="other"),
        Row(0.4, 0.5, alerted=False, fraud=True),
    ]
    results = compare(rows)
    assert [(r.challenger.version, r.rows) for r in results] == [("chall", 1), ("other", 1)]
    assert results[0].champion.average_precision is None  # one class only
    assert results[0].champion.recall_at_volume is None  # no alerts raised
