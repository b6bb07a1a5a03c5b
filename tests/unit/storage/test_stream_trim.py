"""Stream IDs and the rule for what may be trimmed."""

from __future__ import annotations

from storage.stream import GroupPosition, StreamId, safe_trim_floor

FAR_FUTURE = StreamId(10**15, 0)


def test_ids_parse_from_bytes_and_text() -> None:
    """``b"17-3"`` and ``"17-3"`` are the same ID; a bare number has sequence 0."""
    assert StreamId.parse(b"17-3") == StreamId.parse("17-3") == StreamId(17, 3)
    assert StreamId.parse("17") == StreamId(17, 0)


def test_ids_order_numerically() -> None:
    """``9-0`` comes before ``10-0`` (numbers, not strings)."""
    assert StreamId.parse("9-0") < StreamId.parse("10-0")
    assert str(StreamId(10, 2)) == "10-2"


def test_nothing_is_trimmed_without_a_group() -> None:
    """Entries nobody consumes yet must all stay."""
    assert safe_trim_floor([], FAR_FUTURE) is None


def test_oldest_pending_entry_stays() -> None:
    """Entries delivered but not acknowledged are kept."""
    group = GroupPosition(last_delivered=StreamId(50, 0), oldest_pending=StreamId(20, 0))
    assert safe_trim_floor([group], FAR_FUTURE) == StreamId(20, 0)


def test_undelivered_entries_stay() -> None:
    """With nothing pending, the floor is the last delivered entry."""
    group = GroupPosition(last_delivered=StreamId(50, 0), oldest_pending=None)
    assert safe_trim_floor([group], FAR_FUTURE) == StreamId(50, 0)


def test_slowest_group_decides() -> None:
    """Every group's unacknowledged history is kept."""
    fast = GroupPosition(last_delivered=StreamId(90, 0), oldest_pending=None)
    slow = GroupPosition(last_delivered=StreamId(60, 0), oldest_pending=StreamId(30, 1))
    assert safe_trim_floor([fast, slow], FAR_FUTURE) == StreamId(30, 1)


def test_retention_window_keeps_recent_acknowledged_entries() -> None:
    """Acknowledged entries after the retention cutoff stay."""
    group = GroupPosition(last_delivered=StreamId(90, 0), oldest_pending=None)
    assert safe_trim_floor([group], StreamId(40, 0)) == StreamId(40, 0)


def test_a_group_that_read_nothing_blocks_trimming() -> None:
    """A group created but never read (last delivered 0-0) keeps everything."""
    group = GroupPosition(last_delivered=StreamId(0, 0), oldest_pending=None)
    assert safe_trim_floor([group], FAR_FUTURE) is None
