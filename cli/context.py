"""State shared by all subcommands: settings are read once, on first use.

Reading the settings is also when the real ``vigil`` process configures logging from them
(:func:`config.logging.configure_logging`, to stderr), so a command that never needs settings, and
``--help``, never pays for importing the logging stack. Tests that run the Typer app in-process
create a plain ``CliState`` and keep the test runner's logging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings, load_settings


@dataclass
class CliState:
    """Carried in ``typer.Context.obj``; loads :class:`Settings` lazily, once."""

    config_file: Path | None = None
    configure_logging: bool = False
    """Configure logging when the settings are first read (set by ``cli.main.main``)."""
    _settings: Settings | None = field(default=None, init=False, repr=False)

    @property
    def settings(self) -> Settings:
        """The settings for this invocation (read on first access)."""
        if self._settings is None:
            self._settings = load_settings(self.config_file)
            if self.configure_logging:
                from config.logging import configure_logging  # noqa: PLC0415 - see module doc

                configure_logging(self._settings)
        return self._settings
