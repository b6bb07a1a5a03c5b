"""Serve's HAProxy, started through a wrapper that closes what Ray's config template leaves open.

Ray 2.60 renders HAProxy's config from a fixed template
(``ray/serve/_private/haproxy_templates.py``) with no hook for these:

* the stats page (``listen stats`` → ``bind *:PORT``) and the Prometheus exporter
  (``frontend prometheus`` → ``bind :PORT``) listen on **every interface**; only their ports are
  settings;
* ``errorfile 502/503/504`` point at one text/plain ``500 Internal Server Error`` page, so a dead
  gateway looked like a server bug; HAProxy's own ``400`` (a request it cannot parse, e.g. headers
  over its 16 KB buffer, ``tune.bufsize``) is an HTML page.

Ray does let us name the binary (``RAY_SERVE_HAPROXY_BINARY_PATH``) and runs it as ``<binary> -db
-f <config> ...`` on every start and reload. :func:`install` writes a small executable that runs
this file (stdlib only, with ``python -I``): it rewrites the config named after ``-f`` (under
Ray's own lock file) — both listeners bound to the engine's host, ``errorfile`` 400 / 502 / 503 /
504 pointing at ``application/problem+json`` pages — and then ``exec`` s the real binary with the
same arguments (same pid and command line, which Ray checks before it signals old workers).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import sys
from http import HTTPStatus
from pathlib import Path

WRAPPER_NAME = "haproxy"
_BIND = re.compile(r"^(\s+bind\s+)(\*|[^\s:]*):(\d+)(.*)$")
_LOCAL_SECTIONS = ("frontend prometheus", "listen stats")
_ERRORFILE = re.compile(r"^\s+errorfile\s+\d+\s")
_ANY_HOST = frozenset({"", "*", "0.0.0.0", "::"})  # noqa: S104 - names, not a bind

ERROR_PAGES: dict[int, tuple[str, str, str]] = {
    400: (
        "Bad Request",
        "invalid-input",
        "the request could not be read: it is malformed, or its request line and headers "
        "exceed the proxy's 16 KB buffer",
    ),
    502: (
        "Bad Gateway",
        "dependency-unavailable",
        "the gateway replica closed the connection without an answer; retry",
    ),
    503: (
        "Service Unavailable",
        "dependency-unavailable",
        "no gateway replica is available right now; retry",
    ),
    504: (
        "Gateway Timeout",
        "dependency-unavailable",
        "the gateway replica did not answer in time; retry",
    ),
}
"""HAProxy's own answers: status → (reason, problem type suffix, detail)."""


def error_page(status: int) -> bytes:
    """The raw HTTP response HAProxy sends for ``status`` (an RFC 9457 problem)."""
    reason, kind, detail = ERROR_PAGES[status]
    body = json.dumps(
        {
            "type": f"urn:vigil:problem:{kind}",
            "title": reason,
            "status": status,
            "detail": detail,
        }
    ).encode()
    head = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/problem+json",
        "Cache-Control: no-store",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    if status == HTTPStatus.SERVICE_UNAVAILABLE:  # the one status to come back after
        head.insert(2, "Retry-After: 1")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def rewrite(config: str, *, host: str, pages_dir: Path) -> str:
    """``config`` with its stats and metrics listeners on ``host`` and Vigil's error pages."""
    lines: list[str] = []
    section = ""
    for line in config.splitlines():
        if line and not line[0].isspace():
            section = line.strip()
            lines.append(line)
            if section == "defaults":
                lines.extend(
                    f"    errorfile {status} {pages_dir / f'{status}.http'}"
                    for status in sorted(ERROR_PAGES)
                )
            continue
        if section == "defaults" and _ERRORFILE.match(line):
            continue  # Ray's 502/503/504 → text/plain 500
        bind = _BIND.match(line)
        if bind and section in _LOCAL_SECTIONS and host not in _ANY_HOST:
            lines.append(f"{bind.group(1)}{host}:{bind.group(3)}{bind.group(4)}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def install(directory: Path, *, host: str, binary: str) -> Path:
    """Write the error pages and the wrapper executable into ``directory``; return its path.

    ``binary`` is the real HAProxy; ``host`` where the stats and metrics listeners bind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pages_dir = directory / "errors"
    pages_dir.mkdir(exist_ok=True)
    for status in ERROR_PAGES:
        (pages_dir / f"{status}.http").write_bytes(error_page(status))
    wrapper = directory / WRAPPER_NAME
    command = [sys.executable, "-I", str(Path(__file__).resolve()), host, str(pages_dir), binary]
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper


def _rewrite_file(path: Path, *, host: str, pages_dir: Path) -> None:
    with (path.parent / f"{path.name}.lock").open("a") as lock:  # Ray's own lock (generation)
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            text = path.read_text(encoding="utf-8")
            path.write_text(rewrite(text, host=host, pages_dir=pages_dir), encoding="utf-8")
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def main(argv: list[str]) -> None:
    """``<host> <pages dir> <real binary> <haproxy args...>``: rewrite the config, exec HAProxy."""
    host, pages_dir, binary, *args = argv
    if "-f" in args[:-1]:
        config = Path(args[args.index("-f") + 1])
        if config.is_file():
            _rewrite_file(config, host=host, pages_dir=Path(pages_dir))
    os.execv(binary, [binary, *args])  # noqa: S606 - the HAProxy binary Ray would have run


if __name__ == "__main__":
    main(sys.argv[1:])
