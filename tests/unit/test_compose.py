"""docker-compose.yml is well formed: every reference resolves (no Docker engine runs here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
