"""Map a line and column inside a YAML scalar's value back to the file it was read from.

CEL reports problems at a line and column of the expression; the expression is the value of a
``when:`` key, written as a plain, quoted, literal (``|``) or folded (``>``) scalar. YAML only moves
whitespace around when it reads those styles (it strips indentation and folds line breaks), so the
k-th non-blank character of the value is the k-th non-blank character of the scalar's source text.
Escapes in quoted scalars break that correspondence; positions after the first escape fall back
to the start of the scalar.
"""

from __future__ import annotations

from collections.abc import Sequence


def locate_in_scalar(
    lines: Sequence[str],
    start: tuple[int, int],
    value: str,
    expression_position: tuple[int, int],
) -> tuple[int, int]:
    """The 1-based file ``(line, column)`` of ``expression_position`` (1-based, in ``value``).

    ``start`` is the 0-based position of the scalar node as ruamel.yaml reports it (the quote or
    block indicator, if any). Positions past the end of the value map to just after its last
    character; unmappable ones map to the scalar's start.
    """
    source = _source_positions(lines, start, value)
    offset = _offset(value, *expression_position)
    seen = sum(1 for char in value[:offset] if not char.isspace())
    if offset < len(value) and not value[offset].isspace():
        if seen < len(source):
            line, column = source[seen]
            return line + 1, column + 1
    elif 0 < seen <= len(source):
        line, column = source[seen - 1]
        return line + 1, column + 2
    return _content_start(lines, start)


def _offset(value: str, line: int, column: int) -> int:
    """The character offset of a 1-based (line, column) in ``value``, clamped to its length."""
    value_lines = value.split("\n")
    line = max(1, min(line, len(value_lines)))
    offset = sum(len(text) + 1 for text in value_lines[: line - 1]) + max(column, 1) - 1
    return min(offset, len(value))


def _content_start(lines: Sequence[str], start: tuple[int, int]) -> tuple[int, int]:
    line, column = start
    indicator = lines[line][column : column + 1] if line < len(lines) else ""
    if indicator in {"|", ">"}:
        for following in range(line + 1, len(lines)):
            text = lines[following]
            if text.strip():
                return following + 1, len(text) - len(text.lstrip()) + 1
    return line + 1, column + 1


def _source_positions(
    lines: Sequence[str], start: tuple[int, int], value: str
) -> list[tuple[int, int]]:
    """0-based positions of the value's non-blank characters in the source, as far as they match."""
    wanted = [char for char in value if not char.isspace()]
    line, column = start
    indicator = lines[line][column : column + 1] if line < len(lines) else ""
    if indicator in {"|", ">"}:
        line, column = line + 1, 0
    elif indicator in {"'", '"'}:
        column += 1
    positions: list[tuple[int, int]] = []
    while line < len(lines) and len(positions) < len(wanted):
        text = lines[line]
        while column < len(text) and len(positions) < len(wanted):
            char = text[column]
            if not char.isspace():
                if char != wanted[len(positions)]:
                    return positions
                positions.append((line, column))
                if indicator == "'" and char == "'":
                    column += 1  # '' is one quote inside a single-quoted scalar
            column += 1
        line, column = line + 1, 0
    return positions
