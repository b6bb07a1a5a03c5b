"""The Ray Serve deployments: ``features``, ``rules``, ``ensemble`` and the ``gateway`` ingress.

Each deployment is a thin shell around a local stage from :mod:`engine.stages` (the same objects
the in-process scorer uses); :mod:`engine.graph` binds them into one application. Options here
are defaults for a 2-core machine (fractional CPUs, raised ``max_ongoing_requests``);
``config/serve.yaml`` overrides them per deployment.

The gateway is built on its replica: ``__serve_build_asgi_app__`` imports the gateway factory by
its import path (the engine never imports ``serving``) and calls it with the settings, a
:class:`~engine.serve_scorer.ServeScorer` over the three handles and the
:class:`~engine.operations.ServeOperations` behind the admin API.

Metrics (:mod:`engine.metrics`, exported by Ray's metrics agent): the gateway records every
stored decision, each rules replica the rule-set version it scores with (after every poll), each
ensemble replica its model version.

Each replica configures logging first thing (:mod:`engine.replica_logging`); the gateway and the
rules replicas also keep their events in PostgreSQL, flushed by a task on the replica's loop and
closed in ``__del__`` (Serve awaits an async ``__del__`` when it stops a replica). Each rules
replica announces its rule-set version in Redis after every poll (:mod:`engine.rule_versions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
from collections.abc import Sequence
from typing import Any

import structlog
from ray import serve
from ray.serve.exceptions import RayServeException
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.models import FeatureVector, Transaction
from engine.app_args import EngineArgs
from engine.components import (
    import_object,
    load_feature_set,
    load_model,
    open_feature_store,
    require_url,
    watch_rules,
)
from engine.contracts import EnsembleBatch, RuleBatch, StageFailure
from engine.metrics import MODEL_INFO, RULESET_INFO, DecisionMetrics, VersionInfo, ray_meters
from engine.operations import ServeOperations
from engine.replica_logging import configure_replica_logging
from engine.rule_versions import announce, announcement_ttl_s, withdraw
from engine.serve_scorer import ServeScorer
from engine.sink import open_stream_sink
from engine.stages import LocalEnsembleClient, LocalFeatureClient, LocalRuleClient

_log = structlog.get_logger("vigil.engine")
_REDIS_TIMEOUT_S = 2.0
"""A stuck Redis must not stall the rule poller (announcements run in its loop)."""


class FeaturesReplica:
    """Records transactions in the Redis windows and returns their features, a batch per call."""

    # Serve awaits async constructors; mypy only knows synchronous ones.
    async def __init__(self, args: EngineArgs) -> None:  # type: ignore[misc]
        settings = args.resolve_settings()
        configure_replica_logging(settings, keep=False)
        feature_set = load_feature_set(settings)
        store = await open_feature_store(settings, feature_set, factory=args.feature_store_factory)
        self._client = LocalFeatureClient(store)

    async def compute(self, txns: Sequence[Transaction]) -> list[FeatureVector | StageFailure]:
        """One feature vector (or failure) per transaction."""
        return await self._client.compute(txns)


class RulesReplica:
    """Evaluates the current rule set; polls the rule files in the background and hot-swaps."""

    # Serve awaits async constructors (the poller task needs the replica's running loop).
    async def __init__(self, args: EngineArgs) -> None:  # type: ignore[misc]
        settings = args.resolve_settings()
        self._shipping = configure_replica_logging(settings, keep=True)
        if self._shipping is not None:
            self._shipping.start()
        self._watcher = watch_rules(settings, load_feature_set(settings).names)
        self._client = LocalRuleClient(lambda: self._watcher.current)
        self._interval_s = args.rules_poll_interval_s
        self._replica_id = _replica_id()
        self._redis = (
            Redis.from_url(settings.redis_url, socket_timeout=_REDIS_TIMEOUT_S)
            if settings.redis_url
            else None
        )
        self._announce_failed = False
        self._version_info = VersionInfo(ray_meters().gauges[RULESET_INFO.name])
        await self._announce()
        _log.info(
            "rules_replica_started",
            replica_id=self._replica_id,
            ruleset_version=self._watcher.current.version,
        )
        self._poller = asyncio.create_task(self._poll_forever(), name="rules-poller")

    async def evaluate(
        self, txns: Sequence[Transaction], vectors: Sequence[FeatureVector]
    ) -> RuleBatch:
        """Every rule on every row, all with the same rule set."""
        return await self._client.evaluate(txns, vectors)

    async def version(self) -> str:
        """The version now scoring (for ``/ready``)."""
        return await self._client.version()

    async def check_health(self) -> None:
        """Unhealthy when the poller died (Serve then replaces the replica)."""
        if self._poller.done():
            raise RuntimeError("the rule file poller stopped")

    async def _poll_forever(self) -> None:
        structlog.contextvars.bind_contextvars(replica_id=self._replica_id)  # this task only
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await asyncio.to_thread(self._watcher.poll)
            except Exception as exc:  # noqa: BLE001 - a failed poll keeps the current set
                _log.warning("ruleset_poll_failed", error=repr(exc))
            await self._announce()

    async def _announce(self) -> None:
        """Publish the version now scoring (metric, Redis); log a failure once, not every poll."""
        self._version_info.set(self._watcher.current.version)
        if self._redis is None:
            return
        try:
            await announce(
                self._redis,
                self._replica_id,
                self._watcher.current.version,
                ttl_s=announcement_ttl_s(self._interval_s),
            )
        except (RedisError, OSError) as exc:
            if not self._announce_failed:
                _log.warning("ruleset_announce_failed", error=repr(exc))
            self._announce_failed = True
        else:
            self._announce_failed = False

    async def __del__(self) -> None:
        """Stop polling, withdraw the announcement, flush the logs (Serve awaits this)."""
        with contextlib.suppress(AttributeError):
            self._poller.cancel()
        redis = getattr(self, "_redis", None)
        if redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await withdraw(redis, self._replica_id)
            await redis.aclose()
        shipping = getattr(self, "_shipping", None)
        if shipping is not None:
            await shipping.aclose()


class EnsembleReplica:
    """Scores feature vectors with the model artifact, off the replica's event loop."""

    def __init__(self, args: EngineArgs) -> None:
        settings = args.resolve_settings()
        configure_replica_logging(settings, keep=False)
        model = load_model(
            settings, load_feature_set(settings).names, top_k=args.top_k, explain=args.explain
        )
        self._client = LocalEnsembleClient(lambda: model)
        self._model_version = model.version
        self._version_info = VersionInfo(ray_meters().gauges[MODEL_INFO.name])
        self._version_info.set(model.version)

    async def score(self, vectors: Sequence[FeatureVector]) -> EnsembleBatch:
        """One ensemble row (or failure) per vector."""
        self._version_info.set(self._model_version)
        return await self._client.score(vectors)

    async def version(self) -> str:
        """The model version now scoring (for ``/ready``)."""
        return await self._client.version()


