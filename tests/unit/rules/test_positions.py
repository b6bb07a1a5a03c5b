"""Positions inside a `when` value map back to the file, whatever the scalar style."""

from __future__ import annotations

from ruamel.yaml import YAML

from rules.positions import locate_in_scalar


def _locate(text: str, expression_position: tuple[int, int]) -> tuple[int, int]:
    document = YAML(typ="rt").load(text)
    return locate_in_scalar(
        text.splitlines(), document.lc.value("when"), str(document["when"]), expression_position
    )


def test_plain_scalar_on_one_line() -> None:
    """Column n of the expression is column (start + n - 1) of the line."""
    assert _locate("when: txn.amount > 1\n", (1, 12)) == (1, 18)


def test_quoted_scalar_skips_the_quote() -> None:
    """Double- and single-quoted values start one column after the quote."""
    assert _locate('when: "txn.amount > 1"\n', (1, 1)) == (1, 8)
    assert _locate("when: 'txn.amount > 1'\n", (1, 12)) == (1, 19)


def test_single_quote_escape_is_followed() -> None:
    """'' inside a single-quoted scalar is one character of the value."""
    text = "when: 'txn.country == ''FR'' && x'\n"
    # value: txn.country == 'FR' && x  -> `x` is column 24 of the value, 33 of the line
    assert _locate(text, (1, 24)) == (1, 33)


def test_literal_block_keeps_lines() -> None:
    """Line k of a `|` block is line k after the indicator, past the indentation."""
    text = "when: |\n  txn.amount > 1.0 &&\n    features.x > 2.0\n"
    assert _locate(text, (2, 3)) == (3, 5)
    assert _locate(text, (1, 1)) == (2, 3)


def test_folded_block_maps_folded_lines() -> None:
    """A `>` block is one line to CEL; columns past the fold land on the next file line."""
    text = "when: >-\n  txn.amount > 1.0\n  && features.x > 2\n"
    # value: "txn.amount > 1.0 && features.x > 2"; `features` starts at column 21
    assert _locate(text, (1, 21)) == (3, 6)


def test_multi_line_plain_scalar() -> None:
    """A plain scalar folded over lines maps like a folded block."""
    text = "when: txn.amount > 1.0\n  && features.x > 2\n"
    assert _locate(text, (1, 21)) == (2, 6)


def test_position_past_the_end_points_after_the_last_character() -> None:
    """An error at the end of input (e.g. a missing operand) points just past the text."""
    # `>` is at column 19 of the line
    assert _locate("when: 'txn.amount > '\n", (1, 14)) == (1, 20)


def test_position_after_an_escape_falls_back_to_the_start() -> None:
    """Backslash escapes break the correspondence; the scalar's start is used."""
    text = 'when: "a \\"b\\" c"\n'
    assert _locate(text, (1, 7)) == (1, 7)
