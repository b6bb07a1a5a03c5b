"""Vigil's one error tree.

Every error Vigil raises on purpose derives from :class:`VigilError`. The HTTP gateway maps this
tree to status codes in exactly one place (``serving/errors.py``); the CLI prints ``str(error)``
and exits non-zero. Each error says what is wrong and where.

::

    VigilError
    ├── InvalidInputError            a value from outside (HTTP body, CLI argument, row) is wrong
    │   └── DataImportError          rows of an imported dataset are wrong (carries every row error)
    ├── ConfigError                  settings or a YAML configuration file is wrong
    │   ├── FeatureSpecError         config/features.yaml is wrong
    │   └── RuleSetError             a rule file does not load (carries file:line:col per problem)
    ├── ModelArtifactError           a model artifact is missing, corrupt or does not fit the specs
    ├── NotFoundError                a requested record does not exist
    ├── ConflictError                the same idempotency key was used with another payload
    ├── AuthError                    missing, unknown or revoked credentials (401)
    │   └── ForbiddenError           known credentials without the needed scope (403)
    ├── RateLimitedError             a key sent more requests than its limit allows (429)
    └── DependencyUnavailableError   Redis, PostgreSQL or a deployment cannot be reached in time
"""

from __future__ import annotations

from dataclasses import dataclass


class VigilError(Exception):
    """Base of every error Vigil raises on purpose: a message and, where it helps, ``problems``
    (what is wrong and where, one per input)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        self.problems: list[Problem] = list(problems or [])
        detail = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{message}\n{detail}" if detail else message)
        self.summary = message


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, and where it is.

    ``location`` is a dotted path (``$.amount``), a ``file:line:col`` or ``row 12, column amount``.
    """

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class InvalidInputError(VigilError):
    """A value that came from outside Vigil is wrong; ``problems`` says what and where."""


class DataImportError(InvalidInputError):
    """An imported dataset has bad rows; every row error is in ``problems``."""


class ConfigError(VigilError):
    """Settings or a configuration file are wrong."""


class FeatureSpecError(ConfigError):
    """The feature spec file is wrong."""


class RuleSetError(ConfigError):
    """A rule set does not load; each problem carries ``file:line:col`` and the rule id."""


class ModelArtifactError(VigilError):
    """A model artifact is missing, corrupt, or does not match the feature specs."""


class NotFoundError(VigilError):
    """A requested record does not exist."""


class ConflictError(VigilError):
    """An idempotency key was reused with a different payload; ``problems`` name the fields."""


class AuthError(VigilError):
    """Credentials are missing, unknown or revoked."""


class ForbiddenError(AuthError):
    """Credentials are valid but lack the scope the action needs."""


class RateLimitedError(VigilError):
    """A client used up its request limit; it may retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class DependencyUnavailableError(VigilError):
    """A service Vigil depends on (Redis, PostgreSQL, a deployment) did not answer in time."""
