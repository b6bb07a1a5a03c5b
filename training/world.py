"""The synthetic world transactions happen in: countries, merchant categories, merchants, accounts
and their devices. Reference tables are plain data; :func:`build_world` draws a population from
them with a seeded numpy Generator, as arrays (one entry per account, merchant or device).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from core.models import Channel

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

SECONDS_PER_DAY: Final = 86_400
CHANNELS: Final = tuple(Channel)
"""Channel codes used in the generator are indices into this tuple."""
POS, ECOMMERCE, ATM, TRANSFER, MOBILE, OTHER = range(6)


class Country(NamedTuple):
    """A country: its currency, UTC offset, units per USD, ATM note size and how likely it is the
    home of an account, a travel destination, or the origin of remote fraud."""

    code: str
    currency: str
    minor_digits: int
    utc_offset: float
    per_usd: float
    atm_step: float
    home: float
    travel: float
    fraud: float


COUNTRIES: Final = (
    Country("US", "USD", 2, -5.0, 1.0, 20.0, 0.30, 0.12, 0.10),
    Country("GB", "GBP", 2, 0.0, 0.8, 10.0, 0.10, 0.08, 0.05),
    Country("DE", "EUR", 2, 1.0, 0.92, 10.0, 0.10, 0.05, 0.03),
    Country("FR", "EUR", 2, 1.0, 0.92, 10.0, 0.08, 0.10, 0.03),
    Country("ES", "EUR", 2, 1.0, 0.92, 10.0, 0.05, 0.12, 0.02),
    Country("IT", "EUR", 2, 1.0, 0.92, 10.0, 0.05, 0.10, 0.02),
    Country("NL", "EUR", 2, 1.0, 0.92, 10.0, 0.04, 0.04, 0.03),
    Country("PL", "PLN", 2, 1.0, 4.0, 50.0, 0.04, 0.02, 0.03),
    Country("SE", "SEK", 2, 1.0, 10.5, 100.0, 0.03, 0.02, 0.01),
    Country("CA", "CAD", 2, -5.0, 1.35, 20.0, 0.05, 0.04, 0.02),
    Country("MX", "MXN", 2, -6.0, 17.0, 100.0, 0.03, 0.07, 0.04),
    Country("BR", "BRL", 2, -3.0, 5.0, 50.0, 0.05, 0.03, 0.07),
    Country("IN", "INR", 2, 5.5, 83.0, 500.0, 0.04, 0.02, 0.06),
    Country("JP", "JPY", 0, 9.0, 150.0, 1000.0, 0.02, 0.03, 0.01),
    Country("AU", "AUD", 2, 10.0, 1.5, 20.0, 0.02, 0.02, 0.01),
    Country("PT", "EUR", 2, 0.0, 0.92, 10.0, 0.0, 0.05, 0.01),
    Country("GR", "EUR", 2, 2.0, 0.92, 10.0, 0.0, 0.04, 0.01),
    Country("TR", "TRY", 2, 3.0, 32.0, 200.0, 0.0, 0.03, 0.05),
    Country("TH", "THB", 2, 7.0, 36.0, 500.0, 0.0, 0.03, 0.04),
    Country("AE", "AED", 2, 4.0, 3.67, 100.0, 0.0, 0.01, 0.04),
    Country("NG", "NGN", 2, 1.0, 1500.0, 1000.0, 0.0, 0.005, 0.09),
    Country("RO", "RON", 2, 2.0, 4.6, 50.0, 0.0, 0.01, 0.08),
    Country("UA", "UAH", 2, 2.0, 40.0, 200.0, 0.0, 0.005, 0.06),
    Country("VN", "VND", 0, 7.0, 25000.0, 200000.0, 0.0, 0.01, 0.06),
    Country("ID", "IDR", 2, 7.0, 16000.0, 50000.0, 0.0, 0.01, 0.05),
)


class Category(NamedTuple):
    """A merchant category (ISO 18245 MCC): typical amount relative to an account's median,
    share of everyday spending, and how people pay there (probabilities per channel)."""

    mcc: str
    amount_factor: float
    share: float
    channels: tuple[
        float, float, float, float, float, float
    ]  # pos, ecom, atm, transfer, mobile, other


CATEGORIES: Final = (
    Category("5411", 1.0, 0.20, (0.85, 0.05, 0.0, 0.0, 0.10, 0.0)),  # grocery stores
    Category("5812", 1.1, 0.10, (0.90, 0.0, 0.0, 0.0, 0.10, 0.0)),  # restaurants
    Category("5814", 0.35, 0.10, (0.80, 0.0, 0.0, 0.0, 0.20, 0.0)),  # fast food
    Category("5541", 1.2, 0.07, (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)),  # service stations
    Category("5912", 0.6, 0.05, (0.90, 0.10, 0.0, 0.0, 0.0, 0.0)),  # drug stores
    Category("5311", 1.8, 0.04, (0.60, 0.30, 0.0, 0.0, 0.10, 0.0)),  # department stores
    Category("5651", 1.6, 0.04, (0.50, 0.40, 0.0, 0.0, 0.10, 0.0)),  # clothing
    Category("5732", 3.5, 0.02, (0.40, 0.50, 0.0, 0.0, 0.10, 0.0)),  # electronics
    Category("5999", 1.0, 0.05, (0.50, 0.40, 0.0, 0.0, 0.10, 0.0)),  # misc retail
    Category("5942", 0.7, 0.02, (0.40, 0.60, 0.0, 0.0, 0.0, 0.0)),  # books
    Category("4111", 0.15, 0.05, (0.60, 0.0, 0.0, 0.0, 0.40, 0.0)),  # commuter transport
    Category("4121", 0.6, 0.04, (0.20, 0.0, 0.0, 0.0, 0.80, 0.0)),  # taxis, ride hailing
    Category("4511", 8.0, 0.005, (0.0, 0.80, 0.0, 0.0, 0.20, 0.0)),  # airlines
    Category("7011", 5.0, 0.008, (0.50, 0.50, 0.0, 0.0, 0.0, 0.0)),  # hotels
    Category("4814", 1.3, 0.02, (0.0, 0.60, 0.0, 0.40, 0.0, 0.0)),  # telecom
    Category("4900", 2.5, 0.02, (0.0, 0.30, 0.0, 0.70, 0.0, 0.0)),  # utilities
    Category("5815", 0.25, 0.04, (0.0, 0.50, 0.0, 0.0, 0.50, 0.0)),  # digital media
    Category("5816", 0.35, 0.02, (0.0, 0.50, 0.0, 0.0, 0.50, 0.0)),  # digital games
    Category("5818", 0.3, 0.03, (0.0, 0.50, 0.0, 0.0, 0.50, 0.0)),  # digital goods
    Category("6011", 2.2, 0.04, (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)),  # ATM cash
    Category("5944", 6.0, 0.003, (0.70, 0.30, 0.0, 0.0, 0.0, 0.0)),  # jewelry
    Category("0742", 2.0, 0.006, (0.90, 0.0, 0.0, 0.0, 0.0, 0.10)),  # veterinary services
    Category("7832", 0.5, 0.01, (0.60, 0.20, 0.0, 0.0, 0.20, 0.0)),  # cinemas
    Category("8398", 0.8, 0.004, (0.0, 0.80, 0.0, 0.20, 0.0, 0.0)),  # charities
    Category("4829", 4.0, 0.005, (0.0, 0.0, 0.0, 0.70, 0.30, 0.0)),  # money transfer
    Category("6051", 3.0, 0.003, (0.0, 0.60, 0.0, 0.0, 0.40, 0.0)),  # quasi cash, crypto
    Category("5300", 2.5, 0.01, (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)),  # wholesale clubs
    Category("8011", 2.5, 0.005, (0.80, 0.0, 0.0, 0.0, 0.0, 0.20)),  # doctors
)

_GOLDEN_RATIO: Final = 0.6180339887498949
MCC_INDEX: Final = {category.mcc: i for i, category in enumerate(CATEGORIES)}
TRAVEL_MCCS: Final = ("4511", "7011", "5812", "5814", "4121", "5999", "5311", "6011")
HOURLY_ACTIVITY: Final = np.array(
    [
        *(0.15, 0.08, 0.05, 0.04, 0.05, 0.12, 0.35, 0.7, 1.0, 1.1, 1.2, 1.35),
        *(1.6, 1.45, 1.2, 1.15, 1.25, 1.5, 1.6, 1.5, 1.2, 0.9, 0.6, 0.3),
    ]
)
"""Relative activity per local hour of day: busy at lunch and after work, quiet at night."""
WEEKDAY_ACTIVITY: Final = np.array([0.9, 0.95, 0.95, 1.0, 1.2, 1.3, 0.8])
"""Relative activity Monday..Sunday."""
ATTRIBUTE_TEXTS: Final = (
    '{"entry_mode": "chip"}',
    '{"entry_mode": "contactless"}',
    '{"entry_mode": "magstripe"}',
    '{"entry_mode": "card_not_present", "three_ds": true}',
    '{"entry_mode": "card_not_present", "three_ds": false}',
    '{"entry_mode": "in_app"}',
    '{"entry_mode": "account_transfer"}',
)
CHIP, CONTACTLESS, MAGSTRIPE, CNP_3DS, CNP_NO_3DS, IN_APP, ACCOUNT_TRANSFER = range(7)


def table(values: list[float] | tuple[float, ...]) -> FloatArray:
    """A float array of ``values``."""
    return np.asarray(values, dtype=np.float64)


def weights(values: FloatArray) -> FloatArray:
    """``values`` scaled to sum to 1."""
    return values / float(values.sum())


COUNTRY_HOME: Final = weights(table([c.home for c in COUNTRIES]))
COUNTRY_TRAVEL: Final = weights(table([c.travel for c in COUNTRIES]))
COUNTRY_FRAUD: Final = weights(table([c.fraud for c in COUNTRIES]))
CATEGORY_SHARE: Final = weights(table([c.share for c in CATEGORIES]))
CHANNEL_CUMULATIVE: Final = np.cumsum(np.array([c.channels for c in CATEGORIES]), axis=1)


@dataclass(frozen=True)
class World:
    """A drawn population. Accounts, merchants and devices are referred to by array index."""

    days: int
    home: IntArray
    """Home country of each account."""
    daily_rate: FloatArray
    median_usd: FloatArray
    spread: FloatArray
    """Log-scale standard deviation of each account's amounts."""
    hour_shift: FloatArray
    mobile_first: BoolArray
    category_cumulative: FloatArray
    """Per account, cumulative category preferences offset by the account index (see sampling)."""
    device_start: IntArray
    device_count: IntArray
    device_first_day: IntArray
    """Per device, the first day it may be used (a new phone appears mid-period)."""
    device_ip: IntArray
    partner: IntArray
    """Per account, another account whose first device it sometimes uses (a household), or -1."""
    merchant_country: IntArray
    merchant_mcc: IntArray
    group_start: IntArray
    group_size: IntArray
    """Merchants are sorted by (country, category); group ``country * len(CATEGORIES) + mcc``."""
    accounts_by_country: IntArray
    country_account_start: IntArray
    country_account_count: IntArray

    @property
    def accounts(self) -> int:
        """How many accounts there are."""
        return len(self.home)

    @property
    def devices(self) -> int:
        """How many legitimate devices there are."""
        return len(self.device_first_day)


