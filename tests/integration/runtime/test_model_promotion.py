"""Model registry through the real Serve graph: a challenger scored in shadow, promotion and
rollback swapped in on the ensemble replicas while traffic flows, with zero failed requests."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.registry_commands import registry_entry
from client.gateway import GatewayClient, GatewayReply
from config.settings import Settings
from engine.components import load_feature_set
from storage.model_registry import ModelRegistry
from storage.writer import StreamWriter
from tests.faults.conftest import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKERS = 6
_SHADOW_COUNT = text("SELECT count(*) FROM shadow_scores WHERE model_version = :v")
SWAP_DEADLINE_S = 90.0


def variant_of(source: Path, destination: Path, suffix: str) -> Path:
    """A copy of ``source`` registered under another version (same trees, same scores)."""
    shutil.copytree(source, destination)
    manifest_path = destination / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = f"{manifest['version']}-{suffix}"
    manifest_path.write_text(json.dumps(manifest))
    return destination


class Traffic:
    """Keeps ``WORKERS`` clients scoring fresh transactions; counts statuses and model versions."""

    def __init__(self, client: GatewayClient) -> None:
        self._client = client
        self._stop = asyncio.Event()
        self.statuses: Counter[str] = Counter()
        self.versions: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._sent = 0

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send(w)) for w in range(WORKERS)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _send(self, worker: int) -> None:
        while not self._stop.is_set():
            self._sent += 1
            reply = await self._client.score(_payload(f"swap-{worker}-{self._sent}", worker))
            if isinstance(reply, GatewayReply):
                self.statuses[str(reply.status)] += 1
                if reply.ok:
                    self.versions.append(reply.body["model_version"])
            else:
                self.statuses[reply.error] += 1

    async def until_version(self, version: str) -> float:
        """Seconds until a reply carries ``version`` (fails after the deadline)."""
        started = time.monotonic()
        seen = len(self.versions)
        while time.monotonic() - started < SWAP_DEADLINE_S:
            if version in self.versions[seen:]:
                return time.monotonic() - started
            await asyncio.sleep(0.1)
        pytest.fail(f"no reply carried model {version} within {SWAP_DEADLINE_S:g} s")


def _payload(transaction_id: str, worker: int) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "account_id": f"acct-swap-{worker}",
        "amount": "25.00",
        "currency": "EUR",
        "merchant_id": "mrc-swap",
        "merchant_category": "5411",
        "country": "FR",
        "channel": "ecommerce",
    }


async def test_promote_and_rollback_under_load_fail_no_request(
    *,
    gateway_url: str,
    engine_settings: Settings,
    trained_model_dir: Path,
    tmp_path: Path,
    stream_writer: StreamWriter,
    db_engine: AsyncEngine,
) -> None:
    """Champion base, challenger in shadow (scores stored), challenger promoted, rolled back:
    every request sent meanwhile is answered 200, and replies switch model versions."""
    del stream_writer  # stores what is scored (shadow scores included)
    feature_set = load_feature_set(engine_settings)
    registry = ModelRegistry(db_engine)
    base = registry_entry(trained_model_dir, feature_set)
    challenger = registry_entry(variant_of(trained_model_dir, tmp_path / "b", "b"), feature_set)
    for entry in (base, challenger):
        await registry.register(entry, by="test")
    async with GatewayClient(gateway_url, timeout_s=120.0, max_connections=32) as client:
        traffic = Traffic(client)
        traffic.start()
        try:
            await client.promote_model(base.version)
            selection = await client.set_challenger(challenger.version)
            assert selection.challenger is not None
            assert selection.challenger.version == challenger.version

            async def shadowed() -> bool:
                async with db_engine.connect() as connection:
                    return (
                        int(
                            (
                                await connection.execute(
                                    _SHADOW_COUNT,
                                    {"v": challenger.version},
                                )
                            ).scalar_one()
                        )
                        > 0
                    )

            await eventually(shadowed, "shadow scores stored", within_s=SWAP_DEADLINE_S)
            promoted = await client.promote_model(challenger.version)
            assert promoted.champion is not None
            assert (promoted.champion.version, promoted.challenger) == (challenger.version, None)
            swap_s = await traffic.until_version(challenger.version)
            rolled = await client.rollback_model()
            assert rolled.champion is not None
            assert rolled.champion.version == base.version
            back_s = await traffic.until_version(base.version)
            await asyncio.sleep(1.0)
        finally:
            await traffic.stop()
            await client.set_challenger(None)
            await client.promote_model(base.version)
    answered = sum(traffic.statuses.values())
    assert traffic.statuses == Counter({"200": answered}), traffic.statuses
    assert answered > 100
    assert traffic.versions[-1] == base.version
    history = [(e.action, e.version) for e in (await registry.view()).history]
    assert ("promoted", challenger.version) in history
    assert ("rolled_back", base.version) in history
    assert swap_s < SWAP_DEADLINE_S
    assert back_s < SWAP_DEADLINE_S
