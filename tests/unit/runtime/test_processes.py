"""Processes of a data dir: recorded by pid and start time, recognised by their directories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def _named(tmp_path: Path, name: str, *args: str) -> list[str]:
    """A shell whose process name is ``name``, sleeping, with ``args`` in its command line."""
    binary = tmp_path / name
    shutil.copy("/bin/sh", binary)
    return [str(binary), "-c", "sleep 60; :", *args]


def test_a_record_matches_only_the_same_process(tmp_path: Path) -> None:
    """A pid file names pid and start time: the live process matches, a dead one does not."""
    process = subprocess.Popen(["sleep", "60"])  # noqa: S607 - coreutils
    entry = processes.record(tmp_path, "ui", process.pid)
    assert entry is not None
    assert processes.recorded(tmp_path, "ui") == entry
    assert entry.alive()
    process.kill()
    process.wait()
    assert not entry.alive()
    processes.forget(tmp_path, "ui")
    assert processes.recorded(tmp_path, "ui") is None


def test_haproxy_naming_the_data_dir_is_a_leftover_and_a_tail_is_not(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    """Only Ray's and HAProxy's processes count; a viewer of the same log files never does."""
    mark = tmp_path / "data" / "ray"
    log = mark / "session" / "raylet.out"
    log.parent.mkdir(parents=True)
    log.write_text("", encoding="utf-8")
    haproxy = subprocess.Popen(_named(tmp_path, "haproxy", "-f", str(mark / "haproxy.cfg")))  # noqa: S603
    viewer = subprocess.Popen(_named(tmp_path, "less", str(log)))  # noqa: S603
    elsewhere = subprocess.Popen(_named(tmp_path, "raylet", str(tmp_path / "other" / "x")))  # noqa: S603
    spawned.extend([haproxy, viewer, elsewhere])
    found = processes.leftovers(tmp_path / "data", [mark])
    assert [leftover.pid for leftover in found] == [haproxy.pid]
    assert found[0].name == "haproxy"
    assert processes.terminate([haproxy.pid], grace_s=5) == []  # it exits on SIGTERM
    assert haproxy.wait(timeout=5) is not None
    assert viewer.poll() is None


def test_a_recorded_process_is_a_leftover_until_it_exits(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    """The web app is found through its pid file, whatever its command line says."""
    ui = subprocess.Popen(["sleep", "60"])  # noqa: S607 - coreutils
    spawned.append(ui)
    processes.record(tmp_path, "ui", ui.pid)
    assert [leftover.pid for leftover in processes.leftovers(tmp_path, [], names=["ui"])] == [
        ui.pid
    ]
    processes.terminate([ui.pid], grace_s=5)
    ui.wait(timeout=5)
    assert processes.leftovers(tmp_path, [], names=["ui"]) == []


def test_this_process_and_its_ancestors_are_never_leftovers(tmp_path: Path) -> None:
    """Even when recorded, the caller itself is spared."""
    processes.record(tmp_path, "up", os.getpid())
    assert processes.leftovers(tmp_path, [tmp_path], names=["up"]) == []
