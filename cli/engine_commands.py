"""``vigil up``, ``down``, ``demo``, ``status``, ``scale``, ``score``: run and talk to the engine.

The work lives in :mod:`runtime.launcher` (start), :mod:`runtime.shutdown` (stop, leftovers of a
killed run), :mod:`runtime.ray_cluster` (Ray and
Serve) and :mod:`client.gateway` (HTTP); these commands parse arguments, read files and print.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import CliState
from core.errors import DataImportError, Problem

if TYPE_CHECKING:
    import pandas as pd

    from client.gateway import Failure, GatewayReply
    from client.retry import Backoff

DEPLOYMENTS = ("gateway", "features", "rules", "ensemble")  # runtime.app_args.DEPLOYMENT_NAMES
_MAX_SHOWN_PROBLEMS = 20

ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", help="API key sent as `Authorization: Bearer <key>`."),
]
NoUiOption = Annotated[bool, typer.Option("--no-ui", help="Do not start the web UI.")]


def register(app: typer.Typer) -> None:
    """Add ``up``, ``down``, ``demo``, ``status``, ``scale`` and ``score`` to ``app``."""
    app.command("up")(up_command)
    app.command("down")(down_command)
    app.command("demo")(demo_command)
    app.command("status")(status_command)
    app.command("scale")(scale_command)
    app.command("score")(score_command)


def up_command(ctx: typer.Context, *, no_ui: NoUiOption = False) -> None:
    """Start Vigil: databases (embedded unless configured), Ray, the gateway, the writer, the UI.

    First stops what a killed earlier run of the same data dir left running (HAProxy, Ray's
    agents, the web app); refuses to start next to a running `vigil up` of that data dir.
    """
    from runtime.launcher import UpOptions, run_up  # noqa: PLC0415 - heavy

    state = _state(ctx)
    run_up(state.settings, UpOptions(config_file=state.config_file, with_ui=not no_ui), typer.echo)


def down_command(ctx: typer.Context) -> None:
    """Stop the `vigil up` of this data dir, or what a killed one left running.

    Sends the running `vigil up` SIGTERM (it stops everything in order, like Ctrl-C), then stops
    leftover processes of the data dir and its embedded PostgreSQL and Redis.
    """
    from runtime.shutdown import run_down  # noqa: PLC0415

    run_down(_state(ctx).settings, typer.echo)


def demo_command(
    ctx: typer.Context,
    *,
    rate: Annotated[float, typer.Option(help="Transactions sent per second.", min=0.1)] = 20.0,
    accounts: Annotated[int, typer.Option(help="Accounts in the generated world.", min=1)] = 300,
    days: Annotated[int, typer.Option(help="Days of history generated.", min=1)] = 14,
    seed: Annotated[int, typer.Option(help="Seed of the generated world.", min=0)] = 0,
    no_ui: NoUiOption = False,
) -> None:
    """`vigil up` without API keys (local demo only), streaming generated transactions to it."""
    from runtime.launcher import DemoFeed, UpOptions, run_up  # noqa: PLC0415 - heavy
    from training.generate import generate_dataset  # noqa: PLC0415

    state = _state(ctx)
    frame = generate_dataset(accounts=accounts, days=days, seed=seed)
    started = datetime.now(UTC)
    shift = started - frame["timestamp"].max().to_pydatetime()
    run_tag = f"demo{int(started.timestamp())}"
    payloads = (
        {**row, "transaction_id": f"{run_tag}-{row['transaction_id']}"}
        for row in frame_payloads(frame.assign(timestamp=frame["timestamp"] + shift))
    )
    typer.echo(f"generated {len(frame)} transactions; sending {rate:g} per second")
    options = UpOptions(
        config_file=state.config_file,
        with_ui=not no_ui,
        demo=DemoFeed(payloads=payloads, rate=rate),
    )
    # A demo runs on one machine for one person: no keys to create first (run_up warns loudly).
    run_up(state.settings.model_copy(update={"auth_enabled": False}), options, typer.echo)


def status_command(ctx: typer.Context) -> None:
    """Show the deployments, their replicas, and the gateway's readiness."""
    from client.gateway import Failure, GatewayClient  # noqa: PLC0415
    from runtime import ray_cluster  # noqa: PLC0415 - imports Ray

    settings = _state(ctx).settings
    info = ray_cluster.RuntimeInfo.read(settings.data_dir)
    ray_cluster.connect_ray(info.ray_address)
    app = ray_cluster.app_state()
    typer.echo(f"application: {app.status} {app.message}".rstrip())
    for deployment in app.deployments:
        replicas = ", ".join(f"{k.lower()} {v}" for k, v in sorted(deployment.replicas.items()))
        typer.echo(f"  {deployment.name:<10} {deployment.status:<10} replicas: {replicas or '-'}")

    async def ready() -> GatewayReply | Failure:
        async with GatewayClient(info.gateway_url) as client:
            return await client.ready()

    reply = asyncio.run(ready())
    if isinstance(reply, Failure):
        typer.echo(f"gateway {info.gateway_url}: unreachable ({reply.error})")
        raise typer.Exit(1)
    typer.echo(f"gateway {info.gateway_url}: HTTP {reply.status}")
    components = reply.body.get("components", []) if isinstance(reply.body, dict) else []
    for component in components:
        mark = "ok " if component.get("ready") else "NOT"
        typer.echo(f"  {mark} {component.get('name')}: {component.get('detail') or ''}".rstrip())
    if not reply.ok:
        raise typer.Exit(1)


