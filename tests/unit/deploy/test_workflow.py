"""The GitHub workflow runs the same lint and test commands as .ci/run, against the same kinds of
servers, and builds the image without pushing it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[3]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
CI_RUN = REPO / ".ci" / "run"


def _workflow() -> dict[str, Any]:
    data = YAML(typ="safe").load(WORKFLOW.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def _steps(job: str) -> list[str]:
    return [str(step["run"]).strip() for step in _workflow()["jobs"][job]["steps"] if "run" in step]


def ci_run_commands() -> list[str]:
    """The `uv ...` commands .ci/run runs at the top level (not inside its helper functions)."""
    return [
        line.strip()
        for line in CI_RUN.read_text("utf-8").splitlines()
        if re.match(r"^uv (run|sync)\b", line)
    ]


def test_ci_run_is_parsed() -> None:
    """.ci/run's commands are found: a locked sync, the three linters and pytest."""
    assert ci_run_commands() == [
        "uv sync --locked",
        "uv run ruff check .",
        "uv run ruff format --check .",
        "uv run mypy .",
        "uv run pytest",
    ]


def test_lint_and_test_jobs_run_exactly_the_ci_run_commands() -> None:
    """lint runs the sync and the linters, test the sync and pytest, as .ci/run does."""
    expected = ci_run_commands()
    lint = [c for c in _steps("lint") if c.startswith("uv ")]
    test = [c for c in _steps("test") if c.startswith("uv ")]
    assert lint == [c for c in expected if "pytest" not in c]
    assert test == [c for c in expected if c == "uv sync --locked" or "pytest" in c]


def test_test_job_has_postgres_15_and_redis_7_and_points_the_tests_at_them() -> None:
    """The services match the machine CI runs on; VIGIL_TEST_* name them."""
    job = _workflow()["jobs"]["test"]
    assert job["services"]["postgres"]["image"] == "postgres:15"
    assert job["services"]["redis"]["image"] == "redis:7"
    env = job["env"]
    assert env["VIGIL_TEST_DATABASE_URL"].startswith("postgresql+asyncpg://postgres@postgres:5432/")
    assert env["VIGIL_TEST_REDIS_URL"].startswith("redis://redis:6379/")
    for service in job["services"].values():
        assert "--health-cmd" in service["options"]


def test_test_job_installs_debians_chromium() -> None:
    """The browser test gets Debian's chromium, as .ci/run installs it."""
    job = _workflow()["jobs"]["test"]
    assert "bookworm" in job["container"]["image"]
    assert any("apt-get install" in step and "chromium" in step for step in _steps("test"))
    assert "apt-get install" in CI_RUN.read_text("utf-8")


def test_image_job_builds_without_pushing() -> None:
    """The image is built with docker/build-push-action from the repository root, not pushed."""
    steps = _workflow()["jobs"]["image"]["steps"]
    [build] = [s for s in steps if str(s.get("uses", "")).startswith("docker/build-push-action@")]
    assert build["with"]["push"] is False
    assert build["with"]["context"] == "."


def test_actions_are_pinned_to_a_version() -> None:
    """Every action is used at a tagged version."""
    for name, job in _workflow()["jobs"].items():
        for step in job["steps"]:
            if "uses" in step:
                assert re.search(r"@v\d+", step["uses"]), f"{name}: {step['uses']}"
