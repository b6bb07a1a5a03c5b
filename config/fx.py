"""The FX table: one base currency and the rate of every currency Vigil converts to it.

Amount features and rule thresholds compare amounts across accounts and merchants, so they are
computed in one base currency (``config/fx.yaml``, setting ``fx_file``); the stored transaction
keeps its original amount and currency. Format::

    base: USD                 # ISO 4217 code of the base currency
    rates:                    # units of base per 1 unit of the currency (> 0, finite)
      USD: 1                  # the base itself: 1 (may be left out)
      EUR: 1.086956522        # a number, or a quoted decimal string for more than 15 digits
      JPY: 0.006666666667

Every problem is reported at once as ``file:line:col: message`` (:class:`ConfigError`). A
currency without a rate is refused at the gateway (400 naming ``$.currency``).

**Conversion** (:meth:`FxTable.base_units`, the one function the online store, the offline
computation and the rules use): an amount ``a`` with at most four decimals is the integer
``u = a * 10**4`` (1e-4 units); its base amount is ``round_half_up(u * rate)`` 1e-4 base units,
computed exactly with integers (``rate = n / d``: ``(2·u·n + d) // (2·d)``). Rounding once, on the
same 1e-4 grid, keeps the online and offline values bit for bit equal.

The table's :attr:`FxTable.version` is a content hash of the base and the exact rates (comments,
formatting, key order and ``1.50`` vs ``1.5`` do not change it); it is part of the feature set's
version.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import msgspec
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarbool import ScalarBoolean

from config.yaml_source import key_at, node_at, read_yaml, unknown_keys, value_at
from core.codes import currency_codes
from core.errors import ConfigError, InvalidInputError, Problem
from core.models import MAX_AMOUNT_DECIMALS

AMOUNT_SCALE: Final = 10**MAX_AMOUNT_DECIMALS
"""Amounts are converted on the integer grid of 1e-4 units (features use the same grid)."""
_TOP_KEYS: Final = ("base", "rates")
_BASE_RATE: Final = Decimal(1)


class FxTable:
    """Rates to one base currency; immutable, hashable, equal when base and rates are."""

    __slots__ = ("_ratios", "base", "rates", "source")

    def __init__(self, base: str, rates: Mapping[str, Decimal], source: str = "") -> None:
        """``rates`` are units of ``base`` per unit of each currency; ``base`` rates 1."""
        all_rates = {base: _BASE_RATE, **rates}
        problems = [
            Problem(f"rates.{code}", f"must be a finite number greater than 0, got {rate}")
            for code, rate in all_rates.items()
            if not rate.is_finite() or rate <= 0
        ]
        if all_rates[base] != _BASE_RATE:
            problems.append(Problem(f"rates.{base}", "the base currency's rate must be 1"))
        if problems:
            raise ConfigError("invalid FX table", problems)
        self.base = base
        self.rates: Mapping[str, Decimal] = MappingProxyType(dict(sorted(all_rates.items())))
        self.source = source
        """Where the table was read from (for messages); not part of its identity."""
        self._ratios = {code: rate.as_integer_ratio() for code, rate in self.rates.items()}

    def __repr__(self) -> str:
        return (
            f"FxTable(base={self.base!r}, currencies={len(self.rates)}, version={self.version!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FxTable):
            return NotImplemented
        return self.base == other.base and self._ratios == other._ratios

    def __hash__(self) -> int:
        return hash(self.version)

    @property
    def currencies(self) -> frozenset[str]:
        """Every currency with a rate (the base included)."""
        return frozenset(self.rates)

    @property
    def version(self) -> str:
        """First 16 hex digits of a SHA-256 over the base and the exact rates, sorted."""
        payload = msgspec.json.encode(
            {"base": self.base, "rates": [[c, n, d] for c, (n, d) in self._ratios.items()]}
        )
        return hashlib.sha256(payload).hexdigest()[:16]

    def has_rate(self, currency: str) -> bool:
        """Whether ``currency`` can be converted."""
        return currency in self._ratios

    def convert_units(self, units: int, currency: str) -> int:
        """``units`` (1e-4 units of ``currency``, ≥ 0) in 1e-4 base units, rounded half up.

        Raises :class:`InvalidInputError` naming ``currency`` when it has no rate.
        """
        ratio = self._ratios.get(currency)
        if ratio is None:
            raise InvalidInputError(
                "the currency has no exchange rate", [self.missing_rate(currency, "currency")]
            )
        numerator, denominator = ratio
        if denominator == 1 and numerator == 1:
            return units
        return (2 * units * numerator + denominator) // (2 * denominator)

    def ratio(self, currency: str) -> tuple[int, int] | None:
        """The rate of ``currency`` as an exact fraction ``(numerator, denominator)``."""
        return self._ratios.get(currency)

    def base_units(self, amount: Decimal, currency: str) -> int:
        """``amount`` of ``currency`` (at most four decimals) in 1e-4 base-currency units."""
        scaled = amount.scaleb(MAX_AMOUNT_DECIMALS)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"amount {amount} has more than {MAX_AMOUNT_DECIMALS} decimal places")
        return self.convert_units(int(scaled), currency)

    def base_amount(self, amount: Decimal, currency: str) -> float | None:
        """``amount`` in the base currency as the double features use (``units / 10⁴``), or
        ``None`` when ``currency`` has no rate."""
        if currency not in self._ratios:
            return None
        return self.base_units(amount, currency) / AMOUNT_SCALE

    def missing_rate(self, currency: str, location: str) -> Problem:
        """The problem of a ``currency`` without a rate, at ``location`` (``$.currency``)."""
        where = f" in {self.source}" if self.source else ""
        return Problem(
            location,
            f"{currency!r} has no exchange rate{where}; accepted: {', '.join(self.rates)}",
        )


def load_fx_table(path: Path) -> FxTable:
    """The FX table in ``path``; :class:`ConfigError` lists each problem's ``file:line:col``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read FX table {path}", [Problem(str(path), exc.strerror or str(exc))]
        ) from None
    return parse_fx_table(text, str(path))


