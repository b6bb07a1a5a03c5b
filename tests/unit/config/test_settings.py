"""Settings are typed, layered, and reject unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from core.errors import ConfigError


def test_defaults_need_no_configuration() -> None:
    """With nothing configured, Vigil runs embedded (no server URLs)."""
    settings = load_settings(environ={})
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.features_file.is_file()


def test_environment_overrides_file(tmp_path: Path) -> None:
    """VIGIL_* variables win over the YAML file, which wins over defaults."""
    file = tmp_path / "vigil.yaml"
    file.write_text("http_port: 9000\nlog_level: debug\n")
    settings = load_settings(file, environ={"VIGIL_HTTP_PORT": "9100"})
    assert settings.http_port == 9100
    assert settings.log_level == "debug"


def test_unknown_environment_variable_is_an_error() -> None:
    """A misspelt VIGIL_* variable is reported by name instead of being ignored."""
    with pytest.raises(ConfigError, match="VIGIL_HTTP_PROT"):
        load_settings(environ={"VIGIL_HTTP_PROT": "1"})


def test_unknown_file_key_is_an_error(tmp_path: Path) -> None:
    """A key in the YAML file that is not a setting is reported with the file name."""
    file = tmp_path / "vigil.yaml"
    file.write_text("http_prot: 9000\n")
    with pytest.raises(ConfigError, match=r"vigil\.yaml:http_prot"):
        load_settings(file, environ={})


def test_invalid_value_names_the_setting() -> None:
    """A value of the wrong type or range names the setting."""
    with pytest.raises(ConfigError, match="http_port"):
        load_settings(environ={"VIGIL_HTTP_PORT": "70000"})


def test_missing_settings_file_is_an_error(tmp_path: Path) -> None:
    """Naming a settings file that does not exist is an error, not silently ignored."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_broken_settings_yaml_names_line_and_column(tmp_path: Path) -> None:
    """Invalid YAML (here a key given twice) in the settings file is reported at file:line:col."""
    file = tmp_path / "vigil.yaml"
    file.write_text("http_port: 9000\nhttp_port: 9001\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(file, environ={})
    assert caught.value.summary == f"{file} is not valid YAML"
    assert [problem.location for problem in caught.value.problems] == [f"{file}:2:1"]


def test_test_suite_variables_are_not_settings() -> None:
    """VIGIL_TEST_* variables (CI's server URLs for the tests) are ignored, not rejected."""
    settings = load_settings(environ={"VIGIL_TEST_REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert settings.redis_url is None