def scale_command(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help=f"One of: {', '.join(DEPLOYMENTS)}.")],
    replicas: Annotated[int, typer.Argument(help="Replicas to run.", min=1)],
) -> None:
    """Change a live deployment's replica count without dropping requests."""
    from runtime import ray_cluster  # noqa: PLC0415 - imports Ray

    if deployment not in DEPLOYMENTS:
        raise typer.BadParameter(
            f"unknown deployment {deployment!r}; known: {', '.join(DEPLOYMENTS)}",
            param_hint="DEPLOYMENT",
        )
    info = ray_cluster.RuntimeInfo.read(_state(ctx).settings.data_dir)
    ray_cluster.connect_ray(info.ray_address)
    state = ray_cluster.scale(deployment, replicas)
    typer.echo(f"{deployment}: {state.running_replicas(deployment)} replicas running")


def score_command(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="Transactions: .csv or .parquet (dataset columns) or .jsonl (one JSON object "
            "per line, the API's wire format).",
            exists=True,
            dir_okay=False,
        ),
    ],
    *,
    gateway: Annotated[
        str | None, typer.Option(help="Gateway URL (default: the configured http_host/port).")
    ] = None,
    api_key: ApiKeyOption = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight.", min=1)] = 8,
    retries: Annotated[
        int,
        typer.Option(
            help="Retries of a transaction that got no answer or a 502/503/504 (backoff with "
            "jitter; 4xx answers are final).",
            min=0,
        ),
    ] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print each decision as JSON.")] = False,
) -> None:
    """Submit every transaction in FILE to the gateway and print the decisions."""
    import msgspec  # noqa: PLC0415

    from client.gateway import Failure  # noqa: PLC0415
    from client.retry import Backoff  # noqa: PLC0415

    settings = _state(ctx).settings
    payloads = read_payloads(file)
    url = gateway or settings.gateway_url
    replies = asyncio.run(
        _score_all(
            url, payloads, api_key=api_key, concurrency=concurrency, backoff=Backoff(retries)
        )
    )
    failures = 0
    for payload, (reply, attempts) in zip(payloads, replies, strict=True):
        txn_id = payload.get("transaction_id")
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if isinstance(reply, Failure):
            failures += 1
            typer.echo(f"{txn_id}: request failed{tries}: {reply.error}", err=True)
        elif not reply.ok:
            failures += 1
            typer.echo(f"{txn_id}: HTTP {reply.status}{tries}: {_problem(reply.body)}", err=True)
        elif as_json:
            typer.echo(msgspec.json.encode(reply.body).decode())
        else:
            body = reply.body
            reasons = "; ".join(r.get("message", "") for r in body.get("reasons", [])[:3])
            typer.echo(
                f"{txn_id}  {body.get('outcome', '?'):<6} risk {body.get('risk_score', 0):.3f}"
                f"  {reasons}".rstrip()
            )
    typer.echo(f"{len(payloads) - failures} scored, {failures} failed", err=True)
    if failures:
        raise typer.Exit(1)


