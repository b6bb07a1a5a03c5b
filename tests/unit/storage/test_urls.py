"""Which database and Redis Vigil uses: configured URLs, running embedded servers, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings
from core.errors import ConfigError, DependencyUnavailableError
from storage.urls import ServiceUrl, env_variable, require_url, resolve_url

DATABASE = "postgresql+asyncpg://u@db/vigil"
REDIS = "redis://cache:6379/0"


@pytest.mark.parametrize(("name", "url"), [("database_url", DATABASE), ("redis_url", REDIS)])
def test_a_configured_url_is_used_as_is(name: ServiceUrl, url: str, tmp_path: Path) -> None:
    """Both questions answer the configured URL without looking for embedded servers."""
    settings = Settings(database_url=DATABASE, redis_url=REDIS, data_dir=tmp_path)
    assert resolve_url(settings, name) == require_url(settings, name) == url


@pytest.mark.parametrize("name", ["database_url", "redis_url"])
def test_no_url_and_no_embedded_server_says_both_ways_out(name: ServiceUrl, tmp_path: Path) -> None:
    """Unset and nothing running under data_dir: the variable to set and `vigil up` are named."""
    with pytest.raises(DependencyUnavailableError) as caught:
        resolve_url(Settings(data_dir=tmp_path), name)
    message = str(caught.value)
    assert env_variable(name) in message
    assert "vigil up" in message
    assert str(tmp_path.resolve()) in message


@pytest.mark.parametrize(
    ("name", "variable"), [("database_url", "VIGIL_DATABASE_URL"), ("redis_url", "VIGIL_REDIS_URL")]
)
def test_a_required_url_that_is_unset_is_a_config_error(
    name: ServiceUrl, variable: str, tmp_path: Path
) -> None:
    """Where the URL must be set by now, its absence is a ConfigError naming the variable."""
    with pytest.raises(ConfigError) as caught:
        require_url(Settings(data_dir=tmp_path), name)
    assert [p.location for p in caught.value.problems] == [variable]