def parse_fx_table(text: str, source: str) -> FxTable:
    """The FX table in ``text``; :class:`ConfigError` lists every problem at
    ``source:line:col``."""
    root = read_yaml(text, source)
    if not isinstance(root, CommentedMap):
        raise ConfigError(
            f"{source} is not a valid FX table",
            [Problem(f"{source}:1:1", "must be a mapping with `base` and `rates`")],
        )
    problems = unknown_keys(
        source, root, _TOP_KEYS, lambda key: f"unknown key {key!r}; expected base, rates"
    )
    base = _base(source, root, problems)
    rates = _rates(source, root, base, problems)
    if problems:
        raise ConfigError(f"{source} is not a valid FX table", problems)
    assert base is not None  # noqa: S101 - no problems means a base was read
    return FxTable(base, rates, source)


def _base(source: str, root: CommentedMap, problems: list[Problem]) -> str | None:
    if "base" not in root:
        problems.append(Problem(node_at(source, root), "missing key `base` (the base currency)"))
        return None
    base = root["base"]
    if not isinstance(base, str) or base not in currency_codes():
        problems.append(
            Problem(value_at(source, root, "base"), f"{base!r} is not an ISO 4217 currency code")
        )
        return None
    return base


def _rates(
    source: str, root: CommentedMap, base: str | None, problems: list[Problem]
) -> dict[str, Decimal]:
    if "rates" not in root:
        problems.append(Problem(node_at(source, root), "missing key `rates`"))
        return {}
    node = root["rates"]
    if not isinstance(node, CommentedMap) or not node:
        where = value_at(source, root, "rates")
        problems.append(Problem(where, "must be a non-empty mapping of currency codes to rates"))
        return {}
    rates: dict[str, Decimal] = {}
    for code, raw in node.items():
        if not isinstance(code, str) or code not in currency_codes():
            problems.append(
                Problem(key_at(source, node, code), f"{code!r} is not an ISO 4217 currency code")
            )
            continue
        where = value_at(source, node, code)
        rate = _decimal(raw)
        if rate is None:
            problems.append(Problem(where, f"the rate must be a number, got {raw!r}"))
        elif not rate.is_finite() or rate <= 0:
            problems.append(
                Problem(where, f"the rate must be finite and greater than 0, got {raw}")
            )
        elif code == base and rate != _BASE_RATE:
            problems.append(Problem(where, f"the base currency {base} must have rate 1, got {raw}"))
        else:
            rates[code] = rate
    return rates


def _decimal(raw: Any) -> Decimal | None:
    """A YAML rate as the decimal it was written as (a float through its shortest repr)."""
    if isinstance(raw, bool | ScalarBoolean):
        return None
    if isinstance(raw, int):
        return Decimal(int(raw))
    if isinstance(raw, float):
        value = float(raw)
        return Decimal(repr(value)) if math.isfinite(value) else Decimal(value)
    if isinstance(raw, str):
        try:
            return Decimal(raw.strip())
        except InvalidOperation:
            return None
    return None


__all__ = ["AMOUNT_SCALE", "FxTable", "load_fx_table", "parse_fx_table"]
