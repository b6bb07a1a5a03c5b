"""Legitimate behaviour, drawn vectorized: how often, when, where and how much each account pays.

Each account has a home country, a daily rate (more on Fridays and Saturdays), a rhythm of the day
(few payments at night, shifted a little per person), preferred merchant categories and regular
shops, a log-normal amount profile, one to three devices (sometimes a new one mid-period, sometimes
a household member's) and, now and then, a trip abroad.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from training.world import (
    CATEGORIES,
    COUNTRIES,
    COUNTRY_TRAVEL,
    ECOMMERCE,
    HOURLY_ACTIVITY,
    MCC_INDEX,
    MOBILE,
    SECONDS_PER_DAY,
    TRAVEL_MCCS,
    WEEKDAY_ACTIVITY,
    BoolArray,
    IntArray,
    Rows,
    World,
    legit_entry_modes,
    pick_merchant,
    sample_categories,
    sample_channels,
    table,
    weights,
)

_AMOUNT_FACTOR = table([c.amount_factor for c in CATEGORIES])
_UTC_OFFSET = table([c.utc_offset for c in COUNTRIES])
_TRAVEL_MCC = np.array([MCC_INDEX[code] for code in TRAVEL_MCCS])


def roaming_ips(world: World) -> int:
    """How many shared IP addresses (mobile carriers, hotel wifi) legitimate roaming uses."""
    return max(256, world.accounts // 4)


def legit_rows(world: World, start: datetime, rng: np.random.Generator) -> Rows:
    """Every legitimate transaction of ``world`` over its days, starting at ``start``."""
    accounts, days = world.accounts, world.days
    weekday = (start.weekday() + np.arange(days)) % 7
    expected = world.daily_rate[:, None] * WEEKDAY_ACTIVITY[weekday][None, :]
    counts = rng.poisson(expected).ravel()
    account = np.repeat(np.repeat(np.arange(accounts), days), counts)
    day = np.repeat(np.tile(np.arange(days), accounts), counts)
    n = len(account)

    travelling, trip_country = _trips(world, account, day, rng)
    mcc = sample_categories(world, account, rng.random(n))
    on_trip_mcc = _TRAVEL_MCC[rng.integers(0, len(_TRAVEL_MCC), n)]
    mcc = np.where(travelling & (rng.random(n) < 0.6), on_trip_mcc, mcc)
    channel = sample_channels(mcc, rng.random(n))
    in_app = (channel == ECOMMERCE) & world.mobile_first[account] & (rng.random(n) < 0.7)
    channel = np.where(in_app, MOBILE, channel)

    country = world.home[account]
    cross_border = (channel == ECOMMERCE) & (rng.random(n) < 0.04)
    country = np.where(cross_border, rng.choice(len(COUNTRIES), n, p=COUNTRY_TRAVEL), country)
    country = np.where(travelling, trip_country, country)
    loyalty = np.where(rng.random(n) < 0.6, rng.random(accounts)[account], np.nan)
    merchant = pick_merchant(world, country, mcc, loyalty=loyalty, u=rng.random(n))

    hour = rng.choice(24, size=n, p=weights(HOURLY_ACTIVITY))
    local_hour = np.mod(hour + rng.random(n) + world.hour_shift[account], 24.0)
    midnight = start.astimezone(UTC)
    since_midnight = midnight - midnight.replace(hour=0, minute=0, second=0, microsecond=0)
    utc_hour = local_hour - _UTC_OFFSET[country] - since_midnight.total_seconds() / 3600.0
    seconds = day * SECONDS_PER_DAY + utc_hour * 3600.0
    amount = world.median_usd[account] * _AMOUNT_FACTOR[mcc]
    online = (channel == ECOMMERCE) | (channel == MOBILE)
    device = _devices(world, account, day, online, rng)
    ip = np.where(online, world.device_ip[np.maximum(device, 0)], -1)
    roaming = online & (travelling | (rng.random(n) < 0.1))
    roaming_ip = world.devices + rng.integers(0, roaming_ips(world), n)
    return Rows(
        account=account,
        seconds=np.mod(seconds, days * SECONDS_PER_DAY),
        usd=amount * np.exp(world.spread[account] * rng.standard_normal(n)),
        merchant=merchant,
        channel=channel,
        device=device,
        ip=np.where(roaming, roaming_ip, ip),
        attributes=legit_entry_modes(channel, rng.random(n)),
        scenario=np.zeros(n, dtype=np.int64),
    )


def _trips(
    world: World, account: IntArray, day: IntArray, rng: np.random.Generator
) -> tuple[BoolArray, IntArray]:
    """At most one trip abroad per account (more likely over longer periods)."""
    accounts = world.accounts
    destination = rng.choice(len(COUNTRIES), accounts, p=COUNTRY_TRAVEL)
    travels = (rng.random(accounts) < min(0.9, 0.15 * world.days / 30)) & (
        destination != world.home
    )
    first = rng.integers(0, world.days, accounts)
    length = 2 + rng.poisson(4.0, accounts)
    away = travels[account] & (day >= first[account]) & (day < first[account] + length[account])
    return away, destination[account]


def _devices(
    world: World, account: IntArray, day: IntArray, online: BoolArray, rng: np.random.Generator
) -> IntArray:
    """The device of each online payment (-1 for card-present ones)."""
    n = len(account)
    first = world.device_start[account]
    device = first + (rng.random(n) * world.device_count[account]).astype(np.int64)
    device = np.where(world.device_first_day[device] > day, first, device)
    partner = world.partner[account]
    borrowed = (partner >= 0) & (rng.random(n) < 0.3)
    device = np.where(borrowed, world.device_start[np.maximum(partner, 0)], device)
    return np.where(online, device, -1)
