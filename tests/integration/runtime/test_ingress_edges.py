"""The edges of the engine's ingress: what listens where, and what HAProxy itself answers.

Ray's HAProxy template binds its stats page and Prometheus exporter to every interface, and a
non-loopback Ray node binds its metrics agent there too; the engine keeps them on its host
(127.0.0.1). HAProxy answers a request whose line and headers exceed its 16 KB buffer with its
own 400 before any configuration applies (haproxy/haproxy#3032, HAProxy 2.8): that answer is an
HTML page, which these tests pin down so that a change shows.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.settings import Settings
from runtime import ray_cluster

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net")

_LISTEN = "0A"
_LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}
_SCORE = {
    "transaction_id": "edge-1",
    "account_id": "acct-edge",
    "amount": "12.00",
    "currency": "EUR",
    "merchant_id": "m-edge",
    "merchant_category": "5411",
    "country": "FR",
    "channel": "pos",
}


def _listeners(port: int) -> set[str]:
    """The local addresses on which something listens on TCP ``port`` (IPv4 and IPv6)."""
    found: set[str] = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{name}").read_text(encoding="utf-8").splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != _LISTEN or int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, words))
    return found


def _raw_request(port: int, head: bytes) -> bytes:
    """Send ``head`` (no body) and read the whole answer, even if the sending is cut short."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        with contextlib.suppress(OSError):  # HAProxy answers, closes before reading it all
            connection.sendall(head)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_stats_metrics_and_fallback_listen_on_loopback_only(
    gateway_url: str, engine_settings: Settings
) -> None:
    """HAProxy's stats and exporter, Serve's fallback proxy and Ray's metrics: 127.0.0.1 only."""
    engine = ray_cluster.engine_ports()
    assert engine is not None
    ports = {
        "haproxy stats": engine.haproxy_stats,
        "haproxy metrics": engine.haproxy_metrics,
        "fallback proxy": engine.fallback_http,
        "ray metrics": engine_settings.metrics_port,
        "gateway": engine_settings.http_port,
    }
    listening = {name: _listeners(port) for name, port in ports.items()}
    assert all(listening.values()), listening
    assert all(addresses <= _LOOPBACK for addresses in listening.values()), listening
    stats = httpx.get(f"http://127.0.0.1:{ports['haproxy stats']}/stats", timeout=5)
    exporter = httpx.get(f"http://127.0.0.1:{ports['haproxy metrics']}/metrics", timeout=5)
    assert (stats.status_code, exporter.status_code) == (200, 200)
    assert gateway_url.endswith(f":{ports['gateway']}")


def test_haproxy_error_pages_are_problem_documents(
    gateway_url: str, engine_settings: Settings
) -> None:
    """The running HAProxy sends Vigil's problem pages for 400, 502, 503 and 504."""
    del gateway_url  # the engine must be running
    [config] = ray_cluster.haproxy_directory(engine_settings.data_dir).glob("*/haproxy.cfg")
    errorfiles = {
        int(fields[1]): Path(fields[2])
        for fields in (line.split() for line in config.read_text(encoding="utf-8").splitlines())
        if fields[:1] == ["errorfile"]
    }
    assert sorted(errorfiles) == [400, 502, 503, 504]
    page = errorfiles[503].read_bytes()
    assert page.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Content-Type: application/problem+json\r\n" in page


def _headers_of(answer: bytes) -> tuple[int, dict[str, Any], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_a_100_kb_header_gets_haproxys_400_and_the_engine_keeps_serving(
    gateway_url: str, engine_settings: Settings
) -> None:
    """Over the 16 KB buffer: HAProxy's own HTML 400, connection closed; under it: scored."""
    port = engine_settings.http_port
    huge = (
        b"POST /v1/transactions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + b"x" * 100_000
        + b"\r\nContent-Length: 0\r\n\r\n"
    )
    status, headers, body = _headers_of(_raw_request(port, huge))
    assert status == 400
    assert headers["connection"] == "close"
    assert headers["content-type"] == "text/html"  # HAProxy 2.8: errorfile 400 does not apply
    assert b"400 Bad request" in body
    under = httpx.post(
        f"{gateway_url}/v1/transactions",
        json=_SCORE,
        headers={"Authorization": "Bearer " + "x" * 12_000},  # ignored: auth is off here
        timeout=30,
    )
    assert under.status_code == 200, under.text
