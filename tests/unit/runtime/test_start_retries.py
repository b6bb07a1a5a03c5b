"""`vigil up` retries a failed Ray/Serve start with backoff, one printed line per failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.settings import CONFIG_DIR, load_settings
from core.errors import DependencyUnavailableError
from runtime import launcher, ray_cluster, shutdown
from runtime.launcher import UpOptions, start_engine
from runtime.ray_cluster import AppState
from runtime.serve_config import load_serve_config

RUNNING = AppState(status="RUNNING", message="", deployments=[])


class FakeCluster:
    """Ray and Serve as `start_engine` sees them: the first ``failures`` starts fail."""

    def __init__(self, failures: int, status_after_failure: str = "NOT_STARTED") -> None:
        self.failures = failures
        self.status_after_failure = status_after_failure
        self.starts = 0
        self.stops = 0
        self.cleanups = 0

    def start_local_ray(self, data_dir: Path, **_: Any) -> str:
        self.starts += 1
        if self.starts <= self.failures:
            raise RuntimeError("Failed to bind to address 127.0.0.1:8000.\n(port in use)")
        return "127.0.0.1:6380"

    def app_state(self) -> AppState:
        return AppState(status=self.status_after_failure, message="", deployments=[])


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    """`runtime.ray_cluster` and the cleanup replaced by a :class:`FakeCluster`; no backoff."""
    fake = FakeCluster(failures=0)
    monkeypatch.setattr(ray_cluster, "start_local_ray", fake.start_local_ray)
    monkeypatch.setattr(ray_cluster, "deploy", lambda config, timeout_s: RUNNING)
    monkeypatch.setattr(ray_cluster, "app_state", fake.app_state)

    def stop_ray(*, graceful: bool = True) -> None:
        fake.stops += 1

    def clean_up(data_dir: Path, echo: Any, *, grace_s: float = 5.0) -> int:
        fake.cleanups += 1
        return 0

    monkeypatch.setattr(ray_cluster, "stop_ray", stop_ray)
    monkeypatch.setattr(shutdown, "clean_up_leftovers", clean_up)
    monkeypatch.setattr(launcher, "wait_for_gateway", lambda url, timeout_s: None)
    monkeypatch.setattr(launcher, "START_BACKOFF_S", (0.0, 0.0))
    return fake


def _start(lines: list[str]) -> tuple[str, AppState]:
    settings = load_settings(environ={}, redis_url="redis://127.0.0.1:1/0")
    config = load_serve_config(CONFIG_DIR / "serve.yaml")
    return start_engine(settings, config, UpOptions(), lines.append)


def test_a_failed_start_is_retried_after_cleaning_up(cluster: FakeCluster) -> None:
    """Two failures, then a start: one line each (the reason on one line), stop and clean up."""
    cluster.failures = 2
    lines: list[str] = []
    address, state = _start(lines)
    assert (address, state) == ("127.0.0.1:6380", RUNNING)
    failures = [line for line in lines if line.startswith("Ray/Serve start failed")]
    assert failures == [
        "Ray/Serve start failed (attempt 1 of 3): Failed to bind to address 127.0.0.1:8000. "
        "(port in use); retrying in 0 s",
        "Ray/Serve start failed (attempt 2 of 3): Failed to bind to address 127.0.0.1:8000. "
        "(port in use); retrying in 0 s",
    ]
    assert (cluster.starts, cluster.stops, cluster.cleanups) == (3, 2, 2)


def test_three_failures_give_up_with_the_last_reason(cluster: FakeCluster) -> None:
    """After the third failure the error says how many attempts and why."""
    cluster.failures = 3
    with pytest.raises(DependencyUnavailableError, match="did not start after 3 attempts: Failed"):
        _start([])
    assert cluster.starts == 3


def test_an_application_that_failed_is_not_retried(
    cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deploy Serve marks DEPLOY_FAILED (a bad model, say) would fail again: no retry."""

    def failed_deploy(config: object, timeout_s: float) -> AppState:
        raise DependencyUnavailableError("the Serve application failed: bad model")

    monkeypatch.setattr(ray_cluster, "deploy", failed_deploy)
    cluster.status_after_failure = "DEPLOY_FAILED"
    with pytest.raises(DependencyUnavailableError, match="bad model"):
        _start([])
    assert cluster.starts == 1
