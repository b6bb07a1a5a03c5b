"""Benchmark: the default feature set over ~1 million synthetic transactions.

Run with ``uv run python bench/bench_offline_features.py [--rows N] [--accounts N] [--repeat N]``.
Prints the wall time of each run (p50/p95/p99 over the repeats) and rows per second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from features.offline import compute_features
from features.spec import default_feature_set

_DAYS = 90
_MS_PER_DAY = 86_400_000
_START = pd.Timestamp("2025-01-01", tz="UTC")


def synthetic_transactions(rows: int, accounts: int, seed: int = 7) -> pd.DataFrame:
    """``rows`` transactions over 90 days: skewed account activity, shared devices and IPs."""
    rng = np.random.default_rng(seed)
    activity = rng.pareto(1.5, accounts) + 1.0
    account = rng.choice(accounts, size=rows, p=activity / activity.sum())
    offsets = np.sort(rng.integers(0, _DAYS * _MS_PER_DAY, size=rows))
    device = np.where(rng.random(rows) < 0.9, account * 2 + rng.integers(0, 2, rows), -1)
    device = np.where(rng.random(rows) < 0.01, rng.integers(0, 500, rows), device)
    ip = np.where(rng.random(rows) < 0.8, rng.integers(0, accounts // 2, rows), -1)
    cents = np.maximum(np.round(rng.lognormal(3.5, 1.2, rows) * 100), 1)
    return pd.DataFrame(
        {
            "transaction_id": pd.Series(np.arange(rows)).map("t{}".format),
            "account_id": pd.Series(account).map("acc-{}".format),
            "amount": cents / 100.0,
            "currency": "EUR",
            "timestamp": _START + pd.to_timedelta(offsets, unit="ms"),
            "merchant_id": pd.Series(rng.zipf(1.3, rows) % 20_000).map("m-{}".format),
            "merchant_category": "5411",
            "country": rng.choice(np.array(["FR", "DE", "ES", "IT", "US", "GB"]), rows),
            "channel": "ecommerce",
            "device_id": pd.Series(device).map("dev-{}".format).where(device >= 0, None),
            "ip_address": pd.Series(ip).map(_ip).where(ip >= 0, None),
        }
    )


def _ip(number: int) -> str:
    return f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"


def main() -> None:
    """Time the default feature set on synthetic data."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    df = synthetic_transactions(args.rows, args.accounts)
    print(f"generated {len(df):,} rows in {time.perf_counter() - started:.1f} s")
    feature_set = default_feature_set()
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        features = compute_features(df, feature_set)
        seconds.append(time.perf_counter() - started)
    p50, p95, p99 = np.percentile(seconds, [50, 95, 99])
    print(f"{len(feature_set.names)} features x {len(features):,} rows, {args.repeat} runs")
    print(f"wall time p50 {p50:.2f} s  p95 {p95:.2f} s  p99 {p99:.2f} s")
    print(f"throughput {len(df) / p50:,.0f} rows/s (at p50)")


if __name__ == "__main__":
    main()
