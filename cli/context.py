"""State shared by all subcommands: settings are read once, on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings, load_settings


@dataclass
class CliState:
    """Carried in ``typer.Context.obj``; loads :class:`Settings` lazily, once."""

    config_file: Path | None = None
    _settings: Settings | None = field(default=None, init=False, repr=False)

    @property
    def settings(self) -> Settings:
        """The settings for this invocation (read on first access)."""
        if self._settings is None:
            self._settings = load_settings(self.config_file)
        return self._settings
