"""API key text: ``vgl_<prefix>_<secret>``, random, recognisable, stored only as a digest."""

from __future__ import annotations

import hashlib

import pytest

from core.access import Scope
from storage.api_keys import check_new_key, generate_key, key_digest, key_prefix


def test_generated_keys_carry_their_prefix_and_differ() -> None:
    """A new key reads vgl_<prefix>_<secret>, its prefix is recognised, and no two are alike."""
    drawn = [generate_key() for _ in range(200)]
    for prefix, key in drawn:
        assert key.startswith(f"vgl_{prefix}_")
        assert key_prefix(key) == prefix
        assert not prefix.isdigit()
        assert len(key) >= len("vgl_") + 8 + 1 + 43
    assert len({key for _, key in drawn}) == len(drawn)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "vgl_",
        "vgl_abcdefgh_short",
        "xyz_abcdefgh_" + "a" * 43,
        "vgl_ABCDEFGH_" + "a" * 43,
        "vgl_abc_" + "a" * 43,
        "vgl_abcdefgh_" + "a" * 400,
        "Bearer vgl_abcdefgh_" + "a" * 43,
    ],
)
def test_malformed_keys_have_no_prefix(text: str) -> None:
    """Text that is not a well-formed key is rejected without a lookup."""
    assert key_prefix(text) is None


def test_digest_is_the_sha256_of_the_whole_key() -> None:
    """Only the hex SHA-256 of the key text is stored."""
    _, key = generate_key()
    assert key_digest(key) == hashlib.sha256(key.encode()).hexdigest()


def test_new_key_needs_a_name_and_a_scope() -> None:
    """A blank or odd name and an empty scope set are named problems; a good key has none."""
    assert check_new_key("payments-api", {Scope.SCORE}) == []
    locations = [p.location for p in check_new_key(" ", set())]
    assert locations == ["name", "scopes"]
    assert [p.location for p in check_new_key("x" * 65, {Scope.READ})] == ["name"]
