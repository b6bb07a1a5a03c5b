"""Typed settings, read once at the entry point and injected everywhere else.

Sources, highest priority first: keyword arguments, ``VIGIL_*`` environment variables, the YAML file
passed to :func:`load_settings` (or named by ``VIGIL_CONFIG_FILE``), then the defaults below.
Unknown keys are errors in every source.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from core.errors import ConfigError, Problem

CONFIG_DIR = Path(__file__).resolve().parent
"""Where the default YAML files ship (inside the installed ``config`` package)."""
REPO_DIR = CONFIG_DIR.parent
ENV_PREFIX = "VIGIL_"
CONFIG_FILE_ENV = "VIGIL_CONFIG_FILE"
TEST_ENV_PREFIX = "VIGIL_TEST_"
"""Variables for the test suite (server URLs for CI); settings ignore them."""


class Settings(BaseSettings):
    """Everything Vigil can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True
    )

    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg:// URL; unset means an embedded PostgreSQL under data_dir",
    )
    redis_url: str | None = Field(
        default=None, description="redis:// URL; unset means an embedded Redis under data_dir"
    )
    data_dir: Path = Field(default=Path("var"), description="where embedded servers keep state")
    features_file: Path = Field(
        default=CONFIG_DIR / "features.yaml", description="the feature spec file"
    )
    fx_file: Path = Field(
        default=CONFIG_DIR / "fx.yaml",
        description="the FX table: base currency and exchange rates for amount features and rules",
    )
    rules_dir: Path = Field(default=CONFIG_DIR / "rules", description="directory of rule files")
    model_dir: Path = Field(
        default=REPO_DIR / "artifacts" / "default", description="model artifact directory"
    )
    serve_config_file: Path = Field(
        default=CONFIG_DIR / "serve.yaml", description="Ray Serve deployment options"
    )
    http_host: str = Field(default="127.0.0.1", description="gateway bind address")
    http_port: int = Field(default=8000, ge=1, le=65535, description="gateway port")
    ui_host: str = Field(default="127.0.0.1", description="web app bind address")
    ui_port: int = Field(default=8080, ge=1, le=65535, description="web app port")
    metrics_port: int = Field(
        default=9108,
        ge=1,
        le=65535,
        description="Prometheus metrics of the local Ray node (Vigil's and Ray Serve's), at "
        "/metrics",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: JSON unless stdout is a terminal"
    )
    auth_enabled: bool = Field(
        default=True,
        description="require an API key on every /v1 route; false only for local development "
        "(`vigil demo` turns it off), when every request acts with every scope",
    )
    api_key_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="how long a gateway replica trusts a key check; a revoked key stops working "
        "within this many seconds",
    )
    rate_limit_requests: int = Field(
        default=0, ge=0, description="requests per key per rate_limit_window_s; 0: no limit"
    )
    rate_limit_window_s: int = Field(
        default=1, ge=1, le=3600, description="the rate limit's fixed window, in seconds"
    )
    ui_gateway_api_key: SecretStr | None = Field(
        default=None,
        description="the API key (admin scope) the web app sends to the gateway; `vigil up` "
        "issues one and hands it over in the UI process's environment",
    )
    failed_auth_limit: int = Field(
        default=20,
        ge=0,
        description="requests refused with 401 (missing, unknown or revoked API key) allowed per "
        "client address per failed_auth_window_s; more are 429 without a key lookup; 0: no limit",
    )
    failed_auth_window_s: int = Field(
        default=10,
        ge=1,
        le=3600,
        description="the failed-authentication limit's window, in seconds",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only explicit values: :func:`load_settings` merges file, environment and overrides."""
        return (init_settings,)

    @property
    def gateway_url(self) -> str:
        """Where the gateway listens, as seen from this machine: ``http://host:port``.

        A bind-all ``http_host`` (``0.0.0.0``, ``::``) is reached on ``127.0.0.1``; an IPv6
        address is bracketed.
        """
        bind_all = {"0.0.0.0", "::", ""}  # noqa: S104 - recognising a bind-all address, not binding
        host = "127.0.0.1" if self.http_host in bind_all else self.http_host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.http_port}"


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read settings once; raise :class:`ConfigError` naming every bad key.

    ``environ`` defaults to ``os.environ``; it is checked for unknown ``VIGIL_*`` names.
    """
    env = dict(os.environ if environ is None else environ)
    known = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields} | {CONFIG_FILE_ENV}
    unknown = sorted(
        k
        for k in env
        if k.upper().startswith(ENV_PREFIX)
        and not k.upper().startswith(TEST_ENV_PREFIX)
        and k.upper() not in known
    )
    if unknown:
        raise ConfigError(
            "unknown VIGIL_* environment variables",
            [
                Problem(name, f"not a setting; known: {', '.join(sorted(known))}")
                for name in unknown
            ],
        )
    if config_file is None and env.get(CONFIG_FILE_ENV):
        config_file = Path(env[CONFIG_FILE_ENV])
    from_file: dict[str, Any] = {}
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"settings file {config_file} does not exist")
        from_file = _read_yaml_settings(config_file)
        unknown_keys = sorted(set(from_file) - set(Settings.model_fields))
        if unknown_keys:
            raise ConfigError(
                f"unknown keys in {config_file}",
                [Problem(f"{config_file}:{key}", "not a setting") for key in unknown_keys],
            )
    from_env = {
        name: env[f"{ENV_PREFIX}{name}".upper()]
        for name in Settings.model_fields
        if f"{ENV_PREFIX}{name}".upper() in env
    }
    try:
        return Settings(**{**from_file, **from_env, **overrides})
    except ValidationError as exc:
        where = str(config_file) if config_file else "settings"
        raise ConfigError(
            f"invalid {where}",
            [
                Problem(".".join(str(p) for p in err["loc"]), err["msg"])
                for err in exc.errors(include_url=False)
            ],
        ) from None


def _read_yaml_settings(path: Path) -> dict[str, Any]:
    from config.yaml_source import read_yaml  # noqa: PLC0415 - only settings files need YAML

    data = read_yaml(path.read_text(encoding="utf-8"), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must contain a mapping of setting names to values")
    return {str(k): v for k, v in data.items()}
