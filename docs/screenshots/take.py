"""Take a screenshot of every page of the web app, in a real headless Chromium.

    uv run python docs/screenshots/take.py [--database-url URL] [--redis-url URL]

It creates a throw-away database on the PostgreSQL server (``--database-url``: a user that may
create databases; default ``VIGIL_TEST_DATABASE_URL``, else an embedded server in a temporary
directory), fills it with six hours of plausible decisions (``tests/e2e/sample_data.py``), starts
the UI as its own process with a stand-in for the gateway's admin API, appends a few live
decisions to the stream while the Alerts page is open (so new rows are highlighted), and writes
one PNG per page here. The Redis database given (default ``VIGIL_TEST_REDIS_URL`` with DB 14,
else embedded) has its decision stream deleted first: point it at a scratch database.
Needs Debian's ``/usr/bin/chromium``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from argon2 import PasswordHasher  # noqa: E402

from config.settings import CONFIG_DIR  # noqa: E402
from core.alerts import AlertLabel, AlertStatus  # noqa: E402
from core.models import Outcome  # noqa: E402
from storage.database import create_engine  # noqa: E402
from storage.persist import insert_records  # noqa: E402
from storage.repository import AlertFilter, Repository  # noqa: E402
from storage.stream import DECISION_STREAM, DecisionStream, stream_client  # noqa: E402
from storage.users import Role, UserStore  # noqa: E402
from storage.writer import StreamWriter, WriterConfig  # noqa: E402
from tests.e2e.harness import (  # noqa: E402
    CHROMIUM,
    FakeAdminGateway,
    UiServer,
    chromium_browser,
    scratch_services,
    sign_in,
)
from tests.e2e.sample_data import SampleDecisions, history  # noqa: E402
from ui.rules_catalog import RuleCatalog  # noqa: E402

OUT: Final = Path(__file__).resolve().parent
PASSWORD: Final = "screenshots only 1"  # noqa: S105 - a throw-away test account's password
VIEWPORT: Final = {"width": 1440, "height": 900}
BROKEN_RULE: Final = """
  - id: big-night-spend
    description: Night-time payments over 2000.
    when: features.is_night == 1.0 && txn.amount > 2000
    action: block
    score: 0.9
  - id: new-device-weight
    description: Any payment from a device first seen today.
    when: features.device_first_seen_by_account_30d == 1.0
    action: review
    score: 1.4
"""


async def seed(url: str, rules_dir: Path, sample: SampleDecisions, now: datetime) -> None:
    """Six hours of decisions, a few investigated alerts, and two accounts."""
    engine = create_engine(url)
    records = history(sample, now - timedelta(seconds=30), span=timedelta(hours=6), count=4000)
    records += history(sample, now - timedelta(hours=6), span=timedelta(days=6), count=6000)
    async with engine.begin() as connection:
        for start in range(0, len(records), 500):
            await insert_records(connection, records[start : start + 500])
    users = UserStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    await users.add_user("ada", PASSWORD, role=Role.ADMIN, display_name="Ada Lovelace")
    await users.add_user("sam", PASSWORD, role=Role.ANALYST, display_name="Sam Okafor")
    repo = Repository(engine)
    page = await repo.list_alerts(AlertFilter(since=now - timedelta(hours=5)), limit=60)
    for index, alert in enumerate(page.items[10:40]):
        if index % 3 == 2:
            await repo.set_alert_status(alert.id, AlertStatus.CLOSED)
            await users.record(
                "sam", "alert_closed", f"alert:{alert.id}", {"transaction_id": alert.transaction_id}
            )
            continue
        label = AlertLabel.FRAUD if index % 3 == 0 else AlertLabel.LEGIT
        note = "cardholder confirmed" if label is AlertLabel.LEGIT else "card reported stolen"
        await repo.label_alert(alert.id, label, note=note, by="sam")
        await users.record(
            "sam",
            "alert_labelled",
            f"alert:{alert.id}",
            {"transaction_id": alert.transaction_id, "label": label.value, "note": note},
        )
    await users.record("ada", "deployment_scaled", "deployment:rules", {"replicas": 2})
    await engine.dispose()


async def shoot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Save the page as ``<name>.png`` next to this script."""
    await page.evaluate("window.scrollTo(0, 0)")
    await page.wait_for_timeout(600)
    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)
    print(f"wrote {OUT / f'{name}.png'}")  # noqa: T201 - a script reporting its output


