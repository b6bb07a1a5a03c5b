"""The online feature store: the twin of :func:`features.offline.compute_features` in Redis.

One EVALSHA per batch runs ``features/lua/record_and_compute.lua``, which records each transaction
in the state of its entities (account, device, ip, merchant, ...) and returns the window integers
*as of the transaction's event time*; Python turns them into values with the same formulas as the
offline computation, so exact features are bit-identical. The rows of one call are recorded in
event-time order. A transaction id that was recorded before with the same payload
(:mod:`core.payload`) gets the features computed the first time, and changes nothing; with another
payload it is a conflict, and changes nothing either. Known labels (fraud or legit) are recorded
with one EVALSHA of ``features/lua/record_labels.lua`` per batch, and label-aware features read
them in the same call as every other feature. Key format, state layouts, expiry and the
approximation of hot entities: ``docs/features.md`` §7.

::

    store = OnlineFeatureStore(redis, feature_set)
    await store.load_scripts()
    vectors = await store.record_and_compute(transactions)  # ConflictError on a reused id
    rows = await store.record_each(transactions)  # a PayloadConflict in place of such a row
    await store.record_labels(labels)  # the next transactions' label-aware features see them
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from importlib import resources
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import ConfigError, ConflictError, DependencyUnavailableError, Problem
from core.labels import KnownLabel
from core.models import FeatureVector, Transaction
from core.payload import PayloadConflict
from features.definitions import FeatureSet
from features.online_codec import build_call, build_label_call, decode_rows
from features.online_plan import (
    BUCKETABLE_STATS,
    DEFAULT_BUCKETS_PER_WINDOW,
    KeySpace,
    StorePlan,
    build_plan,
)

DEFAULT_KEY_PREFIX: Final = "vigil:f:"
DEFAULT_MAX_LATENESS: Final = timedelta(hours=1)
"""State is kept this long past the longest window, so late transactions still see it."""
DEFAULT_IDEMPOTENCY_TTL: Final = timedelta(hours=24)
"""How long a transaction id's first features are remembered (a retry within it counts once)."""
HOT_ENTITY_CANDIDATES: Final = ("merchant_id",)
"""Entities bucketed by default, when every one of their specs can be bucketed."""
SCRIPT_NAME: Final = "record_and_compute.lua"
LABEL_SCRIPT_NAME: Final = "record_labels.lua"


def default_bucketed(feature_set: FeatureSet) -> dict[str, int]:
    """The default approximation: each hot-entity candidate whose specs all can be bucketed."""
    return {
        field: DEFAULT_BUCKETS_PER_WINDOW
        for field in HOT_ENTITY_CANDIDATES
        if feature_set.specs_for(field)
        and all(spec.stat in BUCKETABLE_STATS for spec in feature_set.specs_for(field))
    }


def script_source(plan: StorePlan) -> str:
    """The Lua script for ``plan``: the plan as a Lua table, then the generic script."""
    body = (resources.files("features") / "lua" / SCRIPT_NAME).read_text(encoding="utf-8")
    return f"local PLAN = {plan.lua_plan}\n{body}"


def label_script_source(plan: StorePlan) -> str:
    """The label-recording Lua script for ``plan``: its label plan, then the generic script."""
    body = (resources.files("features") / "lua" / LABEL_SCRIPT_NAME).read_text(encoding="utf-8")
    return f"local PLAN = {plan.label_lua_plan}\n{body}"


