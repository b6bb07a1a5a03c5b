"""Before `vigil up` starts: no second run of a data dir, and taken ports named by setting."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import load_settings
from core.errors import ConflictError, DependencyUnavailableError
from runtime import processes
from runtime.ray_cluster import free_port
from runtime.shutdown import UP, check_ports, ensure_not_running, run_down

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_a_running_up_of_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    """A live process recorded in up.pid blocks a second `vigil up`, naming `vigil down`."""
    other = subprocess.Popen(["sleep", "60"])  # noqa: S607 - coreutils
    try:
        processes.record(tmp_path, UP, other.pid)
        with pytest.raises(ConflictError, match=f"pid {other.pid}.*vigil down"):
            ensure_not_running(tmp_path)
    finally:
        other.kill()
        other.wait()
    ensure_not_running(tmp_path)  # a dead one is only a stale file


def test_a_taken_port_is_named_with_its_setting(tmp_path: Path) -> None:
    """The error names the port and the VIGIL_* variable that moves it."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = load_settings(
            environ={}, data_dir=tmp_path, http_port=free_port(), metrics_port=port
        )
        with pytest.raises(DependencyUnavailableError, match=f"port {port} \\(VIGIL_METRICS_PORT"):
            check_ports(settings, with_ui=False)
    check_ports(settings, with_ui=False)


def test_down_with_nothing_running_says_so(tmp_path: Path) -> None:
    """`vigil down` on a data dir where nothing runs prints one line and succeeds."""
    settings = load_settings(
        environ={},
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://u@127.0.0.1:1/x",
        redis_url="redis://127.0.0.1:1/0",
    )
    lines: list[str] = []
    run_down(settings, lines.append)
    assert lines == [f"nothing of {tmp_path} was running"]
