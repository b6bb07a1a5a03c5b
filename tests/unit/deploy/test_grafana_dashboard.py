"""The Grafana dashboard queries only metrics the code defines, and shows every one of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import REPO_DIR
from runtime.metrics import METRICS, SERVE_METRICS, exported_series_names

DASHBOARD = REPO_DIR / "deploy" / "grafana" / "dashboards" / "vigil.json"
_METRIC_TOKEN = re.compile(r"\bray_[a-zA-Z0-9_:]+")


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    """The dashboard JSON."""
    data: dict[str, Any] = json.loads(Path(DASHBOARD).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of every panel."""
    found = [
        str(target["expr"])
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]
    assert found
    return found


def test_every_expression_names_only_defined_metrics(exprs: list[str]) -> None:
    """Each metric an expression names is one of runtime.metrics (or its listed Serve metrics)."""
    known = exported_series_names()
    for expr in exprs:
        names = set(_METRIC_TOKEN.findall(expr))
        assert names, f"no metric in {expr!r}"
        assert names <= known, f"{sorted(names - known)} in {expr!r} are not defined"


def test_every_defined_metric_is_on_the_dashboard(exprs: list[str]) -> None:
    """No Vigil metric and no listed Serve metric is left off the dashboard."""
    used = {name for expr in exprs for name in _METRIC_TOKEN.findall(expr)}
    for spec in METRICS:
        assert used & set(spec.series_names), f"{spec.exported_name} is not on the dashboard"
    assert set(SERVE_METRICS) <= used


def test_panels_use_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    """Every query goes to the dashboard's Prometheus variable, so any provisioning works."""
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panel_ids_are_unique_and_the_dashboard_has_a_stable_uid(dashboard: dict[str, Any]) -> None:
    """Grafana needs unique panel ids; provisioning keys the dashboard on its uid."""
    ids = [panel["id"] for panel in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "vigil"
