"""Each engine leases a block of ports no other engine holds and nothing is bound to."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.errors import DependencyUnavailableError
from runtime import engine_ports
from runtime.engine_ports import BLOCK_SIZE, EnginePorts, lease_ports


def test_every_port_an_engine_is_given_lies_in_its_own_block() -> None:
    """Fallback proxy, HAProxy, metrics, direct-ingress ranges: all in the block, all distinct."""
    ports = EnginePorts(20000)
    env = ports.environment()
    singles = [int(env[name]) for name in env if not name.startswith("RAY_SERVE_DIRECT_INGRESS_")]
    ranges = [*ports.ingress_http, *ports.ingress_grpc]
    used = singles + ranges
    assert len(used) == len(set(used))
    assert all(port in ports.ports for port in used)
    assert int(env["RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT"]) == ports.first + BLOCK_SIZE


def test_two_leases_never_share_a_block(tmp_path: Path) -> None:
    """A block locked by one engine (even in the same process) is skipped by the next."""
    first = lease_ports(tmp_path, seed=1)
    second = lease_ports(tmp_path, seed=1)  # same order of blocks: the first one is locked
    try:
        assert set(first.ports.ports).isdisjoint(second.ports.ports)
    finally:
        first.release()
        second.release()
    again = lease_ports(tmp_path, seed=1)
    assert again.ports == first.ports  # released blocks are leased again
    again.release()


def test_a_block_with_a_bound_port_is_skipped(tmp_path: Path) -> None:
    """A port in use (a leftover process, another program) makes its whole block unusable."""
    probe = lease_ports(tmp_path, seed=2)
    probe.release()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", probe.ports.fallback_http))
        squatter.listen()
        lease = lease_ports(tmp_path, seed=2)
        lease.release()
    assert lease.ports != probe.ports


def test_no_free_block_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When every block is taken the error says where the locks are."""
    monkeypatch.setattr(engine_ports, "port_is_free", lambda port: False)
    with pytest.raises(DependencyUnavailableError, match=str(tmp_path)):
        lease_ports(tmp_path)
