"""Every command the deployment files run exists: `vigil ...` in our Typer app, `ray ...` and
`serve ...` in Ray's CLIs, each with options those commands accept; and the multi-node check runs
the commands docker compose runs, so a passing check vouches for the compose file."""

from __future__ import annotations

import json
import re
import shlex
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from pydantic.warnings import PydanticDeprecatedSince20
from ruamel.yaml import YAML

from cli.main import app

REPO = Path(__file__).resolve().parents[3]
MULTINODE = REPO / "deploy" / "multinode_check.py"


def _compose() -> dict[str, Any]:
    data = YAML(typ="safe").load((REPO / "docker-compose.yml").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def split_shell(script: str) -> list[list[str]]:
    """The simple commands of a `sh -c` script joined by `&&`, `||` or `;` (`exec` dropped)."""
    commands = []
    for part in re.split(r"&&|\|\||;", script):
        words = shlex.split(part)
        if words and words[0] == "exec":
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def expand(argv: list[str]) -> list[list[str]]:
    """``argv``, or the commands inside it when it is ``sh -c SCRIPT``."""
    if argv[:2] == ["sh", "-c"]:
        return split_shell(argv[2])
    return [argv]


def compose_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, argv) for every command and CMD health check in docker-compose.yml."""
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if isinstance(command, str):
            command = shlex.split(command)
        if command:
            for argv in expand([str(a) for a in command]):
                yield f"compose {name}", argv
        test = (service.get("healthcheck") or {}).get("test") or []
        if test and test[0] == "CMD":
            yield f"compose {name} healthcheck", [str(a) for a in test[1:]]


def dockerfile_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, argv) for the Dockerfile's exec-form CMD."""
    text = (REPO / "Dockerfile").read_text("utf-8")
    for match in re.finditer(r"^CMD (\[.*\])$", text, flags=re.MULTILINE):
        yield "Dockerfile CMD", json.loads(match.group(1))


def k8s_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, argv) for every container command in deploy/k8s/."""

    def walk(node: object, where: str) -> Iterator[tuple[str, list[str]]]:
        if isinstance(node, dict):
            if isinstance(node.get("command"), list) and "image" in node:
                yield f"{where} {node['name']}", [str(a) for a in node["command"]]
            for value in node.values():
                yield from walk(value, where)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value, where)

    for path in sorted((REPO / "deploy" / "k8s").glob("*.yaml")):
        for document in YAML(typ="safe").load_all(path.read_text("utf-8")):
            yield from walk(document, f"k8s {path.name}")


def all_commands() -> list[tuple[str, list[str]]]:
    """Every command of compose, the Dockerfile and the Kubernetes files."""
    return [*compose_commands(), *dockerfile_commands(), *k8s_commands()]


def check_click(root: Any, argv: list[str], where: str) -> None:
    """Resolve ``argv`` through ``root``'s groups and parse the leaf's options (not run it).

    Duck-typed: Typer ships its own copy of click, Ray uses click itself.
    """
    command, rest = root, list(argv)
    while hasattr(command, "list_commands"):
        assert rest, f"{where}: `{shlex.join(argv)}` names a group, not a command"
        sub = command.get_command(command.context_class(command), rest[0])
        assert sub is not None, f"{where}: `{rest[0]}` is not a subcommand in `{shlex.join(argv)}`"
        command, rest = sub, rest[1:]
    try:
        command.make_context(command.name or "", rest, resilient_parsing=False)
    except Exception as exc:  # click's or Typer's UsageError (Typer vendors click)
        if not hasattr(exc, "format_message"):
            raise
        pytest.fail(f"{where}: `{shlex.join(argv)}`: {exc.format_message()}")


def _ray_clis() -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PydanticDeprecatedSince20)
        warnings.simplefilter("ignore", DeprecationWarning)
        from ray.scripts.scripts import cli as ray_cli  # noqa: PLC0415 - heavy
        from ray.serve.scripts import cli as serve_cli  # noqa: PLC0415

    return {"ray": ray_cli, "serve": serve_cli}


def test_the_files_run_vigil_ray_and_serve_commands() -> None:
    """The collector finds the commands that matter (so the checks below check something)."""
    programs = {(argv[0], argv[1]) for _, argv in all_commands() if len(argv) > 1}
    assert {("vigil", "db"), ("vigil", "ui"), ("vigil", "writer"), ("vigil", "deploy")} <= programs
    assert {("ray", "start"), ("serve", "deploy"), ("ray", "health-check")} <= programs


def test_every_vigil_command_is_a_real_subcommand_with_valid_options() -> None:
    """Each `vigil ...` in compose, the Dockerfile and deploy/k8s parses with our Typer app."""
    root = typer.main.get_command(app)
    checked = 0
    for where, argv in all_commands():
        if argv[0] == "vigil":
            check_click(root, argv[1:], where)
            checked += 1
    assert checked >= 8


def test_every_ray_and_serve_command_parses_with_rays_cli() -> None:
    """Each `ray ...` / `serve ...` (ray start flags included) is valid for Ray's own CLI."""
    clis = _ray_clis()
    for where, argv in all_commands():
        if argv[0] in clis:
            check_click(clis[argv[0]], argv[1:], where)


def test_multinode_check_runs_the_compose_cluster_commands() -> None:
    """deploy/multinode_check.py runs each ray/serve/vigil command of compose's Ray services,
    with every `ray start` flag they use."""
    script = MULTINODE.read_text("utf-8")
    services = ("migrate", "ray-head", "ray-worker")
    for where, argv in compose_commands():
        if where.split()[1] not in services or argv[0] not in {"vigil", "ray", "serve"}:
            continue
        words = [w for w in argv[1:] if not w.startswith("-")][:2]
        if argv[0] != "vigil" or words[:1] != ["deploy"]:
            words = words[:1]
        pattern = rf'BIN / "{argv[0]}"\),\s*' + r",\s*".join(f'"{w}"' for w in words)
        assert re.search(pattern, script), f"{where}: `{shlex.join(argv)}` is not run by the check"
        if argv[:2] == ["ray", "start"]:
            for flag in (w.split("=", 1)[0] for w in argv[2:] if w.startswith("--")):
                assert flag in script, f"{where}: the check never passes `ray start {flag}`"


@pytest.mark.parametrize(
    "argv", [["ui", "--hostx", "1"], ["nope"], ["deploy"], ["deploy", "serve-config", "--resource"]]
)
def test_a_wrong_vigil_command_fails_the_check(argv: list[str]) -> None:
    """An unknown subcommand, a bare group, an unknown option or a missing value is caught."""
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        check_click(typer.main.get_command(app), argv, "here")


def test_shell_scripts_split_into_simple_commands() -> None:
    """`a x && b y; exec c` is three commands: [a x], [b y], [c]."""
    assert split_shell("a x && b 'y z'; exec c") == [["a", "x"], ["b", "y z"], ["c"]]
