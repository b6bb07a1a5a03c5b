"""Auth helpers, shared reads, model files and time windows (no services)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import REPO_DIR
from core.errors import InvalidInputError, ModelArtifactError
from storage.analytics import TimeWindow, choose_bucket
from ui.auth import LoginThrottle, login_url, safe_next
from ui.cache import SharedReads
from ui.model_catalog import load_model_info

T0 = datetime(2026, 3, 1, 12, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/rules", "/rules"),
        ("/alerts/t1?x=1", "/alerts/t1?x=1"),
        (None, "/alerts"),
        ("https://evil.example", "/alerts"),
        ("//evil.example", "/alerts"),
        ("/\\evil", "/alerts"),
        ("/login?next=/x", "/alerts"),
    ],
)
def test_safe_next_only_allows_local_paths(target: str | None, expected: str) -> None:
    """Only paths of this app are followed after signing in."""
    assert safe_next(target) == expected


def test_login_url_quotes_the_target() -> None:
    """The return path travels as a query parameter."""
    assert login_url("/alerts/t 1") == "/login?next=/alerts/t%201"


def test_throttle_locks_a_name_after_repeated_failures() -> None:
    """Five failures lock the name for a minute; success or time clears it."""
    now = [0.0]
    throttle = LoginThrottle(limit=5, window_s=900, lockout_s=60, now=lambda: now[0])
    for _ in range(4):
        throttle.failed("alice")
    assert throttle.wait_s("alice") == 0.0
    throttle.failed("alice")
    assert throttle.wait_s("alice") == 60.0
    assert throttle.wait_s("bob") == 0.0
    now[0] = 61.0
    assert throttle.wait_s("alice") == 0.0
    throttle.succeeded("alice")
    throttle.failed("alice")
    assert throttle.wait_s("alice") == 0.0


async def test_shared_reads_load_once_per_interval() -> None:
    """Concurrent and repeated reads within the interval share one load; later ones reload."""
    now = [0.0]
    reads = SharedReads(5.0, now=lambda: now[0])
    calls: list[int] = []

    async def load() -> int:
        calls.append(1)
        await asyncio.sleep(0.01)
        return len(calls)

    assert list(await asyncio.gather(reads.get("k", load), reads.get("k", load))) == [1, 1]
    assert await reads.get("k", load) == 1
    now[0] = 6.0
    assert await reads.get("k", load) == 2
    assert reads.loads == 2


async def test_shared_reads_do_not_cache_failures() -> None:
    """A failed load is retried by the next reader."""
    reads = SharedReads(60.0)
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("down")
        return "ok"

    with pytest.raises(OSError, match="down"):
        await reads.get("k", flaky)
    assert await reads.get("k", flaky) == "ok"


def test_model_info_reads_the_shipped_artifact() -> None:
    """The shipped artifact has a version, metrics for three scores and plots."""
    info = load_model_info(REPO_DIR / "artifacts" / "default")
    assert info.version.startswith("xgb-if-")
    assert [m.score for m in info.metrics] == ["xgboost", "isolation_forest", "ensemble"]
    assert any(p.name == "roc_curve.png" for p in info.plots)


def test_model_info_falls_back_to_the_manifest_metrics(tmp_path: Path) -> None:
    """Without metrics.json the manifest's test metrics and thresholds are shown."""
    manifest = {
        "version": "v1",
        "thresholds": {"ensemble": {"review": 0.1, "block": 0.5}},
        "metrics": {"test": {"ensemble": {"roc_auc": 0.9, "review_recall": 0.8}}},
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    info = load_model_info(tmp_path)
    (row,) = info.metrics
    assert (row.score, row.roc_auc, row.review_recall, row.block_threshold) == (
        "ensemble",
        0.9,
        0.8,
        0.5,
    )
    assert "no evaluation report" in info.evaluated_on


def test_missing_or_broken_manifest_is_a_model_artifact_error(tmp_path: Path) -> None:
    """The error names the directory or the file."""
    with pytest.raises(ModelArtifactError, match=r"no manifest\.json"):
        load_model_info(tmp_path)
    (tmp_path / "manifest.json").write_text("{nope")
    with pytest.raises(ModelArtifactError, match="not valid JSON"):
        load_model_info(tmp_path)


def test_time_windows_bucket_on_round_boundaries() -> None:
    """Buckets start on whole multiples; the span picks the bucket width."""
    window = TimeWindow(since=T0, until=T0 + timedelta(minutes=30), bucket=timedelta(minutes=15))
    assert [s.minute for s in window.bucket_starts()] == [0, 15, 30]
    assert choose_bucket(timedelta(hours=1)) == timedelta(minutes=1)
    assert choose_bucket(timedelta(days=2)) == timedelta(hours=1)
    assert choose_bucket(timedelta(days=30)) == timedelta(days=1)


def test_time_window_rejects_naive_or_empty_ranges() -> None:
    """A window must be timezone-aware and end after it starts."""
    with pytest.raises(InvalidInputError, match="invalid time window"):
        TimeWindow(since=T0, until=T0, bucket=timedelta(minutes=1))
    with pytest.raises(InvalidInputError):
        TimeWindow(since=T0.replace(tzinfo=None), until=T0, bucket=timedelta(minutes=1))
