"""Stream replies as both readers (the writer and the web app's feed) parse them."""

from __future__ import annotations

from storage.stream import entry_id_text, stream_entries


def test_stream_entries_reads_both_reply_shapes() -> None:
    """RESP2 lists and RESP3 maps give the same entries; an empty reply gives none."""
    fields = {b"v": b"1"}
    resp2 = [[b"s", [(b"1-0", fields), (b"2-0", fields)]]]
    resp3 = {b"s": [[(b"1-0", fields), (b"2-0", fields)]]}
    assert stream_entries(resp2) == stream_entries(resp3) == [("1-0", fields), ("2-0", fields)]
    assert stream_entries(None) == stream_entries([]) == []


def test_a_deleted_pending_entry_has_no_fields() -> None:
    """An entry deleted while pending in a group comes back with ``None`` fields: ``{}``."""
    assert stream_entries([[b"s", [(b"1-0", None)]]]) == [("1-0", {})]


def test_entry_ids_read_as_text() -> None:
    """Bytes and text IDs give the same text."""
    assert entry_id_text(b"17-3") == entry_id_text("17-3") == "17-3"
