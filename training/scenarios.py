"""Labelled fraud scenarios, each drawn vectorized as a batch of incidents of several rows.

Every scenario leaves a trace a good feature can find, and shares some traits with legitimate
behaviour so that finding it is not trivial:

- ``card_testing``: bursts of tiny amounts at one to three digital merchants within minutes (legit
  people buy cheap digital goods and ride the metro too; some bursts are slow).
- ``account_takeover``: a never-seen device, usually a new country, large online amounts (travellers
  change country, people buy new phones and big-ticket items).
- ``compromised_merchant``: one merchant charges many accounts over days, amounts a little above
  usual, at normal business hours.
- ``stolen_card_spree``: many card-present purchases and withdrawals in an hour or two, high
  amounts, in the victim's own country.
- ``mule_device``: one device used by many accounts for transfers and quasi-cash (households share
  devices too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from training.world import (
    ATM,
    CATEGORIES,
    COUNTRIES,
    COUNTRY_FRAUD,
    COUNTRY_HOME,
    COUNTRY_TRAVEL,
    ECOMMERCE,
    HOURLY_ACTIVITY,
    MCC_INDEX,
    MOBILE,
    POS,
    SECONDS_PER_DAY,
    TRANSFER,
    FloatArray,
    IntArray,
    Rows,
    World,
    accounts_in,
    entry_modes,
    pick_merchant,
    sample_channels,
    table,
    weights,
)

SCENARIOS: Final = (
    "card_testing",
    "account_takeover",
    "compromised_merchant",
    "stolen_card_spree",
    "mule_device",
)
"""Fraud scenario names; a row's scenario code is its index here plus one (0 is legitimate)."""
SCENARIO_SHARE: Final = table([0.25, 0.2, 0.25, 0.2, 0.1])
_AMOUNT_FACTOR: Final = table([c.amount_factor for c in CATEGORIES])
_UTC_OFFSET: Final = table([c.utc_offset for c in COUNTRIES])


class Allocator:
    """Hands out indices of new fraudster devices and IP addresses, after the legitimate ones."""

    def __init__(self, devices: int, ips: int) -> None:
        self.devices = devices
        self.ips = ips

    def new_devices(self, count: int) -> IntArray:
        """``count`` never-used device indices."""
        self.devices += count
        return np.arange(self.devices - count, self.devices)

    def new_ips(self, count: int) -> IntArray:
        """``count`` never-used IP address indices."""
        self.ips += count
        return np.arange(self.ips - count, self.ips)


@dataclass(frozen=True)
class _Batch:
    """Incidents expanded to rows: ``incident`` of each row and its index within the incident."""

    incidents: int
    incident: IntArray
    index: IntArray

    @property
    def rows(self) -> int:
        return len(self.incident)


def fraud_rows(world: World, total: int, rng: np.random.Generator, ids: Allocator) -> Rows:
    """``total`` fraud rows split across :data:`SCENARIOS` by :data:`SCENARIO_SHARE`."""
    quotas = split(total, SCENARIO_SHARE)
    draws: list[Callable[[World, int, np.random.Generator, Allocator], Rows]] = [
        _card_testing,
        _account_takeover,
        _compromised_merchant,
        _stolen_card_spree,
        _mule_device,
    ]
    return Rows.concat(
        [draw(world, int(q), rng, ids) for draw, q in zip(draws, quotas, strict=True)]
    )


def split(total: int, shares: FloatArray) -> IntArray:
    """``total`` split by ``shares`` into whole numbers summing to ``total`` (largest remainder)."""
    exact = total * weights(shares)
    counts = np.floor(exact).astype(np.int64)
    leftover = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:leftover]] += 1
    return counts


