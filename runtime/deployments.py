"""The Ray Serve deployments: one :class:`StageReplica` per stage, and the ``gateway`` ingress.

Every stage (``features``, ``rules``, ``ensemble``) runs in the same replica class: it builds its
stage with :func:`engine.components.open_stage` (the objects the in-process scorer uses) and
answers ``handle.remote(method, *args)`` from :class:`runtime.remote_stage.RemoteStage`.
:mod:`runtime.graph` binds them into one application. Options here are defaults for a 2-core
machine (fractional CPUs, raised ``max_ongoing_requests``); ``config/serve.yaml`` overrides them per
deployment.

The gateway is built on its replica (an app object cannot be pickled): ``__serve_build_asgi_app__``
calls :func:`serving.gateway.build_gateway` with the settings, a
:class:`~engine.pipeline.ScoringPipeline` over the three remote stages and the
:class:`~runtime.operations.ServeOperations` behind the admin API.

A stage that can load edits (``rules``) is refreshed on a timer; a stage with a version reports it
after every refresh and batch (metrics, :mod:`runtime.metrics`) and the rules replicas also
announce it in Redis for the admin API (:mod:`runtime.rule_versions`). Each replica configures
logging first thing (:mod:`runtime.replica_logging`); the gateway and the rules replicas also keep
their events in PostgreSQL, flushed by a task on the replica's loop and closed in ``__del__``
(Serve awaits an async ``__del__`` when it stops a replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any, cast

import structlog
from ray import serve
from ray.serve.exceptions import RayServeException
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import VigilError
from engine.components import (
    StageOptions,
    load_feature_set,
    load_registered_model,
    open_stage,
    select_models,
)
from engine.contracts import EnsembleClient, FeatureClient, LabelRecorder, RuleClient
from engine.pipeline import ScoringPipeline
from engine.stages import (
    ENSEMBLE,
    RULES,
    STAGE_METHODS,
    EnsembleStage,
    LabelsToFeatures,
    RuleStage,
)
from runtime.app_args import EngineArgs
from runtime.metrics import MODEL_INFO, RULESET_INFO, DecisionMetrics, VersionInfo, ray_meters
from runtime.operations import ServeOperations
from runtime.remote_stage import RemoteStage
from runtime.replica_logging import configure_replica_logging
from runtime.rule_versions import announce, announcement_ttl_s, withdraw
from runtime.serve_config import selection_of
from serving.gateway import build_gateway
from storage.database import create_engine
from storage.model_registry import ModelRegistry
from storage.stream import open_decision_stream
from storage.urls import require_url

_log = structlog.get_logger("vigil.engine")
_REDIS_TIMEOUT_S = 2.0
"""A stuck Redis must not stall the rule poller (announcements run in its loop)."""
_VERSION_METRICS = {RULES: RULESET_INFO, ENSEMBLE: MODEL_INFO}
_KEEPS_LOGS = frozenset({RULES})
"""Stages whose replicas copy their events into PostgreSQL (rule-set loads and rejections)."""


class StageReplica:
    """Hosts one engine stage on a Serve replica and answers its methods by name."""

    # Serve awaits async constructors (the refresh task needs the replica's running loop).
    async def __init__(self, stage: str, args: EngineArgs) -> None:  # type: ignore[misc]
        settings = args.resolve_settings()
        self._settings = settings
        self._options = StageOptions(top_k=args.top_k, explain=args.explain)
        self._name = stage
        self._methods = STAGE_METHODS[stage]
        self._shipping = configure_replica_logging(settings, keep=stage in _KEEPS_LOGS)
        if self._shipping is not None:
            self._shipping.start()
        self._stage: Any = await open_stage(stage, settings, self._options)
        self._replica_id = _replica_id()
        self._version_info = (
            VersionInfo(ray_meters().gauges[_VERSION_METRICS[stage].name])
            if stage in _VERSION_METRICS
            else None
        )
        self._redis = (
            Redis.from_url(settings.redis_url, socket_timeout=_REDIS_TIMEOUT_S)
            if stage == RULES and settings.redis_url
            else None
        )
        self._announce_failed = False
        self._interval_s = args.rules_poll_interval_s
        await self._report_version()
        _log.info("stage_replica_started", stage=stage, replica_id=self._replica_id)
        self._refresher = (
            asyncio.create_task(self._refresh_forever(), name=f"{stage}-refresh")
            if isinstance(self._stage, RuleStage)
            else None
        )

    async def __call__(self, method: str, *args: Any) -> Any:
        """``stage.<method>(*args)`` for a method the stage answers remotely."""
        if method not in self._methods:
            raise AttributeError(f"the {self._name} stage has no remote method {method!r}")
        result = await getattr(self._stage, method)(*args)
        if self._version_info is not None and method != "version":
            self._version_info.set(await self._stage.version())
        return result

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Serve's in-place update (the ensemble's ``user_config``: the models to score with).

        The new champion and challenger load off the event loop while the current ones keep
        scoring, then both swap in at once. A selection that does not load is logged and the
        replica keeps its models (raising would make Serve restart the replica, and the same
        config would fail again): the admin API checks a model loads before it applies it.
        """
        if not isinstance(self._stage, EnsembleStage):
            _log.warning("reconfigure_ignored", stage=self._name)
            return
        try:
            selection = selection_of(user_config)
            await asyncio.to_thread(
                select_models, self._stage, selection, self._settings, self._options
            )
        except VigilError as exc:
            _log.error(
                "models_not_loaded", error=exc.summary, problems=[str(p) for p in exc.problems]
            )
            return
        await self._report_version()
        champion, challenger = self._stage.models
        _log.info(
            "models_selected",
            replica_id=self._replica_id,
            champion=champion.version,
            challenger=None if challenger is None else challenger.version,
        )

    async def check_health(self) -> None:
        """Unhealthy when the refresh task died (Serve then replaces the replica)."""
        if self._refresher is not None and self._refresher.done():
            raise RuntimeError(f"the {self._name} stage's refresh task stopped")

    async def _refresh_forever(self) -> None:
        structlog.contextvars.bind_contextvars(replica_id=self._replica_id)  # this task only
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self._stage.refresh()
            except Exception as exc:  # noqa: BLE001 - a failed refresh keeps the current stage
                _log.warning("stage_refresh_failed", stage=self._name, error=repr(exc))
            await self._report_version()

    async def _report_version(self) -> None:
        """Publish the version now in use (metric, Redis); log a failure once, not every time."""
        if self._version_info is None:
            return
        version = await self._stage.version()
        self._version_info.set(version)
        if self._redis is None:
            return
        try:
            await announce(
                self._redis,
                self._replica_id,
                version,
                ttl_s=announcement_ttl_s(self._interval_s),
            )
        except (RedisError, OSError) as exc:
            if not self._announce_failed:
                _log.warning("version_announce_failed", stage=self._name, error=repr(exc))
            self._announce_failed = True
        else:
            self._announce_failed = False

    async def __del__(self) -> None:
        """Stop refreshing, withdraw the announcement, close the stage and logs (Serve awaits)."""
        refresher = getattr(self, "_refresher", None)
        if refresher is not None:
            refresher.cancel()
        redis = getattr(self, "_redis", None)
        if redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await withdraw(redis, self._replica_id)
            await redis.aclose()
        stage = getattr(self, "_stage", None)
        if stage is not None and hasattr(stage, "aclose"):
            await stage.aclose()
        shipping = getattr(self, "_shipping", None)
        if shipping is not None:
            await shipping.aclose()


