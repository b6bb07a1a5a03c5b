"""Import Ray Serve's schema once, without Ray's own deprecation warnings (warnings are errors)."""

from __future__ import annotations

import warnings

from pydantic.warnings import PydanticDeprecatedSince20

from engine import runtime

runtime.apply_ray_environment()  # before the first `import ray` of the session

with warnings.catch_warnings():
    # Ray 2.60's own schema passes pydantic-v1 style Field kwargs; not ours to fix.
    warnings.simplefilter("ignore", PydanticDeprecatedSince20)
    import ray.serve.schema  # noqa: F401