async def _score_all(
    url: str,
    payloads: list[dict[str, Any]],
    *,
    api_key: str | None,
    concurrency: int,
    backoff: Backoff,
) -> list[tuple[GatewayReply | Failure, int]]:
    """Each payload's final answer and its number of attempts, in order."""
    import random  # noqa: PLC0415

    from client.gateway import GatewayClient  # noqa: PLC0415
    from client.retry import with_retries  # noqa: PLC0415

    slots = asyncio.Semaphore(concurrency)
    rng = random.Random()  # noqa: S311 - jitter for retries, not a secret
    async with GatewayClient(url, api_key=api_key, max_connections=concurrency) as client:

        async def one(payload: dict[str, Any]) -> tuple[GatewayReply | Failure, int]:
            async with slots:  # a transaction waiting to retry keeps its slot: back-pressure
                return await with_retries(lambda: client.score(payload), backoff, rng=rng)

        return list(await asyncio.gather(*(one(p) for p in payloads)))


def read_payloads(path: Path) -> list[dict[str, Any]]:
    """Wire payloads from a dataset file (.csv / .parquet) or a JSON Lines file (.jsonl).

    Every row is checked before anything is sent; :class:`DataImportError` lists each bad row
    (row and column for datasets, line and field for JSON Lines).
    """
    if path.suffix == ".jsonl":
        return _read_jsonl(path)
    from training.dataset import read_dataset  # noqa: PLC0415 - pandas

    return list(frame_payloads(read_dataset(path)))


def frame_payloads(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """One wire payload per dataset row (labels dropped, missing optional fields omitted)."""
    import json  # noqa: PLC0415

    for row in frame.to_dict(orient="records"):
        payload: dict[str, Any] = {
            "transaction_id": row["transaction_id"],
            "account_id": row["account_id"],
            "amount": repr(float(row["amount"])),
            "currency": row["currency"],
            "timestamp": row["timestamp"].isoformat(),
            "merchant_id": row["merchant_id"],
            "merchant_category": row["merchant_category"],
            "country": row["country"],
            "channel": row["channel"],
        }
        for name in ("device_id", "ip_address"):
            if _present(row.get(name)):
                payload[name] = row[name]
        if _present(row.get("attributes")):
            payload["attributes"] = json.loads(row["attributes"])
        yield payload


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    import msgspec  # noqa: PLC0415

    from serving.wire import TransactionIn  # noqa: PLC0415 - the gateway's own request schema

    payloads: list[dict[str, Any]] = []
    problems: list[Problem] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                msgspec.json.decode(line, type=TransactionIn)
                payloads.append(msgspec.json.decode(line))
            except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
                problems.append(Problem(f"{path}:{number}", str(exc)))
    if problems:
        raise DataImportError(
            f"{path}: {len(problems)} bad lines; nothing was sent", problems[:_MAX_SHOWN_PROBLEMS]
        )
    if not payloads:
        raise DataImportError(f"{path}: no transactions")
    return payloads


def _present(value: object) -> bool:
    if value is None:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _problem(body: object) -> str:
    if isinstance(body, Mapping):
        detail = body.get("detail") or body.get("title") or ""
        problems = body.get("problems") or body.get("errors") or []
        return f"{detail} {problems}".strip() if problems else str(detail)
    return str(body)


def _state(ctx: typer.Context) -> CliState:
    state = ctx.obj
    if not isinstance(state, CliState):
        state = CliState()
        ctx.obj = state
    return state
