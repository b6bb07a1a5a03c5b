"""The ports one engine owns on a shared host: a block of 64, leased for the engine's life.

Ray Serve (2.60, HAProxy ingress) and Ray pick several ports from fixed defaults that every Ray
cluster on a host shares unless told otherwise:

* the **fallback proxy** (``RAY_SERVE_FALLBACK_PROXY_HTTP_PORT`` 8500 and ``..._GRPC_PORT`` 9500):
  HAProxy's ``backup`` server when no gateway replica is up. It binds with ``SO_REUSEPORT``, so a
  second engine on the host binds the same port without an error and the kernel splits
  connections between them: a killed gateway replica then had its traffic answered by *another*
  engine (another model, another rule set, stored in another database);
* the replicas' direct-ingress ports (``RAY_SERVE_DIRECT_INGRESS_{MIN,MAX}_{HTTP,GRPC}_PORT``,
  30000-31000 and 40000-41000): a port freed by one engine's dead replica can be taken by
  another engine's new replica while the first engine's HAProxy still lists it;
* HAProxy's stats and metrics listeners (8404, 9101), the autoscaler's and the dashboard head's
  metrics (``AUTOSCALER_METRIC_PORT`` 44217, ``DASHBOARD_METRIC_PORT`` 44227).

:func:`lease_ports` gives each engine start a block of its own between 20000 and 32767 (above
Ray's worker ports 10002-19999, below Linux's ephemeral range where Ray's other processes bind):
an exclusive ``flock`` on ``<tmp>/vigil-ports-<uid>/<first port>.lock``, held by the process that
starts Ray, keeps concurrent engines apart, and every port of the block must be free (nothing
bound on any address) when it is leased. The lock goes with the process (even on SIGKILL); a
block still held by the leftovers of a killed engine fails the free check and is skipped.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import DependencyUnavailableError

BLOCK_SIZE = 64
FIRST_PORT, END_PORT = 20000, 32768
_INGRESS_PORTS = 28
"""Direct-ingress ports per protocol: gateway replicas, plus the ones Serve quarantines for
~150 s after a replica stops (``RAY_SERVE_PORT_QUARANTINE_S``)."""


@dataclass(frozen=True, slots=True)
class EnginePorts:
    """The ports of one engine: fixed offsets in the block starting at ``first``."""

    first: int

    @property
    def fallback_http(self) -> int:
        """Serve's fallback proxy (HTTP): HAProxy's backup server."""
        return self.first

    @property
    def fallback_grpc(self) -> int:
        """Serve's fallback proxy (gRPC)."""
        return self.first + 1

    @property
    def haproxy_stats(self) -> int:
        """HAProxy's stats page (``/stats``)."""
        return self.first + 2

    @property
    def haproxy_metrics(self) -> int:
        """HAProxy's Prometheus exporter (``/metrics``)."""
        return self.first + 3

    @property
    def ingress_http(self) -> range:
        """Direct-ingress HTTP ports of the gateway replicas."""
        start = self.first + BLOCK_SIZE - 2 * _INGRESS_PORTS
        return range(start, start + _INGRESS_PORTS)

    @property
    def ingress_grpc(self) -> range:
        """Direct-ingress gRPC ports of the gateway replicas."""
        start = self.first + BLOCK_SIZE - _INGRESS_PORTS
        return range(start, start + _INGRESS_PORTS)

    @property
    def ports(self) -> range:
        """Every port of the block."""
        return range(self.first, self.first + BLOCK_SIZE)

    def environment(self) -> dict[str, str]:
        """The Ray and Serve variables that put the engine on these ports (read when Ray starts)."""
        return {
            "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(self.fallback_http),
            "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(self.fallback_grpc),
            "RAY_SERVE_HAPROXY_STATS_PORT": str(self.haproxy_stats),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(self.haproxy_metrics),
            "AUTOSCALER_METRIC_PORT": str(self.first + 4),
            "DASHBOARD_METRIC_PORT": str(self.first + 5),
            # Serve hands out range(MIN, MAX) and only warns beyond MAX (inclusive there).
            "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(self.ingress_http.start),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(self.ingress_http.stop),
            "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(self.ingress_grpc.start),
            "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(self.ingress_grpc.stop),
        }


class PortLease:
    """A leased block: its ports stay this engine's until :meth:`release` or the process exits."""

    def __init__(self, ports: EnginePorts, lock_fd: int, lock_path: Path) -> None:
        self.ports = ports
        self.lock_path = lock_path
        self._fd: int | None = lock_fd

    @property
    def held(self) -> bool:
        """Whether the lock is still held by this process."""
        return self._fd is not None

    def release(self) -> None:
        """Give the block back (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_directory() -> Path:
    """Where the block locks live: one directory per user under the system's temp dir."""
    return Path(tempfile.gettempdir()) / f"vigil-ports-{os.getuid()}"


def lease_ports(directory: Path | None = None, *, seed: int | None = None) -> PortLease:
    """Lease a block of :data:`BLOCK_SIZE` free ports no other engine holds.

    Blocks are tried in random order (``seed`` for tests), so concurrent engines rarely even
    contend for a lock. :class:`DependencyUnavailableError` when every block is taken.
    """
    directory = directory or lock_directory()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    firsts = list(range(FIRST_PORT, END_PORT - BLOCK_SIZE + 1, BLOCK_SIZE))
    random.Random(seed).shuffle(firsts)  # noqa: S311 - spreading engines, not a secret
    for first in firsts:
        path = directory / f"{first}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        ports = EnginePorts(first)
        if all(port_is_free(port) for port in ports.ports):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return PortLease(ports, fd, path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    raise DependencyUnavailableError(
        f"no free block of {BLOCK_SIZE} ports between {FIRST_PORT} and {END_PORT - 1} "
        f"(locks in {directory}); stop other engines or leftover processes"
    )


def port_is_free(port: int) -> bool:
    """Whether nothing is bound to ``port`` on any IPv4 address (a wildcard bind conflicts).

    Connections in TIME_WAIT do not count: servers bind with ``SO_REUSEADDR``, and so does this.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed at once
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True
