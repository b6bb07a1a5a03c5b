"""One Ray and one Serve application for every test of the session that needs the engine
(``tests/integration/engine`` and the browser tests in ``tests/e2e``); a pytest plugin loaded by
``tests/conftest.py``.

Ray starts once (it takes about a minute on two cores) with its temp dir in a short temporary
directory (Unix socket paths are limited to ~107 bytes), and is shut down at the end of the
session. The application is the real graph: ``features.online``'s Redis store, a copy of the rule
files in ``config/rules`` (tests may edit the copy to exercise hot reload), a small model trained
here, and ``serving.gateway``'s app.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic.warnings import PydanticDeprecatedSince20

from config.settings import CONFIG_DIR, Settings, load_settings
from runtime import ray_cluster
from storage.stream import stream_client
from storage.writer import StreamWriter, WriterConfig

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

# Before any test module imports Ray; the engine listens on 127.0.0.1 only, like `vigil up`.
ray_cluster.apply_ray_environment(loopback=True)

with warnings.catch_warnings():
    # Ray 2.60's own schema passes pydantic-v1 style Field kwargs; not ours to fix.
    warnings.simplefilter("ignore", PydanticDeprecatedSince20)
    import ray.serve.schema  # noqa: F401


@pytest.fixture(scope="session")
def trained_model_dir() -> Iterator[Path]:
    """A small model artifact trained on a generated dataset (a few seconds)."""
    from features.spec import default_feature_set  # noqa: PLC0415
    from training.generate import generate_dataset  # noqa: PLC0415
    from training.train import ModelParams, train  # noqa: PLC0415

    directory = Path(tempfile.mkdtemp(prefix="vigil-model-"))
    dataset = generate_dataset(accounts=150, days=20, seed=3)
    params = ModelParams(n_estimators=40, max_depth=4, forest_trees=40, n_threads=2)
    train(dataset, default_feature_set(), directory / "model", seed=3, gap_days=2, params=params)
    yield directory / "model"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def engine_settings(
    database_url: str, redis_url: str, trained_model_dir: Path
) -> Iterator[Settings]:
    """Settings of the engine under test: the session's databases, a free port, a temp data dir,
    a copy of the starter rules in it, and no API keys (tests empty every table, keys too; the
    gateway's key checks are tested over real PostgreSQL in tests/integration/serving)."""
    data_dir = Path(tempfile.mkdtemp(prefix="vigil-eng-"))
    rules_dir = data_dir / "rules"
    shutil.copytree(CONFIG_DIR / "rules", rules_dir)
    yield load_settings(
        environ={},
        database_url=database_url,
        redis_url=redis_url,
        model_dir=trained_model_dir,
        data_dir=data_dir,
        rules_dir=rules_dir,
        http_port=ray_cluster.free_port(),
        metrics_port=ray_cluster.free_port(),
        auth_enabled=False,
    )
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def gateway_url(engine_settings: Settings) -> Iterator[str]:
    """The URL of the running Serve application (Ray started once, stopped at session end)."""
    from runtime.serve_config import deploy_config, load_serve_config  # noqa: PLC0415

    config = deploy_config(load_serve_config(engine_settings.serve_config_file), engine_settings)
    ray_cluster.start_local_ray(
        engine_settings.data_dir,
        metrics_port=engine_settings.metrics_port,
        host=engine_settings.http_host,
    )
    try:
        ray_cluster.deploy(config, timeout_s=300)
        yield engine_settings.gateway_url
    finally:
        ray_cluster.stop_ray(graceful=False)


@pytest.fixture(scope="session")
def metrics_url(engine_settings: Settings, gateway_url: str) -> str:
    """Where the running engine's Ray node serves Prometheus metrics (runtime.metrics)."""
    from runtime.metrics import METRICS_PATH  # noqa: PLC0415

    return f"http://127.0.0.1:{engine_settings.metrics_port}{METRICS_PATH}"


@contextlib.asynccontextmanager
async def running_writer(redis_url: str, database: AsyncEngine) -> AsyncIterator[StreamWriter]:
    """The stream writer moving the decision stream into ``database``, as ``vigil up`` runs it."""
    redis = stream_client(redis_url)
    writer = StreamWriter(redis, database, WriterConfig(block_ms=100))
    task = asyncio.ensure_future(writer.run())
    try:
        yield writer
    finally:
        writer.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=30)
        await redis.aclose()


@pytest.fixture
async def stream_writer(redis_url: str, db_engine: AsyncEngine) -> AsyncIterator[StreamWriter]:
    """The stream writer persisting the session's decision stream into the session database."""
    async with running_writer(redis_url, db_engine) as writer:
        yield writer