class GatewayReplica:
    """The HTTP ingress: the gateway app built on this replica around a :class:`ServeScorer`."""

    # Serve awaits async constructors (the log flusher task needs the replica's running loop).
    async def __init__(  # type: ignore[misc]
        self, features: Any, rules: Any, ensemble: Any, args: EngineArgs
    ) -> None:
        self._args = args
        self._settings = args.resolve_settings()
        self._shipping = configure_replica_logging(self._settings, keep=True)
        if self._shipping is not None:
            self._shipping.start()
        redis_url = require_url(self._settings, "redis_url")
        self._scorer = ServeScorer(
            features=features,
            rules=rules,
            ensemble=ensemble,
            sink=open_stream_sink(redis_url, replay_window_s=args.idempotency_window_s),
            options=args.pipeline_options(),
            observer=DecisionMetrics(ray_meters()),
        )
        self._operations = ServeOperations(redis_url, max_replicas=args.max_replicas)

    async def __serve_build_asgi_app__(self) -> Any:
        """Build the gateway app here, on the replica (an app object cannot be pickled)."""
        factory = import_object(self._args.gateway_factory)
        app = factory(self._settings, self._scorer, operations=self._operations)
        if inspect.isawaitable(app):
            app = await app
        return app

    async def __del__(self) -> None:
        """Close the admin operations' connections and flush the logs (Serve awaits this)."""
        operations = getattr(self, "_operations", None)
        if operations is not None:
            await operations.aclose()
        shipping = getattr(self, "_shipping", None)
        if shipping is not None:
            await shipping.aclose()


def _replica_id() -> str:
    """This replica's id as Serve reports it (``host:pid`` outside a replica)."""
    try:
        return str(serve.get_replica_context().replica_id.unique_id)
    except RayServeException:
        return f"{socket.gethostname()}:{os.getpid()}"


features_deployment = serve.deployment(
    name="features", ray_actor_options={"num_cpus": 0.125}, max_ongoing_requests=64
)(FeaturesReplica)
rules_deployment = serve.deployment(
    name="rules", ray_actor_options={"num_cpus": 0.125}, max_ongoing_requests=64
)(RulesReplica)
ensemble_deployment = serve.deployment(
    name="ensemble", ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=32
)(EnsembleReplica)
gateway_deployment = serve.deployment(
    name="gateway", ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=256
)(serve.ingress()(GatewayReplica))
