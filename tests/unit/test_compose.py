"""docker-compose.yml is well formed: every reference resolves, images are pinned, secrets stay
out of the file (no Docker engine runs here; `docker compose config` runs when the plugin does)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    data = YAML(typ="safe").load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_every_named_volume_is_declared() -> None:
    """A service that mounts a named volume finds it under the top-level `volumes`."""
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = str(mount).split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"service {name} mounts undeclared volume {source}"


def test_every_service_has_an_image_or_build_and_a_healthcheck() -> None:
    """Each service says what it runs and how compose knows it is healthy."""
    for name, service in _compose()["services"].items():
        assert "image" in service or "build" in service, name
        assert "healthcheck" in service, name


def test_published_ports_bind_to_localhost() -> None:
    """Development services are not exposed beyond this machine."""
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} publicly"


def test_depends_on_names_services_with_known_conditions() -> None:
    """Every dependency is a service of this file, awaited healthy or (one-shot) completed."""
    services = _compose()["services"]
    conditions = {"service_healthy", "service_completed_successfully", "service_started"}
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert rule["condition"] in conditions, f"{name} -> {target}: {rule}"
            if rule["condition"] == "service_healthy":
                assert not services[target]["healthcheck"].get("disable"), (name, target)


def test_one_shot_services_run_once_and_gate_the_engine() -> None:
    """Migrations run once (no restart), and the engine and web app wait for them to succeed."""
    services = _compose()["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["vigil", "db", "upgrade"]
    assert migrate["restart"] == "no"
    for name in ("ray-head", "ui"):
        rule = services[name]["depends_on"]["migrate"]
        assert rule["condition"] == "service_completed_successfully", name


def test_healthchecks_are_only_disabled_for_one_shot_services() -> None:
    """A long-running service always has a real health test."""
    for name, service in _compose()["services"].items():
        check = service["healthcheck"]
        if check.get("disable"):
            assert service.get("restart") == "no", f"{name} runs forever without a health check"
        else:
            assert check["test"], name


def test_images_are_pinned_by_tag() -> None:
    """No service runs an untagged or `latest` image."""
    for name, service in _compose()["services"].items():
        image = str(service["image"])
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert tag not in {"", "latest"}, f"{name}: {image} is not pinned"


def test_only_declared_profiles_are_used() -> None:
    """Optional services sit behind the `cluster` profile, and only the Ray worker does."""
    profiled = {n: s["profiles"] for n, s in _compose()["services"].items() if "profiles" in s}
    assert profiled == {"ray-worker": ["cluster"]}


def test_bind_mounts_exist_in_the_repository() -> None:
    """Every file or directory mounted from the repository is there."""
    for name, service in _compose()["services"].items():
        for mount in service.get("volumes", []):
            source = str(mount).split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name} mounts missing {source}"


def test_vigil_variables_are_settings() -> None:
    """Every VIGIL_* variable a container gets is a known setting (unknown ones are errors)."""
    from config.settings import Settings  # noqa: PLC0415

    known = {f"VIGIL_{field}".upper() for field in Settings.model_fields}
    for name, service in _compose()["services"].items():
        for variable in service.get("environment") or {}:
            if variable.startswith("VIGIL_"):
                assert variable in known, f"{name}: {variable} is not a setting"


def test_secrets_come_from_the_environment() -> None:
    """Passwords and tokens are `${VAR:?...}` interpolations, never values in the file."""
    secret_words = ("PASSWORD", "TOKEN", "SECRET", "AUTH")
    for name, service in _compose()["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if any(word in variable for word in secret_words) and variable != "RAY_AUTH_MODE":
                assert str(value).startswith("${"), (name, variable)
                assert ":?" in str(value), (name, variable)
        for url in ("VIGIL_DATABASE_URL", "VIGIL_REDIS_URL"):
            value = (service.get("environment") or {}).get(url)
            if value is not None:
                assert "${" in value, f"{name}: {url} embeds a literal password"


def test_engine_points_at_the_compose_services() -> None:
    """The engine, writer and web app reach PostgreSQL and Redis by their service names."""
    services = _compose()["services"]
    for name in ("migrate", "ray-head", "ray-worker", "ui"):
        env = services[name]["environment"]
        assert "@postgres:5432/" in env["VIGIL_DATABASE_URL"], name
        assert "@redis:6379/" in env["VIGIL_REDIS_URL"], name


def test_redis_persists_its_append_only_file() -> None:
    """Redis runs with AOF on and keeps /data in a named volume."""
    redis = _compose()["services"]["redis"]
    command = [str(part) for part in redis["command"]]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(str(v).endswith(":/data") for v in redis["volumes"])


def test_ray_worker_joins_the_head_on_its_gcs_port() -> None:
    """The worker's --address is the head's service name and `ray start --port`."""
    services = _compose()["services"]
    head = " ".join(services["ray-head"]["command"])
    worker = services["ray-worker"]["command"]
    port = head.split("--port=", 1)[1].split()[0]
    assert f"--address=ray-head:{port}" in worker
    assert "--block" in worker


def test_prometheus_scrapes_the_ray_metrics_port_on_every_node() -> None:
    """Prometheus scrapes port 9108 (`--metrics-export-port`) on the head and on the workers."""
    services = _compose()["services"]
    config = YAML(typ="safe").load(
        (COMPOSE.parent / "deploy" / "prometheus" / "prometheus.yml").read_text("utf-8")
    )
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["ray-head"]["static_configs"][0]["targets"] == ["ray-head:9108"]
    assert jobs["ray-workers"]["dns_sd_configs"][0] == {
        "names": ["ray-worker"],
        "type": "A",
        "port": 9108,
    }
    for name in ("ray-head", "ray-worker"):
        assert "--metrics-export-port=9108" in " ".join(services[name]["command"]), name


def test_grafana_is_provisioned_from_the_repository() -> None:
    """Grafana's datasource is the prometheus service and its dashboards the mounted directory."""
    grafana = _compose()["services"]["grafana"]
    provisioning = COMPOSE.parent / "deploy" / "grafana" / "provisioning"
    [source] = YAML(typ="safe").load(
        (provisioning / "datasources" / "prometheus.yml").read_text("utf-8")
    )["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    [provider] = YAML(typ="safe").load(
        (provisioning / "dashboards" / "vigil.yml").read_text("utf-8")
    )["providers"]
    mounted = dict(str(v).split(":")[:2][::-1] for v in grafana["volumes"])
    assert mounted[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounted["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"


def test_docker_compose_accepts_the_file() -> None:
    """`docker compose config` (no engine needed) resolves the file with the example .env."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker client is not installed")
    probe = subprocess.run(  # noqa: S603 - fixed argv
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no output"])[0]
        pytest.skip(f"the docker compose plugin is not installed: {reason}")
    done = subprocess.run(  # noqa: S603 - fixed argv
        [
            docker,
            "compose",
            "--env-file",
            str(COMPOSE.parent / "deploy" / "compose.env.example"),
            "--file",
            str(COMPOSE),
            "--profile",
            "cluster",
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_rule_files_are_shared_by_every_node_and_the_web_app() -> None:
    """The Ray nodes and the web app mount one rules volume at the default rules directory, so a
    rule published in the web app reaches every rules replica."""
    services = _compose()["services"]
    for name in ("ray-head", "ray-worker", "ui"):
        assert "rules:/app/config/rules" in services[name]["volumes"], name
