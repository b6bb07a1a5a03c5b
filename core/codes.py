"""ISO code tables (ISO 4217 currencies, ISO 3166-1 alpha-2 countries), loaded lazily."""

from __future__ import annotations

from functools import cache

import pycountry


@cache
def currency_codes() -> frozenset[str]:
    """Every ISO 4217 alphabetic currency code."""
    return frozenset(c.alpha_3 for c in pycountry.currencies)


@cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 country code."""
    return frozenset(c.alpha_2 for c in pycountry.countries)
