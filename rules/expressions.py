"""CEL behind a small interface: check one rule expression, evaluate many as one program.

Everything that touches ``cel_expr_python`` lives here. A :class:`RuleEnvironment` declares the
typed variables ``txn`` and ``features`` (see :mod:`rules.messages`); :meth:`~RuleEnvironment.check`
reports compile problems at their line and column *within the expression*;
:meth:`~RuleEnvironment.program` compiles a list of checked expressions into a
:class:`RuleProgram`.

A program evaluates every expression in one CEL call: the expressions are compiled together as
one list literal ``[(e1), (e2), ...]``, which measured ~4x faster than one call per expression
for 50 rules (``bench/bench_rules.py``; each call has a fixed cost of a few µs).

CEL has no way to catch an error inside a list, so when the combined call fails, the program
evaluates groups of :data:`GROUP_SIZE` expressions, then each expression of a failing group on its
own (sharing one activation), to record the failing ones alone as :class:`EvalError`. That
measured ~1.3x cheaper than falling back to one call per expression.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cel_expr_python import cel

from core.models import Transaction
from rules.messages import FEATURES_TYPE, TRANSACTION_TYPE, RuleMessages

_ISSUE: Final = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")
_MIXED_NUMBERS: Final = re.compile(r"applied to '\(.*\b(int|uint)\b.*\)'")
_NUMBERS_HINT: Final = " (CEL does not mix int and double: write 1000.0, not 1000)"
GROUP_SIZE: Final = 8
"""After the whole program fails, groups of this many expressions are tried before single ones."""


@dataclass(frozen=True, slots=True)
class CelIssue:
    """A compile problem at ``line``:``column`` (both 1-based) within one expression."""

    line: int
    column: int
    message: str


@dataclass(frozen=True, slots=True)
class EvalError:
    """An expression failed at run time (e.g. a missing feature compared without ``has()``)."""

    message: str


Verdict = bool | EvalError
"""What one expression said about one transaction."""


class RuleEnvironment:
    """A CEL environment where ``txn`` and ``features`` are declared with their exact types."""

    def __init__(self, feature_names: Sequence[str]) -> None:
        self.messages = RuleMessages(feature_names)
        self._env: Any = cel.NewEnv(
            self.messages.pool,
            variables={"txn": cel.Type(TRANSACTION_TYPE), "features": cel.Type(FEATURES_TYPE)},
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature fields ``features`` has, in declaration order."""
        return self.messages.feature_names

    def check(self, expression: str) -> list[CelIssue]:
        """Compile ``expression``; its problems (none if it is a valid bool expression)."""
        try:
            compiled = self._env.compile(expression)
        except RuntimeError as exc:
            return _issues(str(exc))
        result_type = compiled.return_type()
        if result_type != cel.Type.BOOL:
            name = str(result_type.name()).lower()
            hint = " (compare dyn values explicitly, e.g. `== true`)" if name == "dyn" else ""
            return [CelIssue(1, 1, f"`when` must be a bool expression, got {name}{hint}")]
        return []

    def program(self, expressions: Sequence[str], *, combined: bool = True) -> RuleProgram:
        """Compile expressions that passed :meth:`check` into one program.

        ``combined=False`` evaluates them one call each (to compare in benchmarks). Raises
        ``ValueError`` if one of them does not compile (check them first).
        """
        singles: list[Any] = []
        for expression in expressions:
            try:
                singles.append(self._env.compile(expression))
            except RuntimeError as exc:
                raise ValueError(f"expression does not compile: {expression!r}") from exc
        if not combined or not expressions:
            return RuleProgram(self._env, self.messages, singles, None, ())
        groups: list[tuple[int, int, Any | None]] = []
        if len(expressions) > GROUP_SIZE:
            for start in range(0, len(expressions), GROUP_SIZE):
                end = min(start + GROUP_SIZE, len(expressions))
                groups.append((start, end, self._list(expressions[start:end])))
        return RuleProgram(self._env, self.messages, singles, self._list(expressions), groups)

    def _list(self, expressions: Sequence[str]) -> Any | None:
        """``[(e1), (e2), ...]`` compiled, or None (then each expression is evaluated alone).

        Each expression ends on its own line so that a trailing ``//`` comment cannot swallow the
        rest of the list.
        """
        source = "[\n" + ",\n".join(f"({expression}\n)" for expression in expressions) + "\n]"
        try:
            return self._env.compile(source)
        except RuntimeError:
            return None


@functools.lru_cache(maxsize=8)
def rule_environment(feature_names: tuple[str, ...]) -> RuleEnvironment:
    """A shared environment for these feature names (environments are immutable)."""
    return RuleEnvironment(feature_names)


class RuleProgram:
    """Checked expressions compiled for evaluation; immutable and reusable across threads."""

    def __init__(
        self,
        env: Any,
        messages: RuleMessages,
        singles: Sequence[Any],
        whole: Any | None,
        groups: Sequence[tuple[int, int, Any | None]],
    ) -> None:
        self._env = env
        self._messages = messages
        self._singles = tuple(singles)
        self._whole = whole
        self._groups = tuple(groups)

    def __len__(self) -> int:
        return len(self._singles)

    def evaluate(
        self,
        txn: Transaction,
        features: Mapping[str, float | None],
        amount_base: float | None = None,
    ) -> list[Verdict]:
        """One verdict per expression, in order; a failing expression never fails the others.

        ``amount_base`` is ``txn.amount_base`` (``None``: null, no rate for the currency)."""
        if not self._singles:
            return []
        data = {
            "txn": self._messages.transaction(txn, amount_base),
            "features": self._messages.features(features),
        }
        if self._whole is not None:
            values = self._whole.eval(data=data).plain_value()
            if isinstance(values, list):  # an error comes back as its message
                return values
        activation = self._env.Activation(data)
        if not self._groups:
            return self._each(activation, 0, len(self._singles))
        verdicts: list[Verdict] = []
        for start, end, group in self._groups:
            values = group.eval(activation).plain_value() if group is not None else None
            verdicts.extend(
                values if isinstance(values, list) else self._each(activation, start, end)
            )
        return verdicts

    def _each(self, activation: Any, start: int, end: int) -> list[Verdict]:
        """Expressions ``start`` to ``end`` (exclusive), one call each."""
        verdicts: list[Verdict] = []
        for single in self._singles[start:end]:
            result = single.eval(activation)
            if result.type() == cel.Type.ERROR:
                verdicts.append(EvalError(str(result.value())))
            else:
                verdicts.append(bool(result.value()))
        return verdicts


def _issues(message: str) -> list[CelIssue]:
    issues = []
    for match in _ISSUE.finditer(message):
        text = match.group(3).strip()
        if _MIXED_NUMBERS.search(text) and "double" in text:
            text += _NUMBERS_HINT
        issues.append(CelIssue(int(match.group(1)), int(match.group(2)), text))
    return issues or [CelIssue(1, 1, message.strip())]
