"""The Serve application's args are decoded strictly into pipeline options."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from runtime.app_args import decode_args


def test_defaults_decode_to_working_options() -> None:
    """Empty args give the default batching and timeout."""
    args = decode_args({})
    options = args.pipeline_options()
    assert options.batching.max_batch_size == 64
    assert options.batching.max_wait_s == pytest.approx(0.002)
    assert options.stage_timeout_s == pytest.approx(2.0)


def test_settings_payload_round_trips() -> None:
    """A settings payload in args becomes the same Settings on the replica."""
    args = decode_args({"settings": {"redis_url": "redis://r:1/2", "http_port": 9000}})
    settings = args.resolve_settings()
    assert (settings.redis_url, settings.http_port) == ("redis://r:1/2", 9000)


@pytest.mark.parametrize(
    "args",
    [
        {"batch_max_sise": 10},
        {"batch_max_size": 0},
        {"explain": "sometimes"},
        {"fallback_review": 0.9, "fallback_block": 0.5},
    ],
)
def test_bad_args_are_config_errors(args: dict[str, object]) -> None:
    """Unknown keys, impossible limits and unordered thresholds are rejected."""
    with pytest.raises(ConfigError, match="invalid Serve application args"):
        decode_args(args)
