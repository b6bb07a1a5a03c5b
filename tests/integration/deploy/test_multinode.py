"""Vigil runs on a two-node Ray cluster deployed with `serve deploy`, as docker compose does.

Runs ``deploy/multinode_check.py`` (a Ray head and a second Ray node on this machine, each with
its own custom resource; the Serve config from ``vigil deploy serve-config``; the stream writer)
against the session's PostgreSQL and Redis. Takes about two minutes; like every test
that starts Ray, run it under ``flock /tmp/vigil-ray.lock``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "multinode_check.py"


@pytest.fixture
async def redis_emptied_after(redis_client: Redis) -> AsyncIterator[None]:
    """The session's Redis database, emptied before and after: the cluster's rules replicas
    leave their rule-version reports there, which the session's own engine must not see."""
    yield
    await redis_client.flushdb()


@pytest.mark.slow
@pytest.mark.usefixtures("redis_emptied_after")
def test_replicas_run_on_both_nodes_and_a_transaction_is_scored_and_stored(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Replicas land on the head and the worker node as placed; a scored decision is stored, and
    each node's metrics port exports the metrics of the replicas on it."""
    report_file = tmp_path / "report.json"
    done = subprocess.run(  # noqa: S603 - our own script
        [
            sys.executable,
            str(SCRIPT),
            "--database-url",
            database_url,
            "--redis-url",
            redis_url,
            "--timeout",
            "240",
            "--report",
            str(report_file),
        ],
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    output = done.stdout[-6000:] + done.stderr[-4000:]
    assert done.returncode == 0, output
    report = json.loads(report_file.read_text("utf-8"))
    assert sorted(report["nodes"].values()) == ["head", "worker"]
    assert report["replicas"] == {
        "gateway": {"head": 1},
        "rules": {"head": 1},
        "features": {"worker": 2},  # config/serve.yaml runs two (no single point of failure)
        "ensemble": {"worker": 1},
    }
    assert report["score"]["outcome"] in {"allow", "review", "block"}
    assert 0.0 <= report["score"]["risk_score"] <= 1.0
    assert report["score"]["stored"] is True
    assert {"ray_vigil_decisions_total", "serve:gateway"} <= set(report["metrics"]["head"])
    assert {"serve:features", "serve:ensemble"} <= set(report["metrics"]["worker"])
