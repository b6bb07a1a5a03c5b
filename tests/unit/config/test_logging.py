"""configure_logging: JSON lines or console, level filtering, context, stdlib routing, extras."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
import structlog

from config.logging import configure_logging, renders_json
from config.settings import Settings


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Always a terminal."""
        return True


def _logger() -> Any:
    """A logger no other test has used (so none was cached with another configuration)."""
    return structlog.get_logger(f"test.{uuid.uuid4().hex}")


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_level_logger_utc_timestamp_and_context() -> None:
    """Each event is one JSON object with level, logger name, ISO UTC time and bound context."""
    out = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=out)
    name = f"test.{uuid.uuid4().hex}"
    structlog.contextvars.bind_contextvars(request_id="req-1")
    structlog.get_logger(name).info(
        "transaction_scored", transaction_id="t1", latency_ms={"rules": 0.4}
    )
    [event] = _lines(out)
    assert event["event"] == "transaction_scored"
    assert event["level"] == "info"
    assert event["logger"] == name
    assert event["request_id"] == "req-1"
    assert event["latency_ms"] == {"rules": 0.4}
    assert event["timestamp"].endswith("Z")
    stamped = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    assert stamped.utcoffset() == UTC.utcoffset(None)


def test_auto_format_is_json_off_a_terminal_and_console_on_one() -> None:
    """log_format auto renders JSON into a file or pipe and the console renderer on a tty."""
    assert renders_json("auto", io.StringIO()) is True
    assert renders_json("auto", Terminal()) is False
    assert renders_json("json", Terminal()) is True
    assert renders_json("console", io.StringIO()) is False

    tty = Terminal()
    configure_logging(Settings(log_format="auto"), stream=tty)
    _logger().info("ruleset_loaded", rules=50)
    text = tty.getvalue()
    assert "ruleset_loaded" in text
    assert "rules" in text
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(text)


def test_console_format_is_human_readable() -> None:
    """log_format console prints the event name and its fields on one line, not JSON."""
    out = io.StringIO()
    configure_logging(Settings(log_format="console"), stream=out)
    _logger().warning("ruleset_rejected", kept_version="abc")
    [line] = out.getvalue().splitlines()
    assert "ruleset_rejected" in line
    assert "kept_version=abc" in line
    assert not line.startswith("{")


def test_events_below_the_level_are_dropped() -> None:
    """With log_level warning, debug and info events are not written; warnings are."""
    out = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="warning"), stream=out)
    log = _logger()
    log.debug("decisions_written")
    log.info("writer_started")
    log.warning("writer_redis_failed")
    log.error("stream_entries_lost")
    assert [e["event"] for e in _lines(out)] == ["writer_redis_failed", "stream_entries_lost"]


def test_standard_library_records_share_the_renderer_and_level() -> None:
    """stdlib logging goes through the same JSON renderer and level; httpx is kept quiet."""
    out = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="info"), stream=out)
    library = logging.getLogger(f"lib.{uuid.uuid4().hex}")
    library.debug("hidden")
    library.info("connected to %s", "db")
    logging.getLogger("httpx").info("HTTP Request: POST /v1/transactions")
    [event] = _lines(out)
    assert event["event"] == "connected to db"
    assert event["level"] == "info"
    assert event["logger"] == library.name
    assert event["timestamp"].endswith("Z")


def test_exceptions_are_rendered_as_text_in_json() -> None:
    """log.exception adds the traceback as an ``exception`` string."""
    out = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=out)
    try:
        raise ValueError("bad rule")  # noqa: TRY301 - the test needs a live exception
    except ValueError:
        _logger().exception("request_crashed")
    [event] = _lines(out)
    assert event["level"] == "error"
    assert "ValueError: bad rule" in event["exception"]


def test_values_json_cannot_encode_are_written_as_repr() -> None:
    """An object msgspec cannot encode does not lose the event: it is written as its repr."""

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    out = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=out)
    _logger().info("odd_value", value=Opaque(), keyed={1: "one"})
    [event] = _lines(out)
    assert event["value"] == "<opaque>"
    assert event["keyed"] == {"1": "one"}


class Collect:
    """An extra processor that keeps a copy of each event it sees."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        self.events.append(dict(event_dict))
        return event_dict


def test_extra_processors_see_complete_events_from_both_worlds() -> None:
    """Extra processors get structlog and stdlib events with level, logger and timestamp."""
    collect = Collect()
    out = io.StringIO()
    configure_logging(Settings(log_format="json"), extra_processors=[collect], stream=out)
    _logger().info("request_completed", status=200)
    logging.getLogger("some.library").warning("slow query")
    assert [e["event"] for e in collect.events] == ["request_completed", "slow query"]
    for event in collect.events:
        assert {"level", "logger", "timestamp"} <= event.keys()
        assert not any(key.startswith("_") for key in event)
    assert len(out.getvalue().splitlines()) == 2


def test_configuring_again_replaces_rather_than_adds() -> None:
    """A second call leaves one root handler, and loggers already in use get the new chain."""
    out = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=out)
    log = _logger()
    log.info("before")
    collect = Collect()
    configure_logging(Settings(log_format="json"), extra_processors=[collect], stream=out)
    log.info("after")
    logging.getLogger("some.library").warning("once")
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "vigil"]
    assert len(ours) == 1
    assert [e["event"] for e in _lines(out)] == ["before", "after", "once"]
    assert [e["event"] for e in collect.events] == ["after", "once"]
