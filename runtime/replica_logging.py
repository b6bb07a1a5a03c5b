"""Logging on a Serve replica: JSON lines to the process's own stderr, and optionally PostgreSQL.

In throughput-optimized mode Ray Serve replaces a replica's ``sys.stdout`` / ``sys.stderr`` with
streams that turn every line into a record of its own ``ray.serve`` logger (walking the stack for
each line) and report themselves as a terminal. Events are therefore written to the stream the
process started with (``sys.__stderr__``: Ray's ``worker-*.err`` file under the session's
``logs/``), which is not a terminal, so ``log_format: auto`` renders JSON.

Replicas whose events are worth keeping (the gateway: ``request_completed`` and
``transaction_scored``; the rules replica: ``ruleset_loaded`` / ``ruleset_rejected``) also copy
them into the ``logs`` table through a :class:`~storage.log_shipping.LogShipping`, which the
replica starts on its event loop and closes on shutdown.
"""

from __future__ import annotations

import sys
from typing import TextIO

from config.logging import configure_logging
from config.settings import Settings
from storage.log_shipping import LogShipping


def replica_log_stream() -> TextIO:
    """The stream the process started with (Serve may have replaced ``sys.stderr``)."""
    return sys.__stderr__ if sys.__stderr__ is not None else sys.stderr


def configure_replica_logging(settings: Settings, *, keep: bool) -> LogShipping | None:
    """Configure this replica's logging; with ``keep``, also buffer events for PostgreSQL.

    Returns the (not yet started) :class:`LogShipping` when events are kept, which needs
    ``settings.database_url``; ``None`` otherwise.
    """
    shipping = LogShipping(settings.database_url) if keep and settings.database_url else None
    configure_logging(
        settings,
        extra_processors=[shipping.buffer] if shipping is not None else (),
        stream=replica_log_stream(),
    )
    return shipping