def _batch(quota: int, rng: np.random.Generator, low: int, mean_extra: float, cap: int) -> _Batch:
    """Incidents of ``low + Poisson(mean_extra)`` rows (at most ``cap``), trimmed to ``quota``."""
    sizes = np.zeros(0, dtype=np.int64)
    while sizes.sum() < quota:
        more = int(quota / (low + mean_extra)) + 4
        sizes = np.concatenate((sizes, np.minimum(low + rng.poisson(mean_extra, more), cap)))
    ends = np.cumsum(sizes)
    keep = int(np.searchsorted(ends, quota)) + 1 if quota else 0
    sizes = sizes[:keep]
    if keep:
        sizes[-1] -= int(ends[keep - 1]) - quota
    incident = np.repeat(np.arange(keep), sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])) if keep else sizes
    index = np.arange(quota) - np.repeat(starts, sizes)
    return _Batch(keep, incident, index)


def _spread_in_time(
    batch: _Batch, rng: np.random.Generator, days: int, offsets: FloatArray
) -> FloatArray:
    """Place each incident at a random start so all its ``offsets`` (seconds) fit the period."""
    span = days * SECONDS_PER_DAY
    duration = np.zeros(batch.incidents)
    np.maximum.at(duration, batch.incident, offsets)
    start = rng.random(batch.incidents) * np.maximum(span - duration, 1.0)
    return np.minimum(start[batch.incident] + offsets, span - 1.0)


def _choose(rng: np.random.Generator, codes: tuple[str, ...], size: int) -> IntArray:
    return np.array([MCC_INDEX[c] for c in codes])[rng.integers(0, len(codes), size)]


def daytime_seconds(rng: np.random.Generator, country: IntArray) -> FloatArray:
    """Seconds into the UTC day at a busy local hour of ``country`` (the legitimate rhythm)."""
    hour = rng.choice(24, size=len(country), p=weights(HOURLY_ACTIVITY))
    return (hour + rng.random(len(country)) - _UTC_OFFSET[country]) * 3600.0


def _rows(
    batch: _Batch,
    scenario: str,
    *,
    account: IntArray,
    seconds: FloatArray,
    usd: FloatArray,
    merchant: IntArray,
    channel: IntArray,
    device: IntArray,
    ip: IntArray,
    attributes: IntArray,
) -> Rows:
    code = SCENARIOS.index(scenario) + 1
    return Rows(
        account=account,
        seconds=seconds,
        usd=usd,
        merchant=merchant,
        channel=channel,
        device=device,
        ip=ip,
        attributes=attributes,
        scenario=np.full(batch.rows, code, dtype=np.int64),
    )


def _card_testing(world: World, quota: int, rng: np.random.Generator, ids: Allocator) -> Rows:
    b = _batch(quota, rng, 3, 5.0, 20)
    victim = rng.integers(0, world.accounts, b.incidents)
    foreign = rng.random(b.incidents) < 0.6
    country = np.where(
        foreign, rng.choice(len(COUNTRIES), b.incidents, p=COUNTRY_FRAUD), world.home[victim]
    )
    slot = b.index % rng.integers(1, 4, b.incidents)[b.incident]
    slot_key = rng.random((b.incidents, 3))[b.incident, slot]
    mcc = _choose(rng, ("5815", "5816", "5818", "8398", "5999", "4814"), 3 * b.incidents)
    mcc = mcc.reshape(b.incidents, 3)[b.incident, slot]
    merchant = pick_merchant(world, country[b.incident], mcc, loyalty=slot_key, u=slot_key)
    gaps = rng.exponential(1.0, b.rows) * rng.uniform(10.0, 240.0, b.incidents)[b.incident]
    gaps[b.index == 0] = 0.0
    elapsed = np.cumsum(gaps)
    offsets = elapsed - elapsed[b.index == 0][b.incident]
    base = rng.uniform(0.5, 4.0, b.rows)
    usd = np.where(rng.random(b.rows) < 0.3, np.maximum(1.0, np.round(base)), base)
    channel = np.where(rng.random(b.rows) < 0.8, ECOMMERCE, MOBILE)
    device = np.where(rng.random(b.incidents) < 0.7, ids.new_devices(b.incidents), -1)[b.incident]
    return _rows(
        b,
        "card_testing",
        account=victim[b.incident],
        seconds=_spread_in_time(b, rng, world.days, offsets),
        usd=usd,
        merchant=merchant,
        channel=channel,
        device=device,
        ip=ids.new_ips(b.incidents)[b.incident],
        attributes=entry_modes(channel, rng.random(b.rows), (0.0, 0.0), 0.15),
    )


