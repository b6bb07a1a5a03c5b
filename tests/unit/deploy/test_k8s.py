"""deploy/k8s/ is generated from config/serve.yaml: regenerating it changes nothing, and its
RayService carries exactly serve.yaml's deployments with secrets taken from a Secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from cli.context import CliState
from cli.deploy_commands import K8S_DIR, parse_resources, render_k8s
from cli.main import app
from config.settings import CONFIG_DIR
from core.errors import ConfigError
from runtime.manifests import (
    METRICS_PORT,
    RAY_VERSION,
    SECRET_KEYS,
    autoscaling_bounds,
    cluster_serve_config,
)
from runtime.serve_config import load_serve_config

SERVE_YAML = CONFIG_DIR / "serve.yaml"


def _documents(name: str) -> list[dict[str, Any]]:
    return list(YAML(typ="safe").load_all((K8S_DIR / name).read_text("utf-8")))


def _ray_service() -> dict[str, Any]:
    [service] = [d for d in _documents("vigil.yaml") if d["kind"] == "RayService"]
    return service


def _containers() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                found.extend(node["containers"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(_documents("vigil.yaml"))
    return found


def test_committed_files_equal_a_fresh_generation() -> None:
    """`vigil deploy k8s` would write exactly the committed files (rerun it after serve.yaml)."""
    for name, text in render_k8s(SERVE_YAML).items():
        committed = (K8S_DIR / name).read_text("utf-8")
        assert committed == text, f"deploy/k8s/{name} is stale: run `uv run vigil deploy k8s`"


def test_ray_service_kind_and_ray_version() -> None:
    """The manifest is a KubeRay v1 RayService for the Ray the project pins."""
    service = _ray_service()
    assert service["apiVersion"] == "ray.io/v1"
    assert service["kind"] == "RayService"
    assert service["spec"]["rayClusterConfig"]["rayVersion"] == RAY_VERSION
    pyproject = (Path(CONFIG_DIR).parent / "pyproject.toml").read_text("utf-8")
    assert f'"ray[serve]=={RAY_VERSION}"' in pyproject


def test_serve_config_v2_is_serve_yaml_for_a_cluster() -> None:
    """serveConfigV2 parses, validates as a Serve config, and has serve.yaml's deployments."""
    from ray.serve.schema import ServeDeploySchema  # noqa: PLC0415 - imported by the conftest

    text = _ray_service()["spec"]["serveConfigV2"]
    assert isinstance(text, str)
    embedded = YAML(typ="safe").load(text)
    ServeDeploySchema.model_validate(embedded)
    raw = load_serve_config(SERVE_YAML)
    assert embedded == cluster_serve_config(raw)
    [app], [source] = embedded["applications"], raw["applications"]
    assert app["deployments"] == source["deployments"]
    assert app["import_path"] == source["import_path"]
    assert "settings" not in app["args"]
    assert embedded["http_options"]["host"] == "0.0.0.0"  # noqa: S104 - the expected bind address


def test_worker_group_autoscales_within_serve_yaml_bounds() -> None:
    """In-tree autoscaling is on and the worker group's bounds follow serve.yaml's replicas."""
    cluster = _ray_service()["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    [group] = cluster["workerGroupSpecs"]
    cpus = int(group["rayStartParams"]["num-cpus"])
    low, high = autoscaling_bounds(load_serve_config(SERVE_YAML), cpus)
    assert (group["minReplicas"], group["maxReplicas"]) == (low, high)
    assert low <= group["replicas"] <= high


def test_autoscaling_bounds_count_cpu_at_fewest_and_most_replicas() -> None:
    """Bounds are the deployments' CPU at min and max replicas, in whole worker pods."""
    raw = {
        "applications": [
            {
                "deployments": [
                    {"num_replicas": 2, "ray_actor_options": {"num_cpus": 0.5}},
                    {
                        "ray_actor_options": {"num_cpus": 1},
                        "autoscaling_config": {"min_replicas": 1, "max_replicas": 5},
                    },
                ]
            }
        ]
    }
    assert autoscaling_bounds(raw, worker_cpus=2) == (1, 3)
    assert autoscaling_bounds(raw, worker_cpus=1) == (2, 6)


def test_every_ray_node_exports_metrics_and_has_resources() -> None:
    """Head and workers export metrics on one port and request and limit CPU and memory."""
    cluster = _ray_service()["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        assert group["rayStartParams"]["metrics-export-port"] == str(METRICS_PORT)
        [container] = group["template"]["spec"]["containers"]
        assert {"requests", "limits"} <= set(container["resources"])
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])