async def run(args: argparse.Namespace) -> None:
    """Seed, serve, browse, shoot."""
    scratch = Path(tempfile.mkdtemp(prefix="vigil-screens-"))
    rules_dir = scratch / "rules"
    shutil.copytree(CONFIG_DIR / "rules", rules_dir)
    catalog = RuleCatalog(rules_dir, CONFIG_DIR / "features.yaml")
    sample = SampleDecisions(catalog.active().rules, catalog.feature_names(), seed=11)
    now = datetime.now(UTC)
    try:
        async with scratch_services(
            scratch, database_server_url=args.database_url, redis_url=args.redis_url
        ) as (url, redis_url):
            redis = stream_client(redis_url)
            await redis.delete(DECISION_STREAM)
            await seed(url, rules_dir, sample, now)
            engine = create_engine(url)
            writer = StreamWriter(redis, engine, WriterConfig(block_ms=100))
            writer_task = asyncio.ensure_future(writer.run())
            with FakeAdminGateway(rules_dir) as gateway:
                server = UiServer(
                    database_url=url,
                    redis_url=redis_url,
                    data_dir=scratch / "var",
                    gateway_port=gateway.port,
                    rules_dir=rules_dir,
                )
                await asyncio.to_thread(server.start)
                try:
                    await browse(server.url, redis, sample)
                finally:
                    await asyncio.to_thread(server.stop)
            writer.stop()
            await asyncio.wait_for(writer_task, timeout=15)
            await redis.delete(DECISION_STREAM)
            await redis.aclose()
            await engine.dispose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def browse(base: str, redis: Any, sample: SampleDecisions) -> None:
    """Visit every page and take its picture."""
    stream = DecisionStream(redis)
    async with chromium_browser() as browser:
        context = await browser.new_context(viewport=VIEWPORT, color_scheme="light")
        page = await context.new_page()
        await page.goto(f"{base}/login")
        await shoot(page, "login", full_page=False)
        await sign_in(page, base, "ada", PASSWORD)
        await page.get_by_text("Live", exact=True).wait_for()
        for outcome in (Outcome.REVIEW, Outcome.BLOCK, Outcome.BLOCK):
            record = sample.record(datetime.now(UTC), outcome)
            await stream.append([record])
            await page.locator(
                f'td[data-transaction-id="{record.transaction.transaction_id}"]'
            ).wait_for()
            await page.wait_for_timeout(700)
        await shoot(page, "alerts", full_page=False)
        await context.close()

        context = await browser.new_context(viewport=VIEWPORT, color_scheme="dark")
        dark = await context.new_page()
        await sign_in(dark, base, "ada", PASSWORD)
        await dark.get_by_text("Live", exact=True).wait_for()
        record = sample.record(datetime.now(UTC), Outcome.BLOCK)
        await stream.append([record])
        await dark.locator(
            f'td[data-transaction-id="{record.transaction.transaction_id}"]'
        ).wait_for()
        await shoot(dark, "alerts-dark", full_page=False)
        await dark.locator(f'td[data-transaction-id="{record.transaction.transaction_id}"]').click()
        await dark.get_by_text("Investigation").wait_for(timeout=20_000)
        await shoot(dark, "alert-detail-dark")
        await context.close()

        context = await browser.new_context(viewport=VIEWPORT, color_scheme="light")
        page = await context.new_page()
        await sign_in(page, base, "ada", PASSWORD)
        await page.locator("tr.vigil-row-block").first.click()
        await page.get_by_text("Investigation").wait_for(timeout=20_000)
        await shoot(page, "alert-detail")
        for path, name in (
            ("/overview", "overview"),
            ("/daily", "daily-summary"),
            ("/models", "models"),
            ("/scaling", "scaling"),
            ("/audit", "audit"),
        ):
            await page.goto(f"{base}{path}")
            await page.wait_for_load_state("networkidle")
            await page.wait_for_timeout(1200)
            await shoot(page, name)
        await page.goto(f"{base}/rules")
        await page.get_by_text("Edit rule file").wait_for()
        editor = page.locator(".cm-content")
        await editor.click()
        await page.keyboard.press("Control+End")
        await page.keyboard.insert_text(BROKEN_RULE)
        await page.get_by_role("button", name="Validate").click()
        await page.get_by_text("nothing was written").wait_for()
        await shoot(page, "rules")
        await context.close()


def main() -> None:
    """Parse the options and take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL server URL (may create databases)")
    parser.add_argument("--redis-url", help="a scratch Redis database URL")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
