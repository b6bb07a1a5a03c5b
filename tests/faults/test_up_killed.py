"""``vigil up`` killed with SIGKILL, then started again, then stopped with ``vigil down``.

A killed ``vigil up`` leaves processes running (the web app, Ray's dashboard and runtime-env
agents, sometimes HAProxy) that hold its ports; before pid files and leftover cleanup, the next
``vigil up`` of the same data dir failed to start in 4 of 6 tries. Here it must start, say what
it stopped, and ``vigil down`` must leave nothing of the data dir running and every port free.
Runs without the session engine: two starts of a ``vigil up`` subprocess (about 3 minutes).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import processes
from runtime.engine_ports import port_is_free
from runtime.shutdown import UI, UP, engine_marks
from tests.conftest import DatabaseFactory
from tests.faults.conftest import leased_redis_database, report
from tests.faults.engine_process import EngineProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READY_WITHIN_S = 240.0


@pytest.fixture
async def engine(
    empty_database: DatabaseFactory, _redis_server_url: str
) -> AsyncIterator[EngineProcess]:
    """A `vigil up` of a fresh data dir on its own database and Redis database (not started)."""
    directory = Path(tempfile.mkdtemp(prefix="vigil-up-killed-"))
    async with leased_redis_database(_redis_server_url) as redis_url:
        process = EngineProcess.services(
            directory / "data", database_url=await empty_database(), redis_url=redis_url
        )
        try:
            yield process
        finally:
            if process.process is not None and process.process.poll() is None:
                process.kill()
            process.down()
    shutil.rmtree(directory, ignore_errors=True)


def _ports(engine: EngineProcess) -> dict[str, int]:
    return {
        name: int(engine.env[f"VIGIL_{name}"]) for name in ("HTTP_PORT", "METRICS_PORT", "UI_PORT")
    }


def test_up_after_a_crash_starts_and_down_leaves_nothing(engine: EngineProcess) -> None:
    """SIGKILL `vigil up`; the next `vigil up` cleans up and starts; `vigil down` stops it all."""
    engine.up()
    first_start = engine.wait_ready(timeout_s=READY_WITHIN_S)
    ui = processes.recorded(engine.data_dir, UI)
    assert ui is not None
    assert ui.alive()
    engine.kill()
    time.sleep(3)  # Ray's GCS and raylet notice their parent is gone
    left = processes.leftovers(engine.data_dir, engine_marks(engine.data_dir), names=[UI])
    assert left, "a killed vigil up left nothing running: nothing to test"
    left = [leftover for leftover in left if processes.start_time(leftover.pid) is not None]

    engine.up()
    second_start = engine.wait_ready(timeout_s=READY_WITHIN_S)
    stopped_by_restart = engine.output().count("stopping leftover process ")
    still_there = [leftover for leftover in left if processes.start_time(leftover.pid) is not None]
    assert not ui.alive()
    assert still_there == []

    down_at = time.monotonic()
    down = engine.down()
    down_s = time.monotonic() - down_at
    assert down.returncode == 0, down.stdout + down.stderr
    assert engine.process is not None
    assert engine.process.wait(timeout=10) == 0
    remaining = processes.leftovers(engine.data_dir, engine_marks(engine.data_dir), names=[UI, UP])
    busy = {name: port for name, port in _ports(engine).items() if not port_is_free(port)}
    report(
        "up_killed_then_restarted",
        first_start_s=f"{first_start:.0f}",
        leftovers_after_kill=len(left),
        stopped_by_restart=stopped_by_restart,
        leftover_names=",".join(sorted({leftover.name for leftover in left})),
        second_start_s=f"{second_start:.0f}",
        down_s=f"{down_s:.0f}",
        remaining_after_down=len(remaining),
        busy_ports_after_down=busy,
    )
    assert stopped_by_restart >= 1
    assert remaining == []
    assert busy == {}
    again = engine.down()
    assert again.returncode == 0
    assert "nothing of" in again.stdout