def test_secrets_come_from_the_secret_never_inline() -> None:
    """Every container gets the database and Redis URLs by secretKeyRef, and no inline URL."""
    [secret] = _documents("secret.example.yaml")
    containers = _containers()
    assert len(containers) >= 5  # head, worker, migrate, writer, ui
    for container in containers:
        env = {e["name"]: e for e in container["env"]}
        for variable, key in SECRET_KEYS.items():
            ref = env[variable]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": secret["metadata"]["name"], "key": key}
        for entry in container["env"]:
            assert "://" not in str(entry.get("value", "")), entry


def test_secret_example_has_placeholders_only() -> None:
    """The example Secret names the keys the pods read, with CHANGE-ME values."""
    [secret] = _documents("secret.example.yaml")
    assert secret["kind"] == "Secret"
    assert set(secret["stringData"]) == set(SECRET_KEYS.values())
    assert all("CHANGE-ME" in value for value in secret["stringData"].values())


def test_web_app_deployment_and_service_match() -> None:
    """The UI Service selects the UI Deployment's pods on the port its container listens on."""
    documents = _documents("vigil.yaml")
    [deployment] = [
        d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-ui")
    ]
    [service] = [d for d in documents if d["kind"] == "Service"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert service["spec"]["ports"][0]["targetPort"] in {
        p["containerPort"] for p in container["ports"]
    }


def test_images_are_pinned_and_pods_run_unprivileged() -> None:
    """Every container image has a tag other than latest; every pod runs as non-root."""
    for container in _containers():
        repository, _, tag = container["image"].rpartition(":")
        assert repository, container["image"]
        assert tag not in {"", "latest"}, container["image"]
    for document in _documents("vigil.yaml"):
        if document["kind"] != "Service":
            assert "'runAsNonRoot': True" in str(document), document["kind"]


def test_resources_place_deployments_on_labelled_nodes() -> None:
    """`--resource features=vigil_worker:0.01` adds a custom resource to that deployment only."""
    raw = load_serve_config(SERVE_YAML)
    config = cluster_serve_config(raw, resources=parse_resources(["features=vigil_worker:0.01"]))
    deployments = {d["name"]: d for d in config["applications"][0]["deployments"]}
    assert deployments["features"]["ray_actor_options"]["resources"] == {"vigil_worker": 0.01}
    assert "resources" not in deployments["rules"].get("ray_actor_options", {})
    assert raw["applications"][0]["deployments"] != config["applications"][0]["deployments"]


@pytest.mark.parametrize("value", ["features", "features=x", "features=x:0", "=x:1"])
def test_bad_resource_options_are_rejected(value: str) -> None:
    """A --resource that is not DEPLOYMENT=RESOURCE:AMOUNT (> 0) is an error naming it."""
    with pytest.raises(ConfigError) as caught:
        parse_resources([value])
    assert value in str(caught.value.problems[0])


def test_unknown_deployment_in_resources_is_rejected() -> None:
    """Placing a deployment the graph does not have is an error."""
    with pytest.raises(ConfigError, match="unknown deployment"):
        cluster_serve_config(load_serve_config(SERVE_YAML), resources={"nope": {"x": 1.0}})


def test_serve_config_command_writes_the_cluster_config(tmp_path: Path) -> None:
    """`vigil deploy serve-config` writes serve.yaml for a cluster, placement hints included,
    and no settings even when URLs are configured."""
    out = tmp_path / "serve.yaml"
    result = CliRunner().invoke(
        app,
        [
            *("deploy", "serve-config", "--out", str(out), "--http-port", "8123"),
            *("--resource", "ensemble=vigil_worker:0.5"),
        ],
        env={"VIGIL_DATABASE_URL": "postgresql+asyncpg://u:secret@db/v"},
        obj=CliState(),
    )
    assert result.exit_code == 0, result.output
    written = YAML(typ="safe").load(out.read_text("utf-8"))
    expected = cluster_serve_config(
        load_serve_config(SERVE_YAML),
        http_port=8123,
        resources={"ensemble": {"vigil_worker": 0.5}},
    )
    assert written == expected
    assert "secret" not in out.read_text("utf-8")


def test_k8s_check_fails_on_stale_files_and_passes_after_writing(tmp_path: Path) -> None:
    """`vigil deploy k8s --check` exits 1 until `vigil deploy k8s` has written the files."""
    runner = CliRunner()
    command = ["deploy", "k8s", "--out-dir", str(tmp_path)]
    stale = runner.invoke(app, [*command, "--check"], obj=CliState())
    assert stale.exit_code == 1
    assert runner.invoke(app, command, obj=CliState()).exit_code == 0
    assert runner.invoke(app, [*command, "--check"], obj=CliState()).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.example.yaml", "vigil.yaml"]