def build_world(accounts: int, days: int, rng: np.random.Generator) -> World:
    """Draw accounts, their devices and a merchant population for ``days`` days."""
    home = rng.choice(len(COUNTRIES), size=accounts, p=COUNTRY_HOME)
    affinity = rng.dirichlet(CATEGORY_SHARE * 25 + 0.02, size=accounts)
    cumulative = np.cumsum(affinity, axis=1)
    cumulative[:, -1] = 1.0
    device_count = 1 + rng.binomial(2, 0.35, size=accounts)
    device_start = np.concatenate(([0], np.cumsum(device_count)[:-1]))
    devices = int(device_count.sum())
    first_day = np.zeros(devices, dtype=np.int64)
    upgrades = (rng.random(accounts) < 0.15) & (device_count > 1)
    last = device_start + device_count - 1
    first_day[last[upgrades]] = rng.integers(1, max(days, 2), size=int(upgrades.sum()))
    sharing = rng.random(accounts) < 0.03
    partner = np.where(sharing, rng.integers(0, accounts, size=accounts), -1)
    merchant_country, merchant_mcc = _merchants(accounts, rng)
    groups = merchant_country * len(CATEGORIES) + merchant_mcc
    group_size = np.bincount(groups, minlength=len(COUNTRIES) * len(CATEGORIES))
    by_country = np.argsort(home, kind="stable")
    country_count = np.bincount(home, minlength=len(COUNTRIES))
    return World(
        days=days,
        home=home,
        daily_rate=rng.gamma(1.6, 1.5 / 1.6, size=accounts),
        median_usd=np.exp(rng.normal(np.log(30.0), 0.6, size=accounts)),
        spread=rng.uniform(0.5, 1.0, size=accounts),
        hour_shift=rng.normal(0.0, 1.5, size=accounts),
        mobile_first=rng.random(accounts) < 0.4,
        category_cumulative=(cumulative + np.arange(accounts)[:, None]).ravel(),
        device_start=device_start,
        device_count=device_count,
        device_first_day=first_day,
        device_ip=rng.permutation(devices),
        partner=partner,
        merchant_country=merchant_country,
        merchant_mcc=merchant_mcc,
        group_start=np.concatenate(([0], np.cumsum(group_size)[:-1])),
        group_size=group_size,
        accounts_by_country=by_country,
        country_account_start=np.concatenate(([0], np.cumsum(country_count)[:-1])),
        country_account_count=country_count,
    )