def _account_takeover(world: World, quota: int, rng: np.random.Generator, ids: Allocator) -> Rows:
    b = _batch(quota, rng, 1, 2.0, 8)
    victim = rng.integers(0, world.accounts, b.incidents)
    elsewhere = rng.choice(len(COUNTRIES), b.incidents, p=weights(COUNTRY_FRAUD + COUNTRY_TRAVEL))
    country = np.where(rng.random(b.incidents) < 0.65, elsewhere, world.home[victim])[b.incident]
    mcc = _choose(rng, ("5732", "5944", "4829", "6051", "4511", "5311", "5818"), b.rows)
    channel = np.where(rng.random(b.rows) < 0.5, MOBILE, ECOMMERCE)
    channel = np.where((mcc == MCC_INDEX["4829"]) & (rng.random(b.rows) < 0.5), TRANSFER, channel)
    account = victim[b.incident]
    usd = world.median_usd[account] * rng.uniform(4.0, 20.0, b.rows) * rng.lognormal(0, 0.3, b.rows)
    offsets = rng.random(b.rows) * rng.uniform(1800.0, 6 * 3600.0, b.incidents)[b.incident]
    ip = ids.new_ips(b.incidents)[b.incident]
    return _rows(
        b,
        "account_takeover",
        account=account,
        seconds=_spread_in_time(b, rng, world.days, offsets),
        usd=np.clip(usd, 50.0, 10_000.0),
        merchant=pick_merchant(
            world, country, mcc, loyalty=np.full(b.rows, np.nan), u=rng.random(b.rows)
        ),
        channel=channel,
        device=ids.new_devices(b.incidents)[b.incident],
        ip=np.where(channel == TRANSFER, -1, ip),
        attributes=entry_modes(channel, rng.random(b.rows), (0.0, 0.0), 0.6),
    )


def _compromised_merchant(
    world: World, quota: int, rng: np.random.Generator, ids: Allocator
) -> Rows:
    b = _batch(quota, rng, 8, 20.0, 60)
    where = rng.choice(len(COUNTRIES), b.incidents, p=weights(COUNTRY_HOME + 0.3 * COUNTRY_TRAVEL))
    kind = _choose(
        rng, ("5812", "5541", "5411", "5999", "5311", "5814", "7011", "5732"), b.incidents
    )
    shop = pick_merchant(
        world, where, kind, loyalty=np.full(b.incidents, np.nan), u=rng.random(b.incidents)
    )
    country = where[b.incident]
    mcc = kind[b.incident]
    random_victim = rng.integers(0, world.accounts, b.rows)
    local = rng.random(b.rows) < 0.7
    victim = np.where(
        local, accounts_in(world, country, rng.random(b.rows), random_victim), random_victim
    )
    repeat = (rng.random(b.rows) < 0.25) & (b.index > 0)
    victim = np.where(repeat, np.roll(victim, 1), victim)
    period = np.minimum(2 + rng.poisson(4.0, b.incidents), world.days)
    day = (rng.random(b.rows) * period[b.incident]).astype(np.int64)
    offsets = day.astype(np.float64) * SECONDS_PER_DAY + np.mod(
        daytime_seconds(rng, country), SECONDS_PER_DAY
    )
    usd = world.median_usd[victim] * _AMOUNT_FACTOR[mcc] * rng.uniform(1.0, 3.0, b.rows)
    channel = sample_channels(mcc, rng.random(b.rows))
    online = (channel == ECOMMERCE) | (channel == MOBILE)
    with_device = online & (rng.random(b.rows) < 0.5)
    return _rows(
        b,
        "compromised_merchant",
        account=victim,
        seconds=_spread_in_time(b, rng, world.days, offsets),
        usd=usd * rng.lognormal(0, 0.3, b.rows),
        merchant=shop[b.incident],
        channel=channel,
        device=np.where(with_device, ids.new_devices(b.rows), -1),
        ip=np.where(with_device, ids.new_ips(b.rows), -1),
        attributes=entry_modes(channel, rng.random(b.rows), (0.3, 0.3), 0.3),
    )