class GatewayReplica:
    """The HTTP ingress: the gateway app built on this replica around the scoring pipeline."""

    # Serve awaits async constructors (the log flusher task needs the replica's running loop).
    async def __init__(  # type: ignore[misc]
        self, features: Any, rules: Any, ensemble: Any, args: EngineArgs
    ) -> None:
        self._settings = args.resolve_settings()
        self._shipping = configure_replica_logging(self._settings, keep=True)
        if self._shipping is not None:
            self._shipping.start()
        redis_url = require_url(self._settings, "redis_url")
        self._scorer = ScoringPipeline(
            features=cast(FeatureClient, RemoteStage(features)),
            rules=cast(RuleClient, RemoteStage(rules)),
            ensemble=cast(EnsembleClient, RemoteStage(ensemble)),
            sink=open_decision_stream(redis_url, replay_window_s=args.idempotency_window_s),
            options=args.pipeline_options(),
            observer=DecisionMetrics(ray_meters()),
        )
        self._label_publisher = LabelsToFeatures(cast(LabelRecorder, RemoteStage(features)))
        self._registry_engine = create_engine(require_url(self._settings, "database_url"))
        feature_set = load_feature_set(self._settings)
        self._operations = ServeOperations(
            redis_url,
            max_replicas=args.max_replicas,
            registry=ModelRegistry(self._registry_engine),
            check_model=lambda ref: _discard(
                load_registered_model(
                    ref, feature_set.names, fx_version=feature_set.fx_version, top_k=0
                )
            ),
        )

    async def __serve_build_asgi_app__(self) -> Any:
        """Build the gateway app here, on the replica (an app object cannot be pickled)."""
        return build_gateway(
            self._settings,
            self._scorer,
            operations=self._operations,
            label_publisher=self._label_publisher,
        )

    async def __del__(self) -> None:
        """Close the admin operations' connections and flush the logs (Serve awaits this)."""
        operations = getattr(self, "_operations", None)
        if operations is not None:
            await operations.aclose()
        registry_engine = getattr(self, "_registry_engine", None)
        if registry_engine is not None:
            await registry_engine.dispose()
        shipping = getattr(self, "_shipping", None)
        if shipping is not None:
            await shipping.aclose()


def _discard(_: object) -> None:
    """Loading was the check; the loaded model itself is not needed here."""


def _replica_id() -> str:
    """This replica's id as Serve reports it (``host:pid`` outside a replica)."""
    try:
        return str(serve.get_replica_context().replica_id.unique_id)
    except RayServeException:
        return f"{socket.gethostname()}:{os.getpid()}"


def stage_deployment(name: str, *, num_cpus: float, max_ongoing_requests: int) -> Any:
    """The Serve deployment hosting stage ``name`` (defaults; ``config/serve.yaml`` overrides)."""
    return serve.deployment(
        name=name,
        ray_actor_options={"num_cpus": num_cpus},
        max_ongoing_requests=max_ongoing_requests,
    )(StageReplica)


gateway_deployment = serve.deployment(
    name="gateway", ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=256
)(serve.ingress()(GatewayReplica))
