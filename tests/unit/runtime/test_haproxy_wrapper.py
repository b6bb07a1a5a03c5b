"""HAProxy's config as Ray renders it, rewritten: listeners on the engine's host, problem pages."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from runtime.haproxy_wrapper import ERROR_PAGES, error_page, install, rewrite

RAY_CONFIG = """global
    stats socket /tmp/vigil-hap-x/n/admin.sock mode 666 level admin expose-fd listeners
    tune.bufsize 16384
defaults
    mode http
    timeout connect 5s
    errorfile 502 /tmp/vigil-hap-x/n/500.http
    errorfile 503 /tmp/vigil-hap-x/n/500.http
    errorfile 504 /tmp/vigil-hap-x/n/500.http
    balance leastconn
frontend prometheus
    bind :23951
    mode http
    http-request use-service prometheus-exporter if { path /metrics }
frontend http_frontend
    bind 0.0.0.0:18000
backend http-vigil
    server SERVE_REPLICA_vigil-gateway-f6 127.0.0.1:21736 check
    server SERVE_PROXY_ACTOR-fallback-c6 127.0.0.1:21728 check backup
listen stats
  bind *:31650
  stats enable
"""


def test_stats_and_metrics_listeners_move_to_the_engine_host(tmp_path: Path) -> None:
    """Only the stats and Prometheus binds change; the gateway's own bind is Ray's business."""
    text = rewrite(RAY_CONFIG, host="127.0.0.1", pages_dir=tmp_path)
    binds = [line.strip() for line in text.splitlines() if line.strip().startswith("bind ")]
    assert binds == ["bind 127.0.0.1:23951", "bind 0.0.0.0:18000", "bind 127.0.0.1:31650"]


def test_a_bind_all_host_keeps_rays_listeners(tmp_path: Path) -> None:
    """With http_host 0.0.0.0 (a container) the listeners stay on every interface."""
    text = rewrite(RAY_CONFIG, host="0.0.0.0", pages_dir=tmp_path)  # noqa: S104 - the setting
    assert "    bind :23951" in text
    assert "  bind *:31650" in text


def test_haproxys_own_errors_become_problem_pages(tmp_path: Path) -> None:
    """Ray's 502/503/504 → text/plain 500 pages are replaced by one problem page per status."""
    text = rewrite(RAY_CONFIG, host="127.0.0.1", pages_dir=tmp_path)
    errorfiles = [line.split() for line in text.splitlines() if "errorfile" in line]
    assert errorfiles == [
        ["errorfile", str(status), str(tmp_path / f"{status}.http")]
        for status in (400, 502, 503, 504)
    ]
    assert "500.http" not in text
    assert text.count("defaults") == 1


def test_error_pages_are_complete_http_responses_with_problem_bodies() -> None:
    """Each page parses as status line, headers and an RFC 9457 body of the stated length."""
    for status in ERROR_PAGES:
        head, body = error_page(status).split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        assert lines[0].startswith(f"HTTP/1.1 {status} ")
        assert headers["Content-Type"] == "application/problem+json"
        assert int(headers["Content-Length"]) == len(body)
        problem = json.loads(body)
        assert problem["status"] == status
        assert problem["type"].startswith("urn:vigil:problem:")
    assert b"Retry-After: 1" in error_page(503)


def test_the_wrapper_rewrites_the_config_then_runs_the_real_binary(tmp_path: Path) -> None:
    """The installed wrapper edits the file after -f and execs the binary with the same args."""
    binary = tmp_path / "real-haproxy"
    binary.write_text('#!/bin/sh\necho "$@"\n', encoding="utf-8")
    binary.chmod(0o755)
    config = tmp_path / "haproxy.cfg"
    config.write_text(RAY_CONFIG, encoding="utf-8")
    wrapper = install(tmp_path / "bin", host="127.0.0.1", binary=str(binary))
    done = subprocess.run(  # noqa: S603 - our own files
        [str(wrapper), "-db", "-f", str(config), "-dR"], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["-db", "-f", str(config), "-dR"]
    assert "bind 127.0.0.1:31650" in config.read_text(encoding="utf-8")
    assert (tmp_path / "bin" / "errors" / "503.http").read_bytes() == error_page(503)
