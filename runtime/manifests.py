"""Deployment files derived from ``config/serve.yaml``: the cluster Serve config and KubeRay.

``config/serve.yaml`` is the one source of truth for deployments, replicas and autoscaling.
:func:`cluster_serve_config` turns it into the file ``serve deploy`` takes on a Ray cluster
(docker compose's ``ray-head``, ``deploy/multinode_check.py``), and :func:`kubernetes_manifests`
into a KubeRay ``RayService`` whose ``serveConfigV2`` is that same config, plus the web app, the
stream writer, the migration job and an example Secret (``vigil deploy k8s`` writes them to
``deploy/k8s/``; a test regenerates them and compares).

On a cluster the application's ``args`` carry no settings: every replica reads ``VIGIL_*`` from
its node's environment (docker compose sets them; on Kubernetes they come from a Secret), so no
URL or password is ever written into a generated file.
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from core.errors import ConfigError
from runtime.app_args import APP_IMPORT_PATH, DEPLOYMENT_NAMES

RAY_VERSION = "2.60.0"
"""The Ray in the image (``ray[serve]==2.60.0`` in pyproject.toml); KubeRay wants it spelled out."""
SERVE_PORT = 8000
"""The gateway's port inside the cluster (KubeRay's ``<name>-serve-svc`` targets it)."""
UI_PORT = 8080
METRICS_PORT = 9108
"""Ray's metrics agent export port on every node (``ray start --metrics-export-port``)."""
SECRET_KEYS: Mapping[str, str] = {
    "VIGIL_DATABASE_URL": "database-url",
    "VIGIL_REDIS_URL": "redis-url",
}
"""Each secret setting and its key in the Kubernetes Secret."""
CLUSTER_RAY_ENVIRONMENT: Mapping[str, str] = {
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
}
"""``ray_cluster.RAY_ENVIRONMENT`` minus what is local-only (uv, token file, HAProxy ports)."""


@dataclass(frozen=True, slots=True)
class KubernetesOptions:
    """What the generated Kubernetes files are parametrised by (defaults: the committed files)."""

    name: str = "vigil"
    image: str = "vigil:0.1.0"
    secret_name: str = "vigil-secrets"  # noqa: S105 - the Secret's name, not a secret
    worker_cpus: int = 1
    """CPUs of one Ray worker pod (``num-cpus`` and the container's request)."""
    worker_memory: str = "3Gi"
    head_cpus: int = 1
    head_memory: str = "3Gi"
    labels: Mapping[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/part-of": "vigil"}
    )