def _merchants(accounts: int, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    """At least one merchant per (country, category), more where people live and shop."""
    total = int(np.clip(accounts * 2, 1_000, 50_000))
    country_weight = weights(COUNTRY_HOME + 0.3 * COUNTRY_TRAVEL + 0.01)
    category_weight = weights(np.sqrt(CATEGORY_SHARE))
    expected = total * np.outer(country_weight, category_weight)
    counts = np.maximum(1, rng.poisson(expected)).ravel()
    group = np.repeat(np.arange(counts.size), counts)
    return group // len(CATEGORIES), group % len(CATEGORIES)


def pick_merchant(
    world: World, country: IntArray, mcc: IntArray, *, loyalty: FloatArray, u: FloatArray
) -> IntArray:
    """A merchant of each (country, category). Where ``loyalty`` is given (a per-account number in
    [0, 1), NaN for none) the same account gets the same regular shop; otherwise popular merchants
    come up more often (``u`` uniform in [0, 1))."""
    group = country * len(CATEGORIES) + mcc
    size = world.group_size[group]
    regular = np.mod(loyalty + group * _GOLDEN_RATIO, 1.0)
    share = np.where(np.isnan(loyalty), u**2, regular)
    merchant: IntArray = world.group_start[group] + np.minimum(
        (share * size).astype(np.int64), size - 1
    )
    return merchant


def sample_categories(world: World, account: IntArray, u: FloatArray) -> IntArray:
    """Each row's merchant category, from its account's own preferences (one searchsorted)."""
    flat = np.searchsorted(world.category_cumulative, account + u, side="right")
    mcc: IntArray = np.minimum(flat - account * len(CATEGORIES), len(CATEGORIES) - 1)
    return mcc


def sample_channels(mcc: IntArray, u: FloatArray) -> IntArray:
    """Each row's channel from its category's channel mix."""
    channel: IntArray = (u[:, None] > CHANNEL_CUMULATIVE[mcc]).sum(axis=1)
    return channel.clip(0, len(CHANNELS) - 1)


def accounts_in(world: World, country: IntArray, u: FloatArray, fallback: IntArray) -> IntArray:
    """An account living in each ``country`` (``fallback`` where nobody lives there)."""
    count = world.country_account_count[country]
    offset = world.country_account_start[country] + (u * count).astype(np.int64)
    inside = world.accounts_by_country[np.minimum(offset, world.accounts - 1)]
    return np.where(count > 0, inside, fallback)


@dataclass(frozen=True)
class Rows:
    """Transactions as index arrays; -1 means none for device, ip and attributes."""

    account: IntArray
    seconds: FloatArray
    """Event time in seconds since the dataset's start."""
    usd: FloatArray
    """Amount in US dollars before conversion to the merchant's currency."""
    merchant: IntArray
    channel: IntArray
    device: IntArray
    ip: IntArray
    attributes: IntArray
    scenario: IntArray

    def __len__(self) -> int:
        return len(self.account)

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        """All rows of ``parts``, in order."""
        return Rows(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Rows)}
        )

    def take(self, order: IntArray) -> Rows:
        """The rows at ``order``."""
        return Rows(**{f.name: getattr(self, f.name)[order] for f in fields(Rows)})


def entry_modes(
    channel: IntArray, u: FloatArray, pos_mix: tuple[float, float], three_ds: float
) -> IntArray:
    """How each card was read: for POS ``pos_mix`` = (chip, contactless) shares, rest magstripe;
    online with 3-D Secure at rate ``three_ds``; in-app and transfers as such."""
    chip, contactless = pos_mix
    pos_mode = np.where(u < chip, CHIP, np.where(u < chip + contactless, CONTACTLESS, MAGSTRIPE))
    online = np.where(u < three_ds, CNP_3DS, CNP_NO_3DS)
    return np.select(
        [
            channel == POS,
            channel == ATM,
            channel == ECOMMERCE,
            channel == MOBILE,
            channel == TRANSFER,
        ],
        [pos_mode, CHIP, online, IN_APP, ACCOUNT_TRANSFER],
        default=-1,
    )


def legit_entry_modes(channel: IntArray, u: FloatArray) -> IntArray:
    """Legitimate entry modes: mostly chip and contactless, 3-D Secure on most online payments."""
    return entry_modes(channel, u, (0.55, 0.42), 0.75)
