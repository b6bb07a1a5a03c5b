"""The rule files as the Rules page sees them: the active set, validation, and publishing.

Validation runs the engine's own loader (:func:`rules.loader.build_rule_set`) on the rule
directory with one file's text replaced in memory, so it reports exactly what the engine would:
every problem with ``file:line:col``, including clashes with the other files (duplicate ids).

Publishing writes the file atomically (a hidden temporary file in the same directory, fsynced, then
renamed over the old one); the rules replicas' hot reload picks it up. Nothing invalid is ever
written. The version a publish leads to is the directory's content hash, which is what every
replica reports once it has reloaded.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from core.errors import InvalidInputError, Problem, RuleSetError
from core.models import Outcome
from features.spec import load_feature_set
from rules.loader import RULE_FILE_GLOB, RuleSources, build_rule_set, read_rule_sources

RULE_FILE_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*\.yaml$")
_LOCATION: Final = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<column>\d+)$")


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """One rule of the active set, as listed on the page."""

    id: str
    description: str
    action: Outcome
    score: float
    enabled: bool
    tags: tuple[str, ...]
    file: str
    when: str


@dataclass(frozen=True, slots=True)
class ActiveRules:
    """The rule set the files on disk make: its version, rules and file names."""

    version: str
    rules: tuple[RuleInfo, ...]
    files: tuple[str, ...]

    def by_id(self) -> dict[str, RuleInfo]:
        """The rules by id."""
        return {rule.id: rule for rule in self.rules}


@dataclass(frozen=True, slots=True)
class EditorProblem:
    """One loader problem placed in a file: 1-based line and column (0 when unknown)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Validation:
    """What the loader says about the rule set with one file edited."""

    version: str | None
    """The version the set would have (``None`` when it does not load)."""
    rule_count: int
    problems: tuple[EditorProblem, ...]

    @property
    def ok(self) -> bool:
        """Whether the set loads."""
        return not self.problems


def editor_problem(problem: Problem) -> EditorProblem:
    """Split a loader problem's ``file:line:col`` location (file names only)."""
    match = _LOCATION.match(problem.location)
    if match is None:
        return EditorProblem(Path(problem.location).name, 0, 0, problem.message)
    return EditorProblem(
        file=Path(match["file"]).name,
        line=int(match["line"]),
        column=int(match["column"]),
        message=problem.message,
    )


class RuleCatalog:
    """Reads, checks and writes the rule files of ``directory``."""

    def __init__(self, directory: Path, features_file: Path) -> None:
        self.directory = directory
        self._features_file = features_file
        self._feature_names: tuple[str, ...] | None = None
        self._active: ActiveRules | None = None

    def active(self) -> ActiveRules:
        """The rule set on disk now (re-read when the files changed); RuleSetError if invalid."""
        sources = read_rule_sources(self.directory)
        if self._active is not None and self._active.version == sources.version:
            return self._active
        rule_set = build_rule_set(sources, self.feature_names())
        self._active = ActiveRules(
            version=rule_set.version,
            rules=tuple(
                RuleInfo(
                    id=rule.id,
                    description=rule.description,
                    action=rule.action,
                    score=rule.score,
                    enabled=rule.enabled,
                    tags=rule.tags,
                    file=Path(rule.source.split(":", 1)[0]).name,
                    when=rule.when,
                )
                for rule in rule_set.rules
            ),
            files=tuple(Path(label).name for label, _ in sources.files),
        )
        return self._active

    def file_names(self) -> list[str]:
        """The rule files, sorted."""
        return sorted(
            p.name for p in self.directory.glob(RULE_FILE_GLOB) if not p.name.startswith(".")
        )

    def read(self, name: str) -> str:
        """The text of rule file ``name``."""
        return self._path(name, must_exist=True).read_text(encoding="utf-8")

    def validate(self, name: str, text: str) -> Validation:
        """Load the rule set as it would be with ``name`` holding ``text``."""
        sources = self._sources_with(name, text)
        try:
            rule_set = build_rule_set(sources, self.feature_names())
        except RuleSetError as exc:
            problems = exc.problems or [Problem(name, exc.summary)]
            return Validation(None, 0, tuple(editor_problem(p) for p in problems))
        return Validation(rule_set.version, len(rule_set.rules), ())

    def publish(self, name: str, text: str) -> Validation:
        """Write ``text`` to ``name`` if the set then loads; the validation either way."""
        validation = self.validate(name, text)
        if not validation.ok:
            return validation
        path = self._path(name, must_exist=False)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=self.directory)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            Path(temporary).chmod(0o644)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return Validation(read_rule_sources(self.directory).version, validation.rule_count, ())

    def feature_names(self) -> tuple[str, ...]:
        """The feature names rules may read (from the feature spec file, read once)."""
        if self._feature_names is None:
            self._feature_names = load_feature_set(self._features_file).names
        return self._feature_names

    def _sources_with(self, name: str, text: str) -> RuleSources:
        path = self._path(name, must_exist=False)
        current = read_rule_sources(self.directory)
        files = [(label, content) for label, content in current.files if Path(label) != path]
        files.append((str(path), text.encode("utf-8")))
        files.sort(key=lambda item: Path(item[0]).name)
        return RuleSources(directory=self.directory, files=tuple(files))

    def _path(self, name: str, *, must_exist: bool) -> Path:
        if not RULE_FILE_NAME.fullmatch(name):
            raise InvalidInputError(
                "invalid rule file name",
                [Problem("file", f"{name!r} is not like 'velocity.yaml' (a-z, 0-9, '-', '_')")],
            )
        path = self.directory / name
        if must_exist and not path.is_file():
            raise InvalidInputError(
                "unknown rule file", [Problem("file", f"{name} is not in {self.directory}")]
            )
        return path