def _stolen_card_spree(world: World, quota: int, rng: np.random.Generator, ids: Allocator) -> Rows:
    del ids  # a stolen card is used in shops: no device, no IP address
    b = _batch(quota, rng, 4, 6.0, 25)
    victim = rng.integers(0, world.accounts, b.incidents)
    away = rng.choice(len(COUNTRIES), b.incidents, p=COUNTRY_TRAVEL)
    country = np.where(rng.random(b.incidents) < 0.85, world.home[victim], away)[b.incident]
    codes = ("5732", "5944", "5311", "6011", "5541", "5300", "5651", "5999", "5912")
    mcc = _choose(rng, codes, b.rows)
    channel = np.where(mcc == MCC_INDEX["6011"], ATM, POS)
    account = victim[b.incident]
    usd = world.median_usd[account] * _AMOUNT_FACTOR[mcc] * rng.uniform(1.5, 5.0, b.rows)
    offsets = rng.random(b.rows) * rng.uniform(1800.0, 4 * 3600.0, b.incidents)[b.incident]
    return _rows(
        b,
        "stolen_card_spree",
        account=account,
        seconds=_spread_in_time(b, rng, world.days, offsets),
        usd=np.minimum(usd, 5_000.0),
        merchant=pick_merchant(
            world, country, mcc, loyalty=np.full(b.rows, np.nan), u=rng.random(b.rows)
        ),
        channel=channel,
        device=np.full(b.rows, -1),
        ip=np.full(b.rows, -1),
        attributes=entry_modes(channel, rng.random(b.rows), (0.3, 0.45), 0.0),
    )


def _mule_device(world: World, quota: int, rng: np.random.Generator, ids: Allocator) -> Rows:
    b = _batch(quota, rng, 5, 10.0, 40)
    victim = rng.integers(0, world.accounts, b.rows)
    victim = np.where((rng.random(b.rows) < 0.4) & (b.index > 0), np.roll(victim, 1), victim)
    elsewhere = rng.choice(len(COUNTRIES), b.rows, p=COUNTRY_FRAUD)
    country = np.where(rng.random(b.rows) < 0.8, world.home[victim], elsewhere)
    mcc = np.array([MCC_INDEX["4829"], MCC_INDEX["6051"], MCC_INDEX["5818"]])[
        rng.choice(3, b.rows, p=[0.5, 0.25, 0.25])
    ]
    u = rng.random(b.rows)
    channel = np.where(u < 0.6, MOBILE, np.where(u < 0.8, TRANSFER, ECOMMERCE))
    channel = np.where((channel == TRANSFER) & (mcc != MCC_INDEX["4829"]), MOBILE, channel)
    period = rng.uniform(1.0, 5.0, b.incidents) * SECONDS_PER_DAY
    pool_size = rng.integers(1, 4, b.incidents)[b.incident]
    pick = (rng.random(b.rows) * pool_size).astype(np.int64)
    ip = ids.new_ips(3 * b.incidents)[3 * b.incident + pick]
    return _rows(
        b,
        "mule_device",
        account=victim,
        seconds=_spread_in_time(b, rng, world.days, rng.random(b.rows) * period[b.incident]),
        usd=np.clip(rng.lognormal(np.log(250.0), 0.7, b.rows), 10.0, 5_000.0),
        merchant=pick_merchant(
            world, country, mcc, loyalty=np.full(b.rows, np.nan), u=rng.random(b.rows)
        ),
        channel=channel,
        device=ids.new_devices(b.incidents)[b.incident],
        ip=np.where(channel == TRANSFER, -1, ip),
        attributes=entry_modes(channel, rng.random(b.rows), (0.0, 0.0), 0.5),
    )
