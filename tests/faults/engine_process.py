"""A whole ``vigil up`` as a subprocess, for the fault scenarios that need a second engine or a
crash of ``vigil up`` itself: its own data dir, PostgreSQL database, Redis database and ports.

The child's environment is this process's without any ``VIGIL_*`` and ``RAY_*`` (nor Ray's
``*_METRIC_PORT``) variables, as from a clean shell: ``vigil up`` configures Ray itself, and any
such variable it inherited would count as the user's choice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from runtime.ray_cluster import free_port

VIGIL = Path(sys.executable).with_name("vigil")
STARTED = "press Ctrl-C to stop"
"""What ``vigil up`` prints once everything runs."""
_INHERITED_PREFIXES = ("VIGIL_", "RAY_", "AUTOSCALER_METRIC_PORT", "DASHBOARD_METRIC_PORT")


def child_environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without engine variables, plus ``settings`` (``VIGIL_*``)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    return {**base, **settings}


@dataclass
class EngineProcess:
    """One ``vigil up`` of ``data_dir`` (services mode: the URLs in ``env``)."""

    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log_paths: list[Path] = field(default_factory=list)

    @classmethod
    def services(
        cls, data_dir: Path, *, database_url: str, redis_url: str, **settings: str
    ) -> EngineProcess:
        """An engine on the given servers with free gateway, metrics and web app ports."""
        env = child_environment(
            {
                "VIGIL_DATABASE_URL": database_url,
                "VIGIL_REDIS_URL": redis_url,
                "VIGIL_DATA_DIR": str(data_dir),
                "VIGIL_HTTP_PORT": str(free_port()),
                "VIGIL_METRICS_PORT": str(free_port()),
                "VIGIL_UI_PORT": str(free_port()),
                "VIGIL_AUTH_ENABLED": "false",
                "VIGIL_LOG_FORMAT": "json",
                **{f"VIGIL_{name.upper()}": value for name, value in settings.items()},
            }
        )
        return cls(data_dir=data_dir, env=env)

    @property
    def gateway_url(self) -> str:
        """Where its gateway listens."""
        return f"http://127.0.0.1:{self.env['VIGIL_HTTP_PORT']}"

    def up(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``vigil up`` (its output goes to ``<data_dir>/up-<n>.log``)."""
        self.starts += 1
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / f"up-{self.starts}.log"
        self.log_paths.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI
                [str(VIGIL), "up", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process

    def wait_ready(self, *, timeout_s: float) -> float:
        """Wait until ``vigil up`` has started everything (it printed :data:`STARTED`) and the
        gateway answers ``/ready`` with 200; return the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"vigil up exited with {self.process.returncode}:\n{self.tail()}"
                )
            if STARTED in self.output() and self._ready():
                return time.monotonic() - started
            time.sleep(0.5)
        raise AssertionError(f"vigil up not ready within {timeout_s:g} s:\n{self.tail()}")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.gateway_url}/ready", timeout=2).status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL the ``vigil up`` process itself (not its children): a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def down(self, *, timeout_s: float = 150) -> subprocess.CompletedProcess[str]:
        """Run ``vigil down`` for this data dir."""
        return subprocess.run(  # noqa: S603 - our own CLI
            [str(VIGIL), "down"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def output(self) -> str:
        """Everything the latest ``vigil up`` printed so far."""
        if not self.log_paths:
            return ""
        return self.log_paths[-1].read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 40) -> str:
        """The end of the latest ``vigil up`` output (for failure messages)."""
        return "\n".join(self.output().splitlines()[-lines:])
