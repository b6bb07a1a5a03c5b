"""The one module that binds the Serve application graph.

::

    HTTP → gateway (Litestar, micro-batching) ─┬→ features (Redis, one Lua call per batch)
                                               ├→ rules     ┐ started together,
                                               └→ ensemble  ┘ awaited together

:func:`app_builder` is the application builder named in ``config/serve.yaml``
(``import_path: runtime.graph:app_builder``), so ``serve run config/serve.yaml`` and
``serve deploy`` build the same graph that ``vigil up`` starts.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from engine.stages import ENSEMBLE, FEATURES, RULES
from runtime.app_args import EngineArgs, decode_args
from runtime.deployments import gateway_deployment, stage_deployment

features_deployment = stage_deployment(FEATURES, num_cpus=0.125, max_ongoing_requests=64)
rules_deployment = stage_deployment(RULES, num_cpus=0.125, max_ongoing_requests=64)
ensemble_deployment = stage_deployment(ENSEMBLE, num_cpus=0.25, max_ongoing_requests=32)


def build_app(args: EngineArgs) -> Application:
    """The bound application: the gateway ingress holding handles to the three stages."""
    features = features_deployment.bind(FEATURES, args)
    rules = rules_deployment.bind(RULES, args)
    ensemble = ensemble_deployment.bind(ENSEMBLE, args)
    return gateway_deployment.bind(features, rules, ensemble, args)


def app_builder(args: dict[str, Any]) -> Application:
    """Serve's entry point: decode ``args`` (see :class:`EngineArgs`) and bind the graph."""
    return build_app(decode_args(args))
