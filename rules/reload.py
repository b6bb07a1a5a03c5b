"""Hot reload: pick up edited rule files without a restart, and never score with a broken set.

A :class:`RuleSetWatcher` is polled (the rules deployment calls :meth:`~RuleSetWatcher.poll` every
second or two). Each poll reads the rule files and compares their content hash with the current
set's version; a changed, valid set replaces the current one, a changed, invalid one is rejected
with a ``ruleset_rejected`` log event listing its problems while the current set keeps scoring.
A rejected version is reported once, not on every poll.

A file caught half-written is either invalid (rejected, then picked up complete on a later poll)
or changes again while it is being loaded: the files are read again after loading and the new set
is only used if they still hash the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from config.fx import FxTable
from core.errors import RuleSetError
from rules.loader import build_rule_set, load_rule_set, read_rule_sources
from rules.ruleset import RuleSet


class RuleSetWatcher:
    """Holds the current rule set of ``directory`` and swaps in valid edits on :meth:`poll`.

    The first load happens in the constructor (unless ``initial`` is given) and raises
    :class:`RuleSetError` if the files are invalid: a service must not start without rules.
    Every set it loads converts ``txn.amount_base`` with ``fx``.
    """

    def __init__(
        self,
        directory: Path,
        feature_names: Sequence[str],
        *,
        initial: RuleSet | None = None,
        logger: Any = None,
        fx: FxTable | None = None,
    ) -> None:
        self._directory = directory
        self._feature_names = tuple(feature_names)
        self._fx = fx
        self._log = logger if logger is not None else structlog.get_logger(__name__)
        if initial is None:
            initial = load_rule_set(directory, self._feature_names, fx)
        self._current = initial
        self._rejected: str | None = None

    @property
    def current(self) -> RuleSet:
        """The rule set to score with now."""
        return self._current

    @property
    def directory(self) -> Path:
        """Where the rule files are read from."""
        return self._directory

    def poll(self) -> RuleSet | None:
        """Load the rule files if they changed; the new set if it was swapped in, else None."""
        try:
            sources = read_rule_sources(self._directory)
        except RuleSetError as exc:
            self._reject(str(exc), None, exc)
            return None
        version = sources.version
        if version == self._current.version:
            self._rejected = None
            return None
        if version == self._rejected:
            return None
        try:
            rule_set = build_rule_set(sources, self._feature_names, self._fx)
        except RuleSetError as exc:
            self._reject(version, version, exc)
            return None
        if _version_now(self._directory) != version:
            return None  # still being written: the next poll loads the finished files
        previous, self._current, self._rejected = self._current, rule_set, None
        self._log.info(
            "ruleset_loaded",
            directory=str(self._directory),
            ruleset_version=rule_set.version,
            previous_version=previous.version,
            rules=len(rule_set.rules),
            enabled_rules=len(rule_set.enabled_rules),
        )
        return rule_set

    def _reject(self, key: str, version: str | None, error: RuleSetError) -> None:
        if key == self._rejected:
            return
        self._rejected = key
        self._log.warning(
            "ruleset_rejected",
            directory=str(self._directory),
            ruleset_version=version,
            kept_version=self._current.version,
            error=error.summary,
            problems=[str(problem) for problem in error.problems],
        )


def _version_now(directory: Path) -> str | None:
    try:
        return read_rule_sources(directory).version
    except RuleSetError:
        return None
