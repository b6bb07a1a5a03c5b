"""Where the gateway is reached from this machine, derived from its bind address and port."""

from __future__ import annotations

import pytest

from config.settings import Settings


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8123"),
        ("0.0.0.0", "http://127.0.0.1:8123"),  # noqa: S104 - a bind-all address as input
        ("::", "http://127.0.0.1:8123"),
        ("::1", "http://[::1]:8123"),
        ("gateway.internal", "http://gateway.internal:8123"),
    ],
)
def test_gateway_url_is_reachable_from_this_machine(host: str, url: str) -> None:
    """A bind-all address is reached on loopback; IPv6 addresses are bracketed."""
    assert Settings(http_host=host, http_port=8123).gateway_url == url
