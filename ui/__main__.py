"""``python -m ui``: serve the web app with the settings from the environment / config file.

``vigil up`` starts the UI this way (with ``VIGIL_DATABASE_URL`` / ``VIGIL_REDIS_URL`` set).
"""

from __future__ import annotations

import sys

from config.settings import load_settings
from core.errors import VigilError


def main() -> None:
    """Load the settings and serve until interrupted; a Vigil error exits 2 with its message."""
    from config.logging import configure_logging  # noqa: PLC0415
    from ui.app import run_ui  # noqa: PLC0415 - settings errors should not wait for NiceGUI

    try:
        settings = load_settings()
        configure_logging(settings)
        run_ui(settings)
    except VigilError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
