"""``vigil labels import FILE``: known outcomes (chargeback and dispute files) into the label store.

FILE (``.csv``, ``.parquet`` or ``.jsonl``) is read through ``--mapping`` (:mod:`cli.label_mapping`)
or, without one, its canonical columns ``transaction_id,label,known_at[,source]``. Every row is
checked first: one bad row and nothing is imported (the error names the file, the row and the
column). Then the labels go, in batches of at most 1,000, either

* **through a running gateway** (``--gateway URL``, with ``--api-key`` holding the ``label``
  scope): ``POST /v1/labels`` stores them in PostgreSQL and pushes them to the online feature
  store; or
* **straight to PostgreSQL** (``database_url``, or the embedded server ``vigil up`` runs), recorded
  by ``cli:<user>``. The online feature store is not told: this command cannot reach it, and the
  summary says so. Sending the same file through the gateway later pushes them (labels already
  stored come back ``unchanged``, nothing is stored twice).

Unknown transaction ids (and labels known before their transaction happened) are not fatal: the
summary counts them and names the first few.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from cli.context import CliState
from cli.database import login
from core.errors import DependencyUnavailableError, InvalidInputError, Problem
from core.labels import LabelStatus

if TYPE_CHECKING:
    import httpx

    from cli.label_files import LabelLine

BATCH_SIZE: Final = 1000
"""Labels per batch (``POST /v1/labels`` takes at most 1,000 by default)."""
SHOWN: Final = 10
"""How many unknown ids (or early rows) the summary names."""

labels_app = typer.Typer(
    name="labels",
    help="Known outcomes (fraud / legit) of transactions, for learning from them.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``vigil labels`` subcommands to ``app``."""
    app.add_typer(labels_app, name="labels")


@dataclass
class ImportSummary:
    """What an import did, added up over its batches."""

    read: int = 0
    counts: dict[LabelStatus, int] = field(default_factory=lambda: dict.fromkeys(LabelStatus, 0))
    unknown_ids: list[str] = field(default_factory=list)
    early_rows: list[str] = field(default_factory=list)
    """Where the labels known before their transaction are (``row 3``)."""
    online: bool | None = None
    """Pushed to the online store (``None``: not attempted, written to PostgreSQL directly)."""
    online_detail: str | None = None

    def add(self, lines: Sequence[LabelLine], statuses: Sequence[LabelStatus]) -> None:
        """Count one batch's answers (``statuses[i]`` answers ``lines[i]``)."""
        for line, status in zip(lines, statuses, strict=True):
            self.counts[status] += 1
            if status is LabelStatus.UNKNOWN_TRANSACTION:
                self.unknown_ids.append(line.label.transaction_id)
            elif status is LabelStatus.KNOWN_BEFORE_TRANSACTION:
                self.early_rows.append(line.where)

    def lines(self) -> list[str]:
        """The summary, line by line."""
        counts = self.counts
        out = [
            f"recorded {counts[LabelStatus.RECORDED]:,}, "
            f"unchanged {counts[LabelStatus.UNCHANGED]:,}, "
            f"unknown transaction {counts[LabelStatus.UNKNOWN_TRANSACTION]:,}, "
            f"known before the transaction {counts[LabelStatus.KNOWN_BEFORE_TRANSACTION]:,}"
        ]
        if self.unknown_ids:
            ids = list(dict.fromkeys(self.unknown_ids))
            out.append(f"unknown transaction ids: {_first(ids)}")
        if self.early_rows:
            early = _first(self.early_rows)
            out.append(f"known_at before the transaction's own time (not stored): {early}")
        return out


