"""Deploy Vigil to a two-node Ray cluster on this machine and score one transaction through it.

Runs the same commands as docker compose's ``migrate``, ``ray-head``, ``ray-worker`` services::

    vigil db upgrade
    ray start --head ...                       (node 1: custom resource vigil_head)
    ray start --address HEAD ...               (node 2: custom resource vigil_worker)
    vigil deploy serve-config --resource ...   (config/serve.yaml + placement hints)
    serve deploy CONFIG --address DASHBOARD
    vigil writer --ray-address HEAD            (a Ray driver: its metrics are exported too)
    ray health-check --address HEAD            (the ray-worker service's health check)

then prints which node each replica runs on, scores a transaction, waits until the writer has
stored its decision and until each node's metrics port (what Prometheus scrapes) exports Vigil's
metrics, and stops every process it started (by process group, never ``ray stop``,
which would end every Ray on the machine). Take /tmp/vigil-ray.lock first (``flock``): only one
Ray cluster may run on this machine at a time.

    flock /tmp/vigil-ray.lock uv run python deploy/multinode_check.py \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        --redis-url redis://127.0.0.1:6379/0

Exit status 0 when replicas ran on both nodes and the transaction was scored and stored; the
report (also written as JSON with ``--report FILE``) says what happened.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from runtime.ray_cluster import haproxy_environment

T = TypeVar("T")
BIN = Path(sys.executable).parent
PLACEMENT = {
    "gateway": "vigil_head",
    "rules": "vigil_head",
    "features": "vigil_worker",
    "ensemble": "vigil_worker",
}
"""Where each deployment's replicas must go: a custom resource only one node has."""
_STOP_TIMEOUT_S = 30.0
_PORTS = random.Random()  # noqa: S311 - choosing ports, not secrets
_TAKEN: set[int] = set()
_DASHBOARD_HEADERS: dict[str, str] = {}
"""Sent to the dashboard: the cluster's token (set by :func:`run_check`)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; 0 if it passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--model-dir", help="model artifact (default: artifacts/default)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per wait")
    parser.add_argument("--report", type=Path, help="also write the report here as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report: dict[str, Any] = {"ok": False}
    try:
        run_check(args, report)
    finally:
        report["duration_s"] = round(time.monotonic() - started, 1)
        say(f"report: {json.dumps(report, indent=2)}")
        if args.report:
            args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if report["ok"] else 1


def run_check(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """Start the cluster, deploy, check placement and scoring; fill in ``report``."""
    tmp = Path(tempfile.mkdtemp(prefix="vmn-"))  # short: Unix socket paths are <= 107 bytes
    ports = {
        name: free_port()
        for name in ("gcs", "dashboard", "http", "client", "head_metrics", "worker_metrics")
    }
    env = node_environment(args, tmp)
    _DASHBOARD_HEADERS["authorization"] = f"Bearer {env['RAY_AUTH_TOKEN']}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        say("vigil db upgrade")
        run([str(BIN / "vigil"), "db", "upgrade"], env)
        dashboard = f"http://127.0.0.1:{ports['dashboard']}"
        say("ray start --head (node 1)")
        processes.append(
            start(
                ray_start(tmp, "head", {"vigil_head": 1}, ports["head_metrics"], head_ports=ports),
                env,
                tmp / "head.log",
            )
        )
        wait_for("the dashboard", lambda: get_json(f"{dashboard}/api/version"), args.timeout)
        say("ray start --address (node 2)")
        processes.append(
            start(
                ray_start(
                    tmp,
                    "worker",
                    {"vigil_worker": 1},
                    ports["worker_metrics"],
                    address=f"127.0.0.1:{ports['gcs']}",
                ),
                env,
                tmp / "worker.log",
            )
        )
        nodes = wait_for("two alive nodes", lambda: alive_nodes(dashboard, 2), args.timeout)
        say("ray health-check")
        run([str(BIN / "ray"), "health-check", "--address", f"127.0.0.1:{ports['gcs']}"], env)
        report["nodes"] = nodes
        config = tmp / "serve.yaml"
        resources = [f"{name}={res}:0.01" for name, res in PLACEMENT.items()]
        say("vigil deploy serve-config")
        run(
            [str(BIN / "vigil"), "deploy", "serve-config", "--out", str(config)]
            + ["--http-host", "127.0.0.1", "--http-port", str(ports["http"])]
            + [arg for r in resources for arg in ("--resource", r)],
            env,
        )
        say("serve deploy")
        run([str(BIN / "serve"), "deploy", str(config), "--address", dashboard], env)
        app = wait_for("the application to run", lambda: running_app(dashboard), args.timeout)
        placement = replica_nodes(app, nodes)
        report["replicas"] = placement
        say("vigil writer")
        processes.append(
            start(
                [str(BIN / "vigil"), "writer", "--ray-address", f"127.0.0.1:{ports['gcs']}"],
                env,
                tmp / "writer.log",
            )
        )
        gateway = f"http://127.0.0.1:{ports['http']}"
        report["score"] = score_one(gateway, args.timeout)
        say("scraping Ray's metrics export on both nodes")
        report["metrics"] = {}
        wait_for(
            "Vigil's metrics on both nodes",
            lambda: exported_metrics(
                {"head": ports["head_metrics"], "worker": ports["worker_metrics"]},
                report["metrics"],
            ),
            args.timeout,
        )
        say("stopping the writer and both nodes")
        node_kinds = {kind for by_node in placement.values() for kind in by_node}
        report["ok"] = node_kinds == {"head", "worker"} and report["score"]["stored"]
    finally:
        for process in reversed(processes):
            stop(process)
        if not report["ok"]:
            for log in sorted(tmp.glob("*.log")):
                tail = log.read_text("utf-8", errors="replace")[-3000:]
                say(f"--- last lines of {log.name} ---\n{tail}")
        shutil.rmtree(tmp, ignore_errors=True)


def node_environment(args: argparse.Namespace, tmp: Path) -> dict[str, str]:
    """What every process here runs with: Vigil's settings and Ray's switches, nothing local."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIGIL_", "RAY_")) or k.startswith("VIGIL_TEST_")
    }
    env.update(
        {
            "VIGIL_DATABASE_URL": args.database_url,
            "VIGIL_REDIS_URL": args.redis_url,
            "VIGIL_DATA_DIR": str(tmp / "data"),
            "VIGIL_AUTH_ENABLED": "false",  # the check scores without an API key
            "RAY_AUTH_MODE": "token",  # every node and client shares one token, as in compose
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
            # Serve's HAProxy defaults to fixed ports and /tmp files: keep it to this check
            **haproxy_environment(tmp / "hap"),
        }
    )
    if args.model_dir:
        env["VIGIL_MODEL_DIR"] = str(Path(args.model_dir).resolve())
    return env


