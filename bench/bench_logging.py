"""Benchmark: CPU per log event on a Serve replica, before and after ``configure_logging``.

Each variant logs the gateway's two events per request (``request_completed`` and the canonical
``transaction_scored``) into a file and reports the CPU time per event (process time, best of
``--repeat`` rounds, so other load on the machine inflates it less):

* ``unconfigured``: what a replica did before: structlog's defaults (the console renderer with
  colours, printed) into a Serve replica's ``sys.stdout``, which throughput-optimized Serve
  replaces with a stream that turns each line into a record of its ``ray.serve`` logger and
  writes it to the replica's log file;
* ``json``: :func:`config.logging.configure_logging` with JSON lines straight to the file;
* ``json+buffer``: the same plus :class:`storage.logs.LogBuffer` (the copy for PostgreSQL);
* ``json+buffer+flush``: the same plus this process's CPU for :class:`storage.logs.LogFlusher`
  inserting the buffered events into ``--database-url`` (a migrated database; the rows are
  deleted afterwards). Without a URL only the JSON encoding of the payloads is counted.

    uv run python bench/bench_logging.py --events 20000 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/vigil_dev
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import structlog

from config.logging import configure_logging
from config.settings import Settings
from storage.logs import LogBuffer

BENCH_LOGGER = "bench.logging"
LATENCY = {
    "queue": 1.2,
    "features": 3.4,
    "rules": 0.8,
    "ensemble": 2.1,
    "decide": 0.01,
    "total": 7.9,
}


def log_request(log: Any, n: int) -> None:
    """The two events the gateway logs for one scored request."""
    log.info(
        "transaction_scored",
        transaction_id=f"t-{n}",
        account_id="acct-000123",
        outcome="allow",
        risk_score=0.0123,
        degraded=False,
        ruleset_version="7eaff8e2e6a4ac54",
        model_version="xgb-if-20261130-b7345218b4",
        latency_ms=LATENCY,
    )
    log.info("request_completed", status=200, duration_ms=8.123)


def cpu_per_event(setup: Callable[[], Any], events: int, repeat: int) -> float:
    """Best-of-``repeat`` process CPU seconds per event for the logger ``setup`` returns."""
    best = float("inf")
    for _ in range(repeat):
        log = setup()
        started = time.process_time()
        for n in range(events // 2):
            log_request(log, n)
        best = min(best, (time.process_time() - started) / events)
    return best


def serve_replica_stdout(directory: Path) -> io.TextIOBase:
    """A Serve replica's redirected stdout (what ``print`` and structlog's default hit)."""
    os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"  # before Serve reads its constants
    from ray.serve._private.common import ServeComponentType  # noqa: PLC0415
    from ray.serve._private.logging_utils import configure_component_logger  # noqa: PLC0415
    from ray.serve.schema import LoggingConfig  # noqa: PLC0415

    original = sys.stdout, sys.stderr, builtins.print
    configure_component_logger(
        component_name="bench_gateway",
        component_id="bench",
        logging_config=LoggingConfig(logs_dir=str(directory)),
        component_type=ServeComponentType.REPLICA,
        max_bytes=1 << 30,
        backup_count=1,
    )
    redirected = sys.stdout
    sys.stdout, sys.stderr, builtins.print = original  # Serve patches print too
    logging.getLogger("ray.serve").propagate = False
    return redirected  # type: ignore[return-value]  # Serve's StreamToLogger


async def flush_to(database_url: str, buffer: LogBuffer) -> float:
    """Write ``buffer`` with a LogFlusher (return its CPU seconds), then delete the rows."""
    from sqlalchemy import text  # noqa: PLC0415

    from storage.database import create_engine  # noqa: PLC0415
    from storage.logs import LogFlusher  # noqa: PLC0415

    engine = create_engine(database_url)
    try:
        async with engine.connect():
            pass  # connect before timing: a running flusher keeps its connection
        started = time.process_time()
        await LogFlusher(buffer, engine, batch_size=1_000).flush()
        spent = time.process_time() - started
        async with engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM logs WHERE logger = :name"), {"name": BENCH_LOGGER}
            )
    finally:
        await engine.dispose()
    return spent


def main() -> None:
    """Print CPU microseconds per event for each variant."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="vigil-bench-logging-"))
    settings = Settings(log_format="json", log_level="info")
    sink = (directory / "events.jsonl").open("w", encoding="utf-8")
    serve_stdout = serve_replica_stdout(directory)
    buffer = LogBuffer(capacity=10 * options.events)

    def unconfigured() -> Any:
        structlog.reset_defaults()
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.StackInfoRenderer(),
                structlog.dev.set_exc_info,
                structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
                structlog.dev.ConsoleRenderer(colors=True),
            ],
            logger_factory=structlog.PrintLoggerFactory(serve_stdout),  # type: ignore[arg-type]
        )
        return structlog.get_logger("vigil.engine")

    def json_only() -> Any:
        configure_logging(settings, stream=sink)
        return structlog.get_logger("vigil.engine")

    def json_buffer() -> Any:
        buffer.take(len(buffer))
        configure_logging(settings, extra_processors=[buffer], stream=sink)
        return structlog.get_logger("vigil.engine")

    encoder = msgspec.json.Encoder()

    def flush_cost() -> float:
        if options.database_url:
            return asyncio.run(flush_to(options.database_url, buffer))
        started = time.process_time()
        for entry in buffer.take(len(buffer)):
            encoder.encode(entry.payload)
        return time.process_time() - started

    variants: list[tuple[str, Callable[[], Any]]] = [
        ("unconfigured", unconfigured),
        ("json", json_only),
        ("json+buffer", json_buffer),
    ]
    results = {}
    for name, setup in variants:
        results[name] = cpu_per_event(setup, options.events, options.repeat)
    json_buffer()
    for n in range(options.events // 2):
        log_request(structlog.get_logger(BENCH_LOGGER), n)
    results["json+buffer+flush"] = results["json+buffer"] + flush_cost() / options.events
    structlog.reset_defaults()
    for name, seconds in results.items():
        print(
            f"{name:<20} {seconds * 1e6:7.1f} µs/event   "
            f"{seconds * 2e3:6.3f} ms per request (2 events)"
        )
    sink.close()


if __name__ == "__main__":
    main()