@labels_app.command("import")
def import_labels(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="Labels: .csv, .parquet or .jsonl (e.g. a chargeback or dispute file).",
            dir_okay=False,
        ),
    ],
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            "-m",
            help="YAML file mapping the file's columns to labels (default: the columns are "
            "already transaction_id, label, known_at[, source]).",
            dir_okay=False,
        ),
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option(
            help="Send the labels through this running gateway (stored, and pushed to the "
            "online feature store) instead of writing them to PostgreSQL directly.",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="VIGIL_API_KEY",
            help="API key with the label scope, for --gateway.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Import known outcomes from FILE; a bad row names the file, the row and the column."""
    from cli.label_files import read_label_file  # noqa: PLC0415 - keep `vigil --help` fast
    from cli.label_mapping import DEFAULT_MAPPING, load_label_mapping  # noqa: PLC0415
    from core.clock import SystemClock  # noqa: PLC0415

    if api_key and not gateway:
        raise InvalidInputError(
            "cannot import labels",
            [Problem("--api-key", "is for --gateway; without it labels go to PostgreSQL")],
        )
    chosen = DEFAULT_MAPPING if mapping is None else load_label_mapping(mapping)
    lines = read_label_file(file, chosen, now=SystemClock().now())
    typer.echo(f"read {len(lines):,} labels from {file}")
    if gateway:
        summary = asyncio.run(send_through_gateway(gateway, api_key, lines))
    else:
        summary = _write_to_postgresql(ctx, lines)
    for line in summary.lines():
        typer.echo(line)
    if summary.online is None:
        typer.echo(
            "written to PostgreSQL only: the online feature store was not told (this command "
            "cannot reach it). To push these labels, send the file through a running gateway: "
            "vigil labels import FILE --gateway URL --api-key KEY (stored labels come back "
            "unchanged).",
            err=True,
        )
    elif summary.online:
        typer.echo("stored by the gateway and pushed to the online feature store")
    else:
        typer.echo(
            f"stored by the gateway, but not pushed to the online feature store: "
            f"{summary.online_detail}",
            err=True,
        )


def _write_to_postgresql(ctx: typer.Context, lines: Sequence[LabelLine]) -> ImportSummary:
    from cli.ui_commands import require_schema  # noqa: PLC0415
    from storage.urls import resolve_url  # noqa: PLC0415

    state = ctx.find_object(CliState) or CliState()
    url = resolve_url(state.settings, "database_url")
    require_schema(url)
    return asyncio.run(write_to_postgresql(url, lines, by=f"cli:{login()}"))


async def write_to_postgresql(
    database_url: str, lines: Sequence[LabelLine], *, by: str
) -> ImportSummary:
    """Record ``lines`` in the label store at ``database_url``, one transaction per batch."""
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from storage.database import create_engine  # noqa: PLC0415
    from storage.labels import LabelStore  # noqa: PLC0415

    summary = ImportSummary(read=len(lines))
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        store = LabelStore(engine)
        for start in range(0, len(lines), BATCH_SIZE):
            batch = lines[start : start + BATCH_SIZE]
            outcomes = await store.record([line.label for line in batch], by=by)
            summary.add(batch, [o.status for o in outcomes])
    finally:
        await engine.dispose()
    return summary


async def send_through_gateway(
    url: str,
    api_key: str | None,
    lines: Sequence[LabelLine],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ImportSummary:
    """POST ``lines`` to the gateway at ``url`` in batches; ``transport`` is for tests."""
    from client.gateway import GatewayClient, GatewayUnavailable  # noqa: PLC0415

    summary = ImportSummary(read=len(lines), online=True)
    async with GatewayClient(url, api_key=api_key, timeout_s=60.0, transport=transport) as client:
        for start in range(0, len(lines), BATCH_SIZE):
            batch = lines[start : start + BATCH_SIZE]
            items = [
                {
                    "transaction_id": line.label.transaction_id,
                    "label": line.label.label.value,
                    "known_at": line.label.known_at.isoformat(),
                    "source": line.label.source,
                }
                for line in batch
            ]
            try:
                result = await client.send_labels(items)
            except GatewayUnavailable as exc:
                raise DependencyUnavailableError(
                    f"{exc}; {start:,} of {len(lines):,} labels were sent before this batch "
                    "(sending the whole file again is safe)"
                ) from None
            summary.add(batch, [item.status for item in result.items])
            if not result.online:
                summary.online = False
                summary.online_detail = result.online_detail
    return summary


def _first(values: Sequence[str]) -> str:
    shown = ", ".join(values[:SHOWN])
    return shown if len(values) <= SHOWN else f"{shown}, ... ({len(values):,} in all)"
