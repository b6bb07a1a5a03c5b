"""Where the sign-in page may send a browser afterwards: same-origin absolute paths only."""

from __future__ import annotations

import pytest

from ui.auth import DEFAULT_PAGE, login_url, safe_next


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "\t//evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        " /alerts",
        "/alerts\x00",
        "/\u2028/evil.example",
        "/\u200b/evil.example",
        "/login",
        "",
    ],
)
def test_anything_a_browser_could_read_as_another_site_is_refused(target: str) -> None:
    """Tabs, newlines, backslashes, schemes, other hosts and control characters: the default."""
    assert safe_next(target) == DEFAULT_PAGE
    assert login_url(target) == f"/login?next={DEFAULT_PAGE}"


@pytest.mark.parametrize("target", ["/rules", "/alerts/t 1?outcome=block", "/%09/x", "/a//b"])
def test_paths_of_the_app_are_kept(target: str) -> None:
    """A path on this origin (encoded characters and inner double slashes included) is kept."""
    assert safe_next(target) == target
