"""Benchmark: push latency of the web app, from ``DecisionStream.append`` to a row in the browser.

The UI runs as its own process (``python -m ui``) on a scratch database; a headless Debian
Chromium has the Alerts page open, and a ``MutationObserver`` in the page stamps the wall-clock
time each alert row is added to the DOM. Part 1 appends single block decisions, spaced out, and
reports append → row latency (p50 / p95 / p99 / max). Part 2 appends a burst and reports when the
first and the last row of the burst were on screen.

    uv run python bench/bench_ui_push.py [--database-url URL] [--redis-url URL] [-n 200]

URLs default to ``VIGIL_TEST_DATABASE_URL`` / ``VIGIL_TEST_REDIS_URL`` (DB 14), else embedded
servers are started. Needs ``/usr/bin/chromium``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from argon2 import PasswordHasher  # noqa: E402

from config.settings import CONFIG_DIR  # noqa: E402
from core.models import Outcome  # noqa: E402
from storage.database import create_engine  # noqa: E402
from storage.stream import DECISION_STREAM, DecisionStream, stream_client  # noqa: E402
from storage.users import Role, UserStore  # noqa: E402
from tests.e2e.harness import (  # noqa: E402
    CHROMIUM,
    UiServer,
    chromium_browser,
    scratch_services,
    sign_in,
)
from tests.e2e.sample_data import SampleDecisions  # noqa: E402
from ui.rules_catalog import RuleCatalog  # noqa: E402

PASSWORD: Final = "throw-away secret 1"  # noqa: S105 - a throw-away account's password
OBSERVER: Final = """
window.__seen = {};
new MutationObserver(() => {
  for (const row of document.querySelectorAll('td[data-transaction-id]')) {
    const id = row.getAttribute('data-transaction-id');
    if (!(id in window.__seen)) window.__seen[id] = Date.now();
  }
}).observe(document.body, {childList: true, subtree: true});
"""


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values`` by linear interpolation."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def measure(args: argparse.Namespace) -> None:
    """Set up, then run both parts and print the results."""
    scratch = Path(tempfile.mkdtemp(prefix="vigil-bench-ui-"))
    catalog = RuleCatalog(CONFIG_DIR / "rules", CONFIG_DIR / "features.yaml")
    sample = SampleDecisions(catalog.active().rules, catalog.feature_names(), seed=3)
    try:
        async with scratch_services(
            scratch, database_server_url=args.database_url, redis_url=args.redis_url
        ) as (url, redis_url):
            engine = create_engine(url)
            users = UserStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=8192))
            await users.add_user("bench", PASSWORD, role=Role.ANALYST)
            await engine.dispose()
            redis = stream_client(redis_url)
            await redis.delete(DECISION_STREAM)
            server = UiServer(database_url=url, redis_url=redis_url, data_dir=scratch / "var")
            await asyncio.to_thread(server.start)
            try:
                async with chromium_browser() as browser:
                    page = await browser.new_page()
                    await sign_in(page, server.url, "bench", PASSWORD)
                    await page.get_by_text("Live", exact=True).wait_for()
                    await page.evaluate(OBSERVER)
                    await singles(page, DecisionStream(redis), sample, args.n, args.gap_ms)
                    await burst(page, DecisionStream(redis), sample, args.burst)
            finally:
                await asyncio.to_thread(server.stop)
                await redis.delete(DECISION_STREAM)
                await redis.aclose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def singles(
    page: Any, stream: DecisionStream, sample: SampleDecisions, n: int, gap_ms: float
) -> None:
    """Append ``n`` decisions one at a time; print append → row-on-screen latency."""
    latencies: list[float] = []
    for _ in range(n):
        record = sample.record(datetime.now(UTC), Outcome.BLOCK)
        tid = record.transaction.transaction_id
        appended = time.time() * 1000.0
        await stream.append_all([record])
        await page.wait_for_function(f"window.__seen[{tid!r}] !== undefined", timeout=10_000)
        seen = await page.evaluate(f"window.__seen[{tid!r}]")
        latencies.append(float(seen) - appended)
        await asyncio.sleep(gap_ms / 1000.0)
    print(f"single alerts: n={n}, one every {gap_ms:g} ms")
    print(
        f"  append -> row visible: p50 {percentile(latencies, 0.5):.1f} ms, "
        f"p95 {percentile(latencies, 0.95):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
        f"max {max(latencies):.1f} ms, mean {statistics.fmean(latencies):.1f} ms"
    )


async def burst(page: Any, stream: DecisionStream, sample: SampleDecisions, size: int) -> None:
    """Append ``size`` decisions back to back; print when the first and the newest row showed.

    The table scrolls virtually, so only rows in view are ever in the DOM: the newest alert is
    at the top, the oldest ones of a large burst may be below the fold.
    """
    records = [sample.record(datetime.now(UTC), Outcome.REVIEW) for _ in range(size)]
    started = time.time() * 1000.0
    for record in records:
        await stream.append_all([record])
    appended = time.time() * 1000.0
    ids = [r.transaction.transaction_id for r in records]
    newest = ids[-1]
    await page.wait_for_function(f"window.__seen[{newest!r}] !== undefined", timeout=30_000)
    seen = [
        float(value)
        for tid in ids
        if (value := await page.evaluate(f"window.__seen[{tid!r}] ?? null")) is not None
    ]
    last = float(await page.evaluate(f"window.__seen[{newest!r}]"))
    print(f"burst: {size} alerts appended in {appended - started:.1f} ms")
    print(
        f"  first row visible after {min(seen) - started:.1f} ms, the newest (last appended) "
        f"after {last - started:.1f} ms, i.e. {last - appended:.1f} ms after its append"
    )


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL server URL (may create databases)")
    parser.add_argument("--redis-url", help="a scratch Redis database URL")
    parser.add_argument("-n", type=int, default=200, help="single alerts to time")
    parser.add_argument("--gap-ms", type=float, default=50.0, help="pause between singles")
    parser.add_argument("--burst", type=int, default=150, help="alerts in the burst")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
