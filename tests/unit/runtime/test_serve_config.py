"""config/serve.yaml is read strictly, completed for `vigil up`, and rescaled without restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli.engine_commands import DEPLOYMENTS
from config.settings import CONFIG_DIR, load_settings
from core.errors import ConfigError
from runtime.app_args import DEPLOYMENT_NAMES, decode_args
from runtime.serve_config import deploy_config, load_serve_config, with_replicas

SHIPPED = CONFIG_DIR / "serve.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "serve.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _minimal(deployment_lines: str = "", args_lines: str = "") -> str:
    return (
        "applications:\n"
        "  - name: vigil\n"
        "    import_path: runtime.graph:app_builder\n"
        f"    args:\n      top_k: 3\n{args_lines}"
        f"    deployments:\n      - name: rules\n{deployment_lines}"
    )


def test_shipped_config_names_every_deployment_once() -> None:
    """The shipped file loads and configures exactly the four deployments of the graph."""
    raw = load_serve_config(SHIPPED)
    [app] = raw["applications"]
    assert sorted(d["name"] for d in app["deployments"]) == sorted(DEPLOYMENT_NAMES)
    assert app["import_path"] == "runtime.graph:app_builder"
    assert decode_args(app["args"]).batch_max_size == 64


def test_shipped_config_fits_two_replicas_of_everything_on_two_cpus() -> None:
    """The CPU fractions leave room to scale every deployment to 2 replicas on 2 CPUs."""
    [app] = load_serve_config(SHIPPED)["applications"]
    total = sum(2 * d["ray_actor_options"]["num_cpus"] for d in app["deployments"])
    assert total <= 2.0


def test_features_never_runs_alone() -> None:
    """`features` (policy `reject`) starts with two replicas: one dying is not an outage."""
    [app] = load_serve_config(SHIPPED)["applications"]
    features = {d["name"]: d for d in app["deployments"]}["features"]
    assert app["args"]["degraded"]["features"] == "reject"
    assert features["num_replicas"] == 2
    assert "autoscaling_config" not in features


def test_cli_knows_the_same_deployments() -> None:
    """`vigil scale` accepts exactly the deployments the graph binds."""
    assert tuple(DEPLOYMENTS) == DEPLOYMENT_NAMES


def test_unknown_deployment_key_is_located(tmp_path: Path) -> None:
    """A misspelt option (which Serve itself would ignore) is an error at file:line:col."""
    path = _write(tmp_path, _minimal("        num_replica: 2\n"))
    with pytest.raises(ConfigError) as caught:
        load_serve_config(path)
    assert f"{path}:8:9" in str(caught.value)
    assert "num_replica" in str(caught.value)


def test_unknown_deployment_name_is_rejected(tmp_path: Path) -> None:
    """A deployment name the graph does not bind is an error naming the known ones."""
    path = _write(tmp_path, _minimal().replace("name: rules", "name: scorer"))
    with pytest.raises(ConfigError, match="unknown deployment 'scorer'"):
        load_serve_config(path)


def test_bad_application_args_are_rejected(tmp_path: Path) -> None:
    """An unknown or mistyped key under args is an error located at `args`."""
    path = _write(tmp_path, _minimal(args_lines="      batch_max_size: many\n"))
    with pytest.raises(ConfigError) as caught:
        load_serve_config(path)
    assert f"{path}:4:5" in str(caught.value)
    assert "batch_max_size" in str(caught.value)


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    """A key given twice is a YAML error, not a silent override."""
    path = _write(tmp_path, _minimal("        num_replicas: 1\n        num_replicas: 2\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_serve_config(path)


def test_deploy_config_takes_address_and_settings_from_settings() -> None:
    """`vigil up` serves on settings.http_host/port and hands the settings to the app."""
    settings = load_settings(environ={}, http_port=8123, redis_url="redis://localhost:1/0")
    config = deploy_config(load_serve_config(SHIPPED), settings)
    assert (config.http_options.host, config.http_options.port) == ("127.0.0.1", 8123)
    args: dict[str, Any] = config.applications[0].args
    assert decode_args(args).resolve_settings().redis_url == "redis://localhost:1/0"


def test_scaling_a_fixed_deployment_sets_its_replicas() -> None:
    """A deployment without autoscaling gets num_replicas; the others are untouched."""
    config = deploy_config(load_serve_config(SHIPPED), load_settings(environ={}))
    app = config.applications[0]
    scaled = with_replicas(app, "rules", 2)
    by_name = {d.name: d for d in scaled.deployments}
    assert by_name["rules"].num_replicas == 2
    assert [d.name for d in scaled.deployments] == [d.name for d in app.deployments]
    assert by_name["gateway"] == {d.name: d for d in app.deployments}["gateway"]


def test_scaling_an_autoscaled_deployment_pins_it() -> None:
    """An autoscaled deployment keeps its autoscaling config, pinned at the requested count."""
    config = deploy_config(load_serve_config(SHIPPED), load_settings(environ={}))
    scaled = with_replicas(config.applications[0], "ensemble", 2)
    autoscaling = {d.name: d for d in scaled.deployments}["ensemble"].autoscaling_config
    assert isinstance(autoscaling, dict)
    assert (autoscaling["min_replicas"], autoscaling["max_replicas"]) == (2, 2)
    assert autoscaling["target_ongoing_requests"] == 4


def test_scaling_needs_a_known_deployment_and_a_positive_count() -> None:
    """Unknown deployment names and counts below one are refused."""
    app = deploy_config(load_serve_config(SHIPPED), load_settings(environ={})).applications[0]
    with pytest.raises(ConfigError, match="unknown deployment"):
        with_replicas(app, "writer", 2)
    with pytest.raises(ConfigError, match="at least 1"):
        with_replicas(app, "rules", 0)


def test_the_registry_selection_becomes_the_ensembles_user_config() -> None:
    """At start and on promotion the selection travels as the ensemble's user_config only, and
    reads back as the same selection; an empty registry sets nothing."""
    from core.admin import ModelRef, ModelSelection  # noqa: PLC0415
    from runtime.serve_config import selection_of, with_models  # noqa: PLC0415

    champion = ModelRef(version="m2", artifact_dir="/models/m2", checksum="c" * 64)
    selection = ModelSelection(champion=champion)
    settings = load_settings(environ={})
    config = deploy_config(load_serve_config(SHIPPED), settings, selection)
    by_name = {d.name: d for d in config.applications[0].deployments}
    assert selection_of(by_name["ensemble"].user_config) == selection
    for name in ("gateway", "features", "rules"):
        assert "user_config" not in by_name[name].model_dump(exclude_unset=True)
    plain = deploy_config(load_serve_config(SHIPPED), settings, ModelSelection())
    plain_ensemble = {d.name: d for d in plain.applications[0].deployments}["ensemble"]
    assert "user_config" not in plain_ensemble.model_dump(exclude_unset=True)
    swapped = with_models(plain.applications[0], ModelSelection(challenger=champion))
    ensemble = {d.name: d for d in swapped.deployments}["ensemble"]
    assert selection_of(ensemble.user_config).challenger == champion
    assert ensemble.autoscaling_config == by_name["ensemble"].autoscaling_config


def test_a_bad_user_config_is_a_config_error() -> None:
    """A user_config that is not a selection says so instead of crashing the replica."""
    from runtime.serve_config import selection_of  # noqa: PLC0415

    with pytest.raises(ConfigError, match="not a model selection"):
        selection_of({"models": {"champion": {"version": 3}}})
