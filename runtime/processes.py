"""The processes of one data dir: pid files, leftovers of a killed ``vigil up``, stopping them.

A ``vigil up`` killed with SIGKILL cannot stop what it started. Ray's GCS and raylet notice and
exit, but Serve's HAProxy (holding the gateway port), Ray's dashboard agent (holding the metrics
port) and runtime-env agent, and the web app (holding its port) kept running, and the next
``vigil up`` failed to bind. So:

* ``vigil up`` records itself and the web app in ``<data_dir>/run/<name>.pid`` (pid, process
  group, and the process's start time from ``/proc/<pid>/stat``, so that a recycled pid never
  matches);
* a process **belongs to a data dir** when it is recorded there (same start time), or when its
  command line or one of its open files lies under the engine's Ray directory
  (``<data_dir>/ray``: every Ray process logs there) or its HAProxy directory
  (:func:`runtime.ray_cluster.haproxy_directory`); only this user's processes are considered,
  never this process or its ancestors;
* :func:`leftovers` finds them and :func:`terminate` stops them (SIGTERM, then SIGKILL).

Linux only (``/proc``); elsewhere nothing is found and nothing is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

RUN_DIR = Path("run")
_PROC = Path("/proc")
_STOPPED_STATES = frozenset({"Z", "X"})
_KILL_WAIT_S = 5.0
_NAMED_BINARIES = frozenset({"raylet", "gcs_server", "haproxy"})
_RAY_SCRIPTS = f"{os.sep}site-packages{os.sep}ray{os.sep}"
"""In the command line of Ray's Python processes (monitor, dashboard, log monitor)."""


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A process as a pid file records it."""

    pid: int
    pgid: int
    started: int
    """Start time in clock ticks after boot (``/proc/<pid>/stat`` field 22)."""

    def alive(self) -> bool:
        """Whether this very process (same pid *and* start time) is still running."""
        return start_time(self.pid) == self.started


@dataclass(frozen=True, slots=True)
class Leftover:
    """A running process that belongs to a data dir, and why we think so."""

    pid: int
    name: str
    reason: str


def start_time(pid: int) -> int | None:
    """``pid`` 's start time in clock ticks, or ``None`` if no such (live) process."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="utf-8")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in _STOPPED_STATES:
        return None
    return int(fields[19])


def pid_file(data_dir: Path, name: str) -> Path:
    """Where ``name`` 's pid is recorded."""
    return data_dir / RUN_DIR / f"{name}.pid"


def record(data_dir: Path, name: str, pid: int) -> ProcessRecord | None:
    """Record running process ``pid`` as ``name`` of ``data_dir``; ``None`` if it is gone."""
    started = start_time(pid)
    if started is None:
        return None
    entry = ProcessRecord(pid=pid, pgid=os.getpgid(pid), started=started)
    path = pid_file(data_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(entry)) + "\n", encoding="utf-8")
    return entry


def recorded(data_dir: Path, name: str) -> ProcessRecord | None:
    """The process recorded as ``name``, if its pid file exists and can be read."""
    try:
        data = json.loads(pid_file(data_dir, name).read_text(encoding="utf-8"))
        return ProcessRecord(
            pid=int(data["pid"]), pgid=int(data["pgid"]), started=int(data["started"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget(data_dir: Path, name: str) -> None:
    """Remove ``name`` 's pid file."""
    pid_file(data_dir, name).unlink(missing_ok=True)


def leftovers(
    data_dir: Path, marks: Iterable[Path], *, names: Iterable[str] = ()
) -> list[Leftover]:
    """This user's running processes that belong to ``data_dir``.

    ``marks``: directories whose presence in a command line or among the open files marks a
    process as the data dir's (its Ray and HAProxy directories); ``names``: recorded processes.
    """
    spared = _ancestry(os.getpid())
    found: dict[int, Leftover] = {}
    for name in names:
        entry = recorded(data_dir, name)
        if entry is not None and entry.alive() and entry.pid not in spared:
            found[entry.pid] = Leftover(entry.pid, _name(entry.pid), f"recorded in {name}.pid")
    prefixes = [str(mark.resolve()) for mark in marks]
    uid = os.getuid()
    for pid in _pids():
        if pid in spared or pid in found or start_time(pid) is None:
            continue
        with contextlib.suppress(OSError):
            if (_PROC / str(pid)).stat().st_uid != uid:
                continue
            reason = _mark_of(pid, prefixes)
            if reason is not None:
                found[pid] = Leftover(pid, _name(pid), reason)
    return sorted(found.values(), key=lambda leftover: leftover.pid)


def terminate(pids: Iterable[int], *, grace_s: float = 10.0) -> list[int]:
    """SIGTERM each of ``pids``, SIGKILL what still runs after ``grace_s``; return the killed."""
    started = {pid: start_time(pid) for pid in pids}
    targets = {pid: ticks for pid, ticks in started.items() if ticks is not None}
    for pid in targets:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(start_time(p) == t for p, t in targets.items()):
        time.sleep(0.1)
    killed = [pid for pid, ticks in targets.items() if start_time(pid) == ticks]
    for pid in killed:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + _KILL_WAIT_S  # until the kernel has closed their sockets
    while time.monotonic() < deadline and any(start_time(p) == targets[p] for p in killed):
        time.sleep(0.05)
    return killed


def wait_gone(entry: ProcessRecord, *, timeout_s: float) -> bool:
    """Wait until the recorded process has exited; ``False`` if it still runs after the timeout."""
    deadline = time.monotonic() + timeout_s
    while entry.alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _mark_of(pid: int, prefixes: list[str]) -> str | None:
    """Why ``pid`` is one of the engine's Ray or HAProxy processes, or ``None``.

    Only Ray's and HAProxy's processes qualify (a shell or ``tail -f`` in the log directory
    never does): Ray's workers and agents (``ray::...``, command line rewritten, so their open
    log files are checked), Ray's binaries and scripts and HAProxy (their command lines name
    the directories).
    """
    name = _name(pid)
    cmdline = (
        (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    )
    if name in _NAMED_BINARIES or _RAY_SCRIPTS in cmdline:
        for prefix in prefixes:
            if prefix + os.sep in cmdline:
                return f"its command line names {prefix}"
    if name.startswith("ray::"):
        for target in _open_files(pid):
            for prefix in prefixes:
                if target.startswith(prefix + os.sep):
                    return f"it has {target} open"
    return None


def _open_files(pid: int) -> Iterator[str]:
    with contextlib.suppress(OSError):
        yield str((_PROC / str(pid) / "cwd").readlink())
    try:
        fds = list((_PROC / str(pid) / "fd").iterdir())
    except OSError:
        return
    for fd in fds:
        with contextlib.suppress(OSError):
            yield str(fd.readlink())


def _pids() -> list[int]:
    try:
        return [int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit()]
    except OSError:
        return []


def _ancestry(pid: int) -> set[int]:
    chain = {pid}
    while pid > 1:
        try:
            stat = (_PROC / str(pid) / "stat").read_text(encoding="utf-8")
        except OSError:
            break
        pid = int(stat[stat.rfind(")") + 2 :].split()[1])
        chain.add(pid)
    return chain


def _name(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "comm").read_text(encoding="utf-8").strip()
    except OSError:
        return "?"


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)
