"""Load a rule set from a directory of ``*.yaml`` files: all of it, or nothing.

Loading reads every file once (the bytes it hashes are the bytes it parses), parses and checks each
rule against the schema, compiles each ``when`` against the typed variables, and only then builds
one program for the enabled rules. Any problem anywhere rejects the whole set with a
:class:`~core.errors.RuleSetError` listing every problem as ``file:line:col`` and
``rule <id>: message``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from config.fx import FxTable
from core.errors import Problem, RuleSetError
from rules.expressions import rule_environment
from rules.parsing import ParsedRule, parse_rule_file
from rules.ruleset import Rule, RuleSet

RULE_FILE_GLOB: Final = "*.yaml"
VERSION_LENGTH: Final = 16
"""Hex digits of the SHA-256 content hash kept as the rule-set version."""


@dataclass(frozen=True, slots=True)
class RuleSources:
    """The rule files of a directory as read at one moment: ``(label, content)`` by file name."""

    directory: Path
    files: tuple[tuple[str, bytes], ...]

    @property
    def version(self) -> str:
        """Content hash of the file names and contents: it changes iff a file does."""
        digest = hashlib.sha256()
        for label, content in self.files:
            name = Path(label).name.encode()
            digest.update(len(name).to_bytes(8, "big") + name)
            digest.update(len(content).to_bytes(8, "big") + content)
        return digest.hexdigest()[:VERSION_LENGTH]


def read_rule_sources(path: Path) -> RuleSources:
    """The ``*.yaml`` files of directory ``path`` (or the one file ``path``), sorted by name.

    Hidden files (editor locks and backups such as ``.#main.yaml``) are not rule files.
    """
    if path.is_dir():
        paths = sorted(p for p in path.glob(RULE_FILE_GLOB) if not p.name.startswith("."))
        if not paths:
            raise RuleSetError(
                f"no rule files in {path}", [Problem(str(path), f"no {RULE_FILE_GLOB} files")]
            )
    elif path.is_file():
        paths = [path]
    else:
        raise RuleSetError(
            f"cannot read rules from {path}", [Problem(str(path), "no such file or directory")]
        )
    files = []
    for file in paths:
        try:
            files.append((str(file), file.read_bytes()))
        except OSError as exc:
            raise RuleSetError(
                f"cannot read rule file {file}", [Problem(str(file), exc.strerror or str(exc))]
            ) from None
    return RuleSources(directory=path, files=tuple(files))


def load_rule_set(
    directory: Path, feature_names: Sequence[str], fx: FxTable | None = None
) -> RuleSet:
    """The rule set in ``directory`` (or one rule file), compiled against ``feature_names``,
    converting ``txn.amount_base`` with ``fx``.

    Raises :class:`RuleSetError` with every problem found.
    """
    return build_rule_set(read_rule_sources(directory), feature_names, fx)


def build_rule_set(
    sources: RuleSources, feature_names: Sequence[str], fx: FxTable | None = None
) -> RuleSet:
    """Parse, check and compile ``sources``; :class:`RuleSetError` lists every problem.

    ``fx`` converts amounts for ``txn.amount_base`` (see :class:`RuleSet`)."""
    parsed: list[ParsedRule] = []
    problems: list[Problem] = []
    for label, content in sources.files:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = content[: exc.start].count(b"\n") + 1
            problems.append(Problem(f"{label}:{line}:1", f"not UTF-8 text: {exc.reason}"))
            continue
        result = parse_rule_file(label, text)
        parsed.extend(result.rules)
        problems.extend(result.problems)
    environment = rule_environment(tuple(feature_names))
    first_seen: dict[str, ParsedRule] = {}
    for rule in parsed:
        rule_id = rule.spec.id
        if rule_id in first_seen:
            where = first_seen[rule_id].location
            problems.append(
                Problem(rule.location, f"rule {rule_id}: duplicate id (first defined at {where})")
            )
        first_seen.setdefault(rule_id, rule)
        for issue in environment.check(rule.spec.when):
            where = rule.locate_in_when(issue.line, issue.column)
            problems.append(Problem(where, f"rule {rule_id}: {issue.message}"))
    if problems:
        problems.sort(key=_position_key([label for label, _ in sources.files]))
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise RuleSetError(f"rule set {sources.directory} is invalid ({count})", problems)
    rules = [_rule(item) for item in parsed]
    program = environment.program([rule.when for rule in rules if rule.enabled])
    return RuleSet(
        version=sources.version,
        rules=rules,
        program=program,
        feature_names=environment.feature_names,
        files=[label for label, _ in sources.files],
        fx=fx,
    )


def _position_key(labels: Sequence[str]) -> Callable[[Problem], tuple[int, int, int]]:
    """Sort problems by file (in load order), then line and column."""
    order = {label: index for index, label in enumerate(labels)}

    def key(problem: Problem) -> tuple[int, int, int]:
        parts = problem.location.rsplit(":", 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return order.get(parts[0], len(order)), int(parts[1]), int(parts[2])
        return order.get(problem.location, len(order)), 0, 0

    return key


def _rule(parsed: ParsedRule) -> Rule:
    spec = parsed.spec
    return Rule(
        id=spec.id,
        description=spec.description,
        when=spec.when,
        action=spec.action,
        score=spec.score,
        enabled=spec.enabled,
        tags=spec.tags,
        source=parsed.location,
    )
