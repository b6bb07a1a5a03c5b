"""Which rule-set version each ``rules`` replica scores with, published in Redis.

Every rules replica announces its version after each poll of the rule files: it sets
``vigil:rules:replica:<replica_id>`` to the version with a short expiry and adds its id to the set
``vigil:rules:replicas``. A replica that stops withdraws both; one that dies simply expires. The
admin API reads the set (``SMEMBERS``), then every key in one ``MGET``, and forgets ids whose key
has expired. Reading through the index instead of ``SCAN`` keeps the cost independent of the
feature store's keys, which live in the same database.

:func:`active_version` says which version the deployment as a whole scores with: the one every
replica reports, or ``None`` while they disagree (a rollout in progress, or a bad edit that only
some replicas have seen).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from redis.asyncio import Redis

REPLICA_KEY_PREFIX: Final = "vigil:rules:replica:"
REPLICA_INDEX_KEY: Final = "vigil:rules:replicas"
MIN_TTL_S: Final = 5


def replica_key(replica_id: str) -> str:
    """The key holding ``replica_id``'s version."""
    return f"{REPLICA_KEY_PREFIX}{replica_id}"


def announcement_ttl_s(poll_interval_s: float) -> int:
    """How long an announcement lives: three polls, and at least :data:`MIN_TTL_S` seconds."""
    return max(MIN_TTL_S, math.ceil(3 * poll_interval_s))


def active_version(versions: Mapping[str, str]) -> str | None:
    """The version every replica reports, or ``None`` when they disagree or none reports."""
    distinct = set(versions.values())
    return distinct.pop() if len(distinct) == 1 else None


async def announce(redis: Redis, replica_id: str, version: str, *, ttl_s: int) -> None:
    """Publish that ``replica_id`` scores with ``version`` for the next ``ttl_s`` seconds."""
    await redis.set(replica_key(replica_id), version, ex=ttl_s)
    await redis.sadd(REPLICA_INDEX_KEY, replica_id)


async def withdraw(redis: Redis, replica_id: str) -> None:
    """Forget ``replica_id`` (it is shutting down)."""
    await redis.srem(REPLICA_INDEX_KEY, replica_id)
    await redis.delete(replica_key(replica_id))


async def read_versions(redis: Redis) -> dict[str, str]:
    """Every live replica's version, by replica id (expired ids are removed from the index)."""
    ids = sorted(_text(member) for member in await redis.smembers(REPLICA_INDEX_KEY))
    if not ids:
        return {}
    values = await redis.mget([replica_key(replica_id) for replica_id in ids])
    versions = {rid: _text(value) for rid, value in zip(ids, values, strict=True) if value}
    gone = [rid for rid in ids if rid not in versions]
    if gone:
        await redis.srem(REPLICA_INDEX_KEY, *gone)
    return versions


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
