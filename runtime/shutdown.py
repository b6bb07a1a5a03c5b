"""Stopping an engine, and cleaning up after one that was killed: ``vigil down`` and ``vigil up``.

``vigil up`` records itself (``<data_dir>/run/up.pid``) and its web app (``run/ui.pid``), see
:mod:`runtime.processes`. Before it starts anything it refuses to run next to a live ``vigil up``
of the same data dir, stops what a killed run of that data dir left (HAProxy, Ray's agents, the
web app: one printed line per process), and checks that the ports it needs are free, naming the
setting to change when one is not. ``vigil down`` stops a running ``vigil up`` of the data dir
with SIGTERM (it then stops everything in order, as Ctrl-C does), cleans up whatever is left, and
stops the data dir's embedded PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from config.settings import Settings
from core.errors import ConflictError, DependencyUnavailableError
from runtime import processes
from runtime.engine_ports import port_is_free
from runtime.ray_cluster import RuntimeInfo, haproxy_directory

Echo = Callable[[str], None]
UP, UI = "up", "ui"
"""Names of the pid files ``vigil up`` writes under ``<data_dir>/run``."""
DOWN_TIMEOUT_S = 90.0
"""How long ``vigil down`` lets a ``vigil up`` stop (Serve drains for up to ~35 s)."""


def engine_marks(data_dir: Path) -> list[Path]:
    """The directories whose presence marks a process as ``data_dir`` 's (Ray's, HAProxy's)."""
    return [data_dir / "ray", haproxy_directory(data_dir)]


def ensure_not_running(data_dir: Path) -> None:
    """:class:`ConflictError` when a ``vigil up`` of ``data_dir`` is running."""
    entry = processes.recorded(data_dir, UP)
    if entry is not None and entry.alive() and entry.pid != os.getpid():
        raise ConflictError(
            f"`vigil up` is already running for {data_dir} (pid {entry.pid}); "
            "stop it with `vigil down` (or use another VIGIL_DATA_DIR)"
        )


def clean_up_leftovers(data_dir: Path, echo: Echo, *, grace_s: float = 5.0) -> int:
    """Stop every process a previous run of ``data_dir`` left running; return how many."""
    found = processes.leftovers(data_dir, engine_marks(data_dir), names=(UI,))
    for leftover in found:
        echo(
            f"stopping leftover process {leftover.pid} ({leftover.name}) of {data_dir}: "
            f"{leftover.reason}"
        )
    killed = processes.terminate([leftover.pid for leftover in found], grace_s=grace_s)
    if killed:
        echo(f"killed {len(killed)} that ignored SIGTERM for {grace_s:g} s: {killed}")
    processes.forget(data_dir, UI)
    if not processes.leftovers(data_dir, engine_marks(data_dir)):
        shutil.rmtree(haproxy_directory(data_dir), ignore_errors=True)
    return len(found)


def prepare_start(settings: Settings, *, with_ui: bool, echo: Echo) -> None:
    """Before ``vigil up`` starts anything: no other run of the data dir, leftovers stopped,
    its ports free; then record it (``run/up.pid``)."""
    ensure_not_running(settings.data_dir)
    clean_up_leftovers(settings.data_dir, echo)
    check_ports(settings, with_ui=with_ui)
    processes.record(settings.data_dir, UP, os.getpid())


def forget_processes(data_dir: Path) -> None:
    """Remove ``vigil up`` 's pid files (on a clean exit)."""
    processes.forget(data_dir, UI)
    processes.forget(data_dir, UP)


def check_ports(settings: Settings, *, with_ui: bool) -> None:
    """:class:`DependencyUnavailableError` naming the first port ``vigil up`` needs in use."""
    wanted = [
        ("VIGIL_HTTP_PORT", settings.http_port),
        ("VIGIL_METRICS_PORT", settings.metrics_port),
    ]
    if with_ui:
        wanted.append(("VIGIL_UI_PORT", settings.ui_port))
    for variable, port in wanted:
        if not port_is_free(port):
            raise DependencyUnavailableError(
                f"port {port} ({variable}) is already in use by another program; "
                f"stop it or set {variable} to a free port"
            )


def run_down(settings: Settings, echo: Echo) -> None:
    """Stop the ``vigil up`` of the data dir (if any), its leftovers, and its embedded servers."""
    data_dir = settings.data_dir
    entry = processes.recorded(data_dir, UP)
    stopped_up = False
    if entry is not None and entry.alive():
        echo(f"stopping `vigil up` (pid {entry.pid}) ...")
        os.kill(entry.pid, signal.SIGTERM)
        if not processes.wait_gone(entry, timeout_s=DOWN_TIMEOUT_S):
            echo(
                f"`vigil up` (pid {entry.pid}) did not stop within {DOWN_TIMEOUT_S:g} s; killing it"
            )
            processes.terminate([entry.pid], grace_s=0)
        stopped_up = True
    cleaned = clean_up_leftovers(data_dir, echo)
    processes.forget(data_dir, UP)
    RuntimeInfo.remove(data_dir)
    stopped_embedded = False
    if not (settings.database_url and settings.redis_url):
        from storage.embedded import embedded_postgres, embedded_redis  # noqa: PLC0415 - heavy

        redis_stopped = embedded_redis(data_dir).stop()
        postgres_stopped = embedded_postgres(data_dir).stop()
        stopped_embedded = redis_stopped or postgres_stopped
        if stopped_embedded:
            echo(f"stopped the embedded PostgreSQL and Redis under {data_dir}/")
    if not (stopped_up or cleaned or stopped_embedded):
        echo(f"nothing of {data_dir} was running")
    else:
        echo("stopped")