class _Script:
    """A script's source and SHA-1 (what EVALSHA names)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class OnlineFeatureStore:
    """Records transactions in Redis and returns their features, one round trip per batch.

    ``bucketed`` maps entity fields (or aliases) to buckets per window for entities too hot for
    exact state; ``None`` means :func:`default_bucketed`, ``{}`` keeps every entity exact.
    Every other entity is exact. ``redis`` must return bytes (``decode_responses=False``).
    """

    def __init__(
        self,
        redis: Redis,
        feature_set: FeatureSet,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        bucketed: Mapping[str, int] | None = None,
        max_lateness: timedelta = DEFAULT_MAX_LATENESS,
        idempotency_ttl: timedelta = DEFAULT_IDEMPOTENCY_TTL,
    ) -> None:
        if redis.connection_pool.connection_kwargs.get("decode_responses", False):
            raise ConfigError(
                "the online feature store needs a Redis client that returns bytes",
                [Problem("redis", "create it with decode_responses=False")],
            )
        self._redis = redis
        self._owns_redis = False
        self.plan: StorePlan = build_plan(
            feature_set,
            bucketed=default_bucketed(feature_set) if bucketed is None else bucketed,
            max_lateness_ms=_milliseconds(max_lateness),
            idempotency_ttl_ms=_milliseconds(idempotency_ttl),
        )
        self.keys = KeySpace(key_prefix)
        self._script = _Script(script_source(self.plan))
        self._label_script = _Script(label_script_source(self.plan)) if self.labelled else None

    @classmethod
    async def connect(
        cls, redis_url: str, feature_set: FeatureSet, **options: Any
    ) -> OnlineFeatureStore:
        """A store on its own client for ``redis_url``, script loaded; :meth:`aclose` closes it."""
        store = cls(Redis.from_url(redis_url), feature_set, **options)
        store._owns_redis = True
        try:
            await store.load_scripts()
        except BaseException:
            await store.aclose()
            raise
        return store

    async def aclose(self) -> None:
        """Close the Redis client if this store created it (:meth:`connect`)."""
        if self._owns_redis:
            await self._redis.aclose()

    @property
    def feature_set(self) -> FeatureSet:
        """The specs this store computes."""
        return self.plan.feature_set

    @property
    def labelled(self) -> bool:
        """Whether some feature is label-aware (otherwise :meth:`record_labels` does nothing)."""
        return bool(self.plan.label_entities)

    async def load_scripts(self) -> None:
        """SCRIPT LOAD the Lua scripts (calls also reload them after a Redis restart)."""
        for script in (self._script, self._label_script):
            if script is not None:
                await self._load(script)

    async def _load(self, script: _Script) -> None:
        loaded = await self._call(self._redis.script_load(script.source))
        sha = loaded.decode() if isinstance(loaded, bytes) else str(loaded)
        if sha != script.sha:
            raise DependencyUnavailableError(
                f"Redis returned script SHA {sha}, expected {script.sha}: not a Redis server?"
            )

    async def record_labels(self, labels: Sequence[KnownLabel]) -> int:
        """Make ``labels`` known to the label-aware features, in one round trip; the number of
        labels that changed their transaction's label history.

        Idempotent: a label event (transaction, known-at, label) recorded before changes nothing.
        A transaction's current label is the one known last (of two known at the same instant,
        the later in ``labels`` or recorded later); while it is fraud, the transaction counts as
        known fraud from the first of its run of fraud labels (``docs/features.md`` §3.7).
        """
        if not labels or self._label_script is None:
            return 0
        call = build_label_call(self.plan, self.keys, labels)
        reply = await self._eval(self._label_script, call.keys, call.args)
        return int(reply)

    async def record_each(
        self, txns: Sequence[Transaction]
    ) -> list[FeatureVector | PayloadConflict]:
        """Record each transaction (once per id) and return its features, in order.

        A transaction whose id is already recorded (earlier, or by an earlier row of ``txns``)
        gets the first features if its payload is the same, a :class:`PayloadConflict` if not;
        neither changes anything.
        """
        return await self._run(txns, record=True)

    async def record_and_compute(self, txns: Sequence[Transaction]) -> list[FeatureVector]:
        """:meth:`record_each` for callers that never reuse an id with another payload:
        :class:`ConflictError` (naming every such id) if one did, after recording the others."""
        return _vectors(await self._run(txns, record=True))

    async def compute_only(self, txns: Sequence[Transaction]) -> list[FeatureVector]:
        """Features as if each transaction were recorded now, without recording anything.

        Each transaction sees the stored state only (not the others of the batch); an id that
        was recorded before gets its recorded features (:class:`ConflictError` if it was
        recorded with another payload).
        """
        return _vectors(await self._run(txns, record=False))

    async def ping(self) -> bool:
        """Whether Redis answers."""
        return bool(await self._call(self._redis.ping()))

    async def _run(
        self, txns: Sequence[Transaction], *, record: bool
    ) -> list[FeatureVector | PayloadConflict]:
        if not txns:
            return []
        call = build_call(self.plan, self.keys, txns, record=record)
        replies = await self._eval(self._script, call.keys, call.args)
        return decode_rows(self.plan, txns, replies)

    async def _eval(self, script: _Script, keys: list[str], args: list[bytes]) -> Any:
        arguments: list[str | bytes] = [*keys, *args]
        try:
            return await self._call(self._redis.evalsha(script.sha, len(keys), *arguments))
        except NoScriptError:  # Redis restarted or flushed its script cache
            await self.load_scripts()
            return await self._call(self._redis.evalsha(script.sha, len(keys), *arguments))

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise DependencyUnavailableError(f"Redis (online features) unavailable: {exc}") from exc


async def create_online_store(redis_url: str, feature_set: FeatureSet) -> OnlineFeatureStore:
    """A store on a new client for ``redis_url`` with the default options, script loaded."""
    return await OnlineFeatureStore.connect(redis_url, feature_set)


def _vectors(rows: Sequence[FeatureVector | PayloadConflict]) -> list[FeatureVector]:
    """``rows`` if none is a conflict, else :class:`ConflictError` naming each conflicting id."""
    conflicts = [row.transaction_id for row in rows if isinstance(row, PayloadConflict)]
    if conflicts:
        raise ConflictError(
            "transaction ids already recorded with a different payload",
            [Problem(f"transaction_id {t!r}", "recorded with another payload") for t in conflicts],
        )
    return [row for row in rows if isinstance(row, FeatureVector)]


def _milliseconds(duration: timedelta) -> int:
    return duration // timedelta(milliseconds=1)