def cluster_serve_config(
    raw: Mapping[str, Any],
    *,
    http_host: str = "0.0.0.0",  # noqa: S104 - a cluster's gateway serves other hosts
    http_port: int = SERVE_PORT,
    resources: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """``raw`` (a loaded ``config/serve.yaml``) as a Serve config for ``serve deploy`` on a cluster.

    The gateway listens on ``http_host:http_port``; Vigil's ``args`` lose any ``settings`` payload
    (replicas read ``VIGIL_*`` on their node); ``resources`` adds custom Ray resources per
    deployment (``{"features": {"vigil_worker": 0.01}}`` places ``features`` replicas on nodes
    started with that resource).
    """
    config = copy.deepcopy(dict(raw))
    config["http_options"] = {
        **(config.get("http_options") or {}),
        "host": http_host,
        "port": http_port,
    }
    for app in config.get("applications", []):
        if app.get("import_path") != APP_IMPORT_PATH:
            continue
        app["args"] = {k: v for k, v in (app.get("args") or {}).items() if k != "settings"}
        for name, extra in (resources or {}).items():
            if name not in DEPLOYMENT_NAMES:
                raise ConfigError(
                    f"unknown deployment {name!r}; known: {', '.join(DEPLOYMENT_NAMES)}"
                )
            deployments = app.setdefault("deployments", [])
            entry = next((d for d in deployments if d.get("name") == name), None)
            if entry is None:
                entry = {"name": name}
                deployments.append(entry)
            actor = entry.setdefault("ray_actor_options", {})
            actor["resources"] = {**(actor.get("resources") or {}), **extra}
    return config


def autoscaling_bounds(raw: Mapping[str, Any], worker_cpus: int) -> tuple[int, int]:
    """Min and max Ray worker pods: the CPU the deployments reserve at their fewest and most
    replicas (``num_replicas``, or ``autoscaling_config`` bounds, times ``num_cpus``)."""
    low = high = 0.0
    for app in raw.get("applications", []):
        for deployment in app.get("deployments") or []:
            cpus = float((deployment.get("ray_actor_options") or {}).get("num_cpus", 1.0))
            scaling = deployment.get("autoscaling_config")
            if isinstance(scaling, Mapping):
                fewest = int(scaling.get("min_replicas", 1))
                most = int(scaling.get("max_replicas", fewest))
            else:
                fewest = most = int(deployment.get("num_replicas", 1))
            low += fewest * cpus
            high += most * cpus
    minimum = max(1, math.ceil(low / worker_cpus))
    return minimum, max(minimum, math.ceil(high / worker_cpus))


def kubernetes_manifests(
    raw: Mapping[str, Any], options: KubernetesOptions | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The Kubernetes files by name: ``vigil.yaml`` (RayService, migration Job, writer, web app)
    and ``secret.example.yaml`` (the Secret's keys with placeholder values)."""
    options = options or KubernetesOptions()
    serve_text = dump_yaml([cluster_serve_config(raw)])
    minimum, maximum = autoscaling_bounds(raw, options.worker_cpus)
    ray_service = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": options.name, "labels": dict(options.labels)},
        "spec": {
            "serveConfigV2": LiteralScalarString(serve_text),
            "rayClusterConfig": {
                "rayVersion": RAY_VERSION,
                "enableInTreeAutoscaling": True,
                "autoscalerOptions": {"upscalingMode": "Default", "idleTimeoutSeconds": 60},
                "headGroupSpec": {
                    "rayStartParams": {
                        "dashboard-host": "0.0.0.0",  # noqa: S104 - KubeRay probes it
                        "num-cpus": "0",  # replicas run on workers; the head runs Serve's proxy
                        "metrics-export-port": str(METRICS_PORT),
                    },
                    "template": _pod(
                        options,
                        "ray-head",
                        cpus=options.head_cpus,
                        memory=options.head_memory,
                        ports={
                            "gcs": 6379,
                            "dashboard": 8265,
                            "client": 10001,
                            "serve": SERVE_PORT,
                            "metrics": METRICS_PORT,
                        },
                    ),
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "serve",
                        "replicas": minimum,
                        "minReplicas": minimum,
                        "maxReplicas": maximum,
                        "rayStartParams": {
                            "num-cpus": str(options.worker_cpus),
                            "metrics-export-port": str(METRICS_PORT),
                        },
                        "template": _pod(
                            options,
                            "ray-worker",
                            cpus=options.worker_cpus,
                            memory=options.worker_memory,
                            ports={"metrics": METRICS_PORT},
                        ),
                    }
                ],
            },
        },
    }
    return {
        "vigil.yaml": [
            ray_service,
            _migrate_job(options),
            _deployment(options, "writer", ["vigil", "writer"], ports={}),
            _deployment(
                options,
                "ui",
                ["vigil", "ui", "--host", "0.0.0.0", "--port", str(UI_PORT)],  # noqa: S104
                ports={"http": UI_PORT},
            ),
            _service(options, "ui", UI_PORT),
        ],
        "secret.example.yaml": [_secret(options)],
    }


def dump_yaml(documents: list[Any], header: str = "") -> str:
    """``documents`` as one YAML stream (block style, keys in insertion order)."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    out.write(header)
    if len(documents) == 1:
        yaml.dump(documents[0], out)
    else:
        yaml.dump_all(documents, out)
    return out.getvalue()


def _env(options: KubernetesOptions, **plain: str) -> list[dict[str, Any]]:
    secret = [
        {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": options.secret_name, "key": key}},
        }
        for name, key in SECRET_KEYS.items()
    ]
    return [*secret, *({"name": k, "value": v} for k, v in plain.items())]


def _resources(cpus: float, memory: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": str(cpus), "memory": memory},
        "limits": {"cpu": str(cpus), "memory": memory},
    }


def _pod(
    options: KubernetesOptions, container: str, *, cpus: int, memory: str, ports: dict[str, int]
) -> dict[str, Any]:
    return {
        "metadata": {"labels": dict(options.labels)},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "containers": [
                {
                    "name": container,
                    "image": options.image,
                    "env": _env(options, **CLUSTER_RAY_ENVIRONMENT),
                    "ports": [{"name": n, "containerPort": p} for n, p in ports.items()],
                    "resources": _resources(cpus, memory),
                    "volumeMounts": [
                        {"name": "shm", "mountPath": "/dev/shm"}  # noqa: S108 - Ray's object store
                    ],
                }
            ],
            "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}],
        },
    }


def _container(
    options: KubernetesOptions, name: str, command: list[str], ports: dict[str, int]
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": options.image,
        "command": command,
        "env": _env(
            options,
            VIGIL_HTTP_HOST=f"{options.name}-serve-svc",  # the gateway, for the web app's admin
            VIGIL_HTTP_PORT=str(SERVE_PORT),
        ),
        "resources": _resources(0.5, "1Gi"),
    }
    if ports:
        port = next(iter(ports.values()))
        container["ports"] = [{"name": n, "containerPort": p} for n, p in ports.items()]
        container["readinessProbe"] = {"httpGet": {"path": "/", "port": port}, "periodSeconds": 10}
        container["livenessProbe"] = {
            "tcpSocket": {"port": port},
            "initialDelaySeconds": 30,
            "periodSeconds": 20,
        }
    return container


def _metadata(options: KubernetesOptions, component: str) -> dict[str, Any]:
    return {
        "name": f"{options.name}-{component}",
        "labels": {**options.labels, "app.kubernetes.io/component": component},
    }


def _migrate_job(options: KubernetesOptions) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(options, "migrate"),
        "spec": {
            "backoffLimit": 3,
            "template": {
                "metadata": {"labels": _metadata(options, "migrate")["labels"]},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [
                        _container(options, "migrate", ["vigil", "db", "upgrade"], ports={})
                    ],
                },
            },
        },
    }


def _deployment(
    options: KubernetesOptions, component: str, command: list[str], ports: dict[str, int]
) -> dict[str, Any]:
    metadata = _metadata(options, component)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": metadata["labels"]},
            "template": {
                "metadata": {"labels": metadata["labels"]},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [_container(options, component, command, ports)],
                },
            },
        },
    }


def _service(options: KubernetesOptions, component: str, port: int) -> dict[str, Any]:
    metadata = _metadata(options, component)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "selector": metadata["labels"],
            "ports": [{"name": "http", "port": port, "targetPort": port}],
        },
    }


def _secret(options: KubernetesOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": options.secret_name, "labels": dict(options.labels)},
        "type": "Opaque",
        "stringData": {
            "database-url": "postgresql+asyncpg://vigil:CHANGE-ME@postgres:5432/vigil",
            "redis-url": "redis://:CHANGE-ME@redis:6379/0",
        },
    }