def ray_start(
    tmp: Path,
    name: str,
    resources: dict[str, float],
    metrics_port: int,
    *,
    head_ports: dict[str, int] | None = None,
    address: str | None = None,
) -> list[str]:
    """``ray start`` for one node with one CPU, a small object store and its own ports."""
    command = [str(BIN / "ray"), "start", "--block", "--disable-usage-stats"]
    if head_ports is not None:
        command += [
            "--head",
            f"--port={head_ports['gcs']}",
            f"--ray-client-server-port={head_ports['client']}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={head_ports['dashboard']}",
            f"--temp-dir={tmp / 'ray'}",
        ]
    else:
        command.append(f"--address={address}")
    return [
        *command,
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        f"--resources={json.dumps(resources)}",
        f"--object-store-memory={100 * 1024 * 1024}",
        f"--metrics-export-port={metrics_port}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
        f"--labels={json.dumps({'vigil-node': name})}",
    ]


def alive_nodes(dashboard: str, count: int) -> dict[str, str] | None:
    """``{node_id: "head" | "worker"}`` once ``count`` nodes are alive, else ``None``."""
    body = get_json(f"{dashboard}/api/v0/nodes?limit=100")
    if body is None:
        return None
    rows = body.get("data", {}).get("result", {}).get("result", [])
    alive = {
        str(row["node_id"]): "head" if row.get("is_head_node") else "worker"
        for row in rows
        if row.get("state") == "ALIVE"
    }
    return alive if len(alive) >= count else None


def running_app(dashboard: str) -> dict[str, Any] | None:
    """The ``vigil`` application's details once it is RUNNING with every replica running."""
    body = get_json(f"{dashboard}/api/serve/applications/")
    app = ((body or {}).get("applications") or {}).get("vigil")
    if not app:
        return None
    if app.get("status") == "DEPLOY_FAILED":
        raise RuntimeError(f"the application failed to deploy: {app.get('message')}")
    replicas = [r for d in app["deployments"].values() for r in d.get("replicas") or []]
    running = replicas and all(r.get("state") == "RUNNING" for r in replicas)
    result: dict[str, Any] | None = app if app.get("status") == "RUNNING" and running else None
    return result


def replica_nodes(app: dict[str, Any], nodes: dict[str, str]) -> dict[str, dict[str, int]]:
    """Per deployment, how many replicas run on the head node and on the worker node."""
    placement: dict[str, dict[str, int]] = {}
    for name, deployment in app["deployments"].items():
        counts: dict[str, int] = {}
        for replica in deployment.get("replicas") or []:
            kind = nodes.get(str(replica.get("node_id")), "unknown")
            counts[kind] = counts.get(kind, 0) + 1
        placement[name] = counts
        say(f"  {name:<9} replicas by node: {counts}")
    return placement


