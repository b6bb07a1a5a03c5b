"""The Dockerfile builds the locked environment in one stage and runs it unprivileged in another.

hadolint is not installable here; these checks read the Dockerfile with a small parser
(continuation lines joined, comments dropped) and assert what matters for this image.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass
class Stage:
    """One ``FROM`` and the instructions under it."""

    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The arguments of every ``keyword`` instruction of this stage."""
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ``ARG`` defaults and the stages of a Dockerfile."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif not stages:
            if keyword == "ARG" and "=" in rest:
                key, _, value = rest.partition("=")
                args[key] = value
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def _stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))[1]


def test_two_stages_builder_then_runtime() -> None:
    """A named builder stage installs; the last stage copies its result."""
    stages = _stages()
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder.name == "builder"
    assert any("--from=builder" in copy for copy in runtime.all("COPY"))


def test_python_matches_the_project_and_both_stages_share_it() -> None:
    """Both stages use the same slim Python image, the version the project requires and runs."""
    builder, runtime = _stages()[0], _stages()[-1]
    assert builder.image == runtime.image
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim(-\w+)?", runtime.image)
    assert match, runtime.image
    requires = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"][
        "requires-python"
    ]
    assert f">={match[1]}.{match[2]}" in requires
    assert (int(match[1]), int(match[2])) == sys.version_info[:2]


def test_environment_comes_from_the_lock_file_without_dev_tools() -> None:
    """Every `uv sync` is `--locked --no-dev`, with uv copied from a pinned official image."""
    builder = _stages()[0]
    syncs = [run for run in builder.all("RUN") if "uv sync" in run]
    assert syncs
    for run in syncs:
        assert "--locked" in run
        assert "--no-dev" in run
    [uv_copy] = [c for c in builder.all("COPY") if "astral-sh/uv" in c]
    assert re.search(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+ ", uv_copy), uv_copy


def test_runtime_runs_as_an_unprivileged_user() -> None:
    """The last USER of the runtime stage is neither root nor uid 0."""
    users = _stages()[-1].all("USER")
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_runtime_has_a_healthcheck_and_a_real_command() -> None:
    """The image says how it is checked and runs `vigil up --no-ui` by default."""
    runtime = _stages()[-1]
    [healthcheck] = runtime.all("HEALTHCHECK")
    assert "CMD" in healthcheck
    assert "/health" in healthcheck
    [cmd] = runtime.all("CMD")
    assert json.loads(cmd) == ["vigil", "up", "--no-ui"]


def test_copy_sources_exist_and_are_not_ignored() -> None:
    """Every file COPY takes from the build context exists and is not in .dockerignore."""
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for stage in _stages():
        for copy in stage.all("COPY"):
            parts = [p for p in copy.split() if not p.startswith("--")]
            if any(p.startswith("--from") for p in copy.split()):
                continue
            for source in parts[:-1]:
                if source == ".":
                    continue
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
                assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    """The virtualenv, git data, runtime state and .env files never enter the build context."""
    ignored = set(DOCKERIGNORE.read_text("utf-8").split())
    assert {".venv", ".git", "var", ".env"} <= ignored


def test_no_secrets_are_baked_in() -> None:
    """No ENV or ARG sets a password, token or key."""
    for stage in _stages():
        for keyword in ("ENV", "ARG"):
            for args in stage.all(keyword):
                assert not re.search(r"(PASSWORD|TOKEN|SECRET|API_KEY)\w*=", args.upper()), args


def test_the_parser_joins_continuations_and_names_stages() -> None:
    """The small parser reads continuation lines, global ARGs and `FROM x AS y`."""
    args, stages = parse(
        "ARG BASE=python:3.11-slim\n# c\nFROM ${BASE} AS b\nRUN a \\\n    && b\nFROM b\nUSER 1\n"
    )
    assert args == {"BASE": "python:3.11-slim"}
    assert [(s.image, s.name) for s in stages] == [("python:3.11-slim", "b"), ("b", None)]
    assert stages[0].all("RUN") == ["a && b"]