def score_one(gateway: str, timeout_s: float) -> dict[str, Any]:
    """Score one transaction through the gateway and wait until its decision is stored."""
    txn_id = f"mn-{uuid.uuid4().hex[:12]}"
    payload = {
        "transaction_id": txn_id,
        "account_id": "acc-multinode",
        "amount": "129.90",
        "currency": "EUR",
        "timestamp": datetime.now(UTC).isoformat(),
        "merchant_id": "m-77",
        "merchant_category": "5732",
        "country": "FR",
        "channel": "ecommerce",
        "device_id": "dev-9",
        "ip_address": "203.0.113.7",
    }
    with httpx.Client(timeout=30.0) as client:
        reply = client.post(f"{gateway}/v1/transactions", json=payload)
        say(f"POST /v1/transactions -> {reply.status_code} {reply.text[:300]}")
        reply.raise_for_status()
        decision = reply.json()

        def stored() -> bool | None:
            return client.get(f"{gateway}/v1/transactions/{txn_id}").status_code == 200 or None

        wait_for("the writer to store the decision", stored, timeout_s)
    return {
        "transaction_id": txn_id,
        "outcome": decision.get("outcome"),
        "risk_score": decision.get("risk_score"),
        "latency_ms": decision.get("latency_ms"),
        "stored": True,
    }


EXPECTED_METRICS = {
    "head": ("ray_vigil_decisions_total", "serve:gateway", "serve:rules"),
    "worker": ("serve:features", "serve:ensemble"),
    "any": ("ray_vigil_writer_rows_written_total",),  # the writer: a driver on one of them
}
"""What Prometheus must find at each node's metrics port once one decision has been stored:
Vigil's decision metrics from the gateway, Serve's request counter of each replica on the node
(``serve:<deployment>``), and the writer's rows."""
_SERVE_REQUESTS = re.compile(
    r'^ray_serve_deployment_request_counter_total\{[^}]*deployment="(\w+)"'
)


def exported_metrics(ports: dict[str, int], found: dict[str, list[str]]) -> bool | None:
    """Fill ``found`` with what each node exports now (Vigil's metric names and ``serve:<name>``
    per deployment with requests); ``True`` once every one of :data:`EXPECTED_METRICS` is there
    (``found`` then says what was missing otherwise)."""
    for node, port in ports.items():
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10.0).text
        except httpx.HTTPError as exc:
            found[node] = [f"unreachable: {exc!r}"]
            continue
        names = {line.split("{", 1)[0].split(" ", 1)[0] for line in text.splitlines()}
        served = {
            f"serve:{m[1]}" for line in text.splitlines() if (m := _SERVE_REQUESTS.match(line))
        }
        found[node] = sorted({n for n in names if n.startswith("ray_vigil_")} | served)
    everywhere = {name for names in found.values() for name in names}
    complete = all(
        set(expected) <= (everywhere if node == "any" else set(found.get(node, [])))
        for node, expected in EXPECTED_METRICS.items()
    )
    return True if complete else None


def get_json(url: str) -> dict[str, Any] | None:
    """The JSON body at ``url`` (sent with the cluster's token), or ``None`` if not there yet."""
    try:
        reply = httpx.get(url, timeout=10.0, headers=_DASHBOARD_HEADERS)
    except httpx.HTTPError:
        return None
    if reply.status_code != 200:
        return None
    body = reply.json()
    return body if isinstance(body, dict) else None


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float) -> T:
    """Poll ``probe`` until it returns a value; ``TimeoutError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout_s:g} s")
        time.sleep(1.0)


def run(command: list[str], env: dict[str, str]) -> None:
    """Run ``command`` to completion; ``CalledProcessError`` (with its output) if it fails."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    output = (done.stdout + done.stderr).strip()
    if output:
        say("    " + output[-2000:].replace("\n", "\n    "))
    done.check_returncode()


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own process group, output to ``log``."""
    with log.open("wb") as sink:
        return subprocess.Popen(  # noqa: S603 - our own argv
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``process``'s group (``ray start --block`` then stops its node), then SIGKILL."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_TIMEOUT_S)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever the group left behind
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_STOP_TIMEOUT_S)


def free_port() -> int:
    """A TCP port nothing listens on, outside the ranges the OS and Ray hand out themselves.

    Ports are chosen before the processes that bind them start; one from the kernel's ephemeral
    range could be taken meanwhile by any socket bound to port 0 (Ray's gRPC servers are), and
    Ray's workers take ports from 10002-19999. So pick from 20000-32767, never twice.
    """
    while True:
        port = _PORTS.randrange(20000, 32768)
        if port in _TAKEN:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _TAKEN.add(port)
        return port


def say(text: str) -> None:
    """Print a progress line at once (the check's output is its record)."""
    sys.stdout.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
