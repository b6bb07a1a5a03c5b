"""The spec file loader builds feature sets and reports every problem at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import CONFIG_DIR
from core.errors import ConfigError, FeatureSpecError
from features.definitions import Stat, TransactionFeatureKind
from features.spec import DEFAULT_FEATURES_FILE, load_feature_set


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "features.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = _write(tmp_path, text)
    with pytest.raises(FeatureSpecError) as raised:
        load_feature_set(path)
    return [str(problem).replace(str(path), "F") for problem in raised.value.problems]


def test_a_valid_file_loads_in_declaration_order(tmp_path: Path) -> None:
    """Aliases resolve, `windows` expands in order, and per-transaction features follow."""
    path = _write(
        tmp_path,
        "windowed:\n"
        "  - entity: account\n"
        "    stat: sum\n"
        "    measure: amount\n"
        "    windows: [1h, 24h]\n"
        "  - {entity: ip, stat: distinct, of: account, window: 1d, lag: 1h}\n"
        "per_transaction: [is_night, amount]\n",
    )
    feature_set = load_feature_set(path)
    assert feature_set.names == (
        "amount_sum_by_account_1h",
        "amount_sum_by_account_24h",
        "account_distinct_by_ip_1d_lag1h",
        "is_night",
        "amount",
    )
    assert feature_set.windowed[2].entity == "ip_address"
    assert feature_set.windowed[2].of == "account_id"
    assert feature_set.windowed[2].stat is Stat.DISTINCT
    assert feature_set.per_transaction[0] is TransactionFeatureKind.IS_NIGHT


def test_label_aware_specs_load_with_their_delay(tmp_path: Path) -> None:
    """fraud_count and fraud_share take `label_delay` and name it last; `measure: label` fits."""
    path = _write(
        tmp_path,
        "windowed:\n"
        "  - {entity: merchant, stat: fraud_count, windows: [1d, 7d], label_delay: 1d}\n"
        "  - {entity: device, stat: fraud_share, measure: label, window: 7d, lag: 7d}\n",
    )
    feature_set = load_feature_set(path)
    assert feature_set.names == (
        "fraud_count_by_merchant_1d_delay1d",
        "fraud_count_by_merchant_7d_delay1d",
        "fraud_share_by_device_7d_lag7d",
    )
    assert feature_set.windowed[0].label_delay == "1d"
    assert feature_set.windowed[2].label_delay is None


def test_the_default_file_lives_in_the_config_package() -> None:
    """default_feature_set reads config/features.yaml next to the settings module."""
    assert DEFAULT_FEATURES_FILE == CONFIG_DIR / "features.yaml"
    assert DEFAULT_FEATURES_FILE.is_file()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "windowed:\n  - {entity: acount, stat: count, window: 1h}\n",
            "F:2:14: unknown transaction field 'acount'",
        ),
        (
            "windowed:\n  - {entity: account, stat: median, window: 1h}\n",
            "F:2:29: unknown stat 'median'; known: count, sum, mean, max",
        ),
        ("windowed:\n  - {entity: account, stat: count, window: 1w}\n", "F:2:44: `window`: '1w'"),
        (
            "windowed:\n  - {entity: account, stat: count, windows: [1h, 90]}\n",
            "F:2:50: `windows`: 90 is not a duration",
        ),
        (
            "windowed:\n  - {entity: account, stat: distinct, window: 1h}\n",
            "F:2:5: stat distinct needs `of`",
        ),
        (
            "windowed:\n  - {entity: account, stat: count, of: merchant, window: 1h}\n",
            "F:2:36: stat count does not take `of`",
        ),
        (
            "windowed:\n  - {entity: account, stat: first_seen, of: account, window: 1h}\n",
            "F:2:45: `of` must differ from the entity",
        ),
        (
            "windowed:\n  - {entity: account, stat: count, measure: amount, window: 1h}\n",
            "F:2:45: stat count applies to measure txn, not amount",
        ),
        (
            "windowed:\n  - {entity: account, stat: count, window: 1h, windows: [1h]}\n",
            "F:2:5: give exactly one of `window: 24h` or `windows: [1h, 24h]`",
        ),
        (
            "windowed:\n  - {entity: account, stat: count, window: 1h, lag: 1y}\n",
            "F:2:53: `lag`: '1y'",
        ),
        ("windowed:\n  - {stat: count, window: 1h}\n", "F:2:5: missing `entity`"),
        (
            "windowed:\n  - {entity: account, stat: count, window: 1h, every: 1m}\n",
            "F:2:48: unknown key 'every'",
        ),
        ("windowed:\n  - count\n", "F:2:5: a spec must be a mapping"),
        ("windowed: []\nfeatures: []\n", "F:2:1: unknown key 'features'"),
        ("per_transaction: []\n", "F:1:1: missing key `windowed`"),
        (
            "windowed: []\nper_transaction: [hour, amount]\n",
            "F:2:19: unknown per-transaction feature 'hour'",
        ),
        ("- 1\n", "F:1:1: the file must be a mapping"),
        (
            "windowed:\n  - {entity: account, stat: count, window: 1h, label_delay: 1d}\n",
            "F:2:48: stat count does not take `label_delay`",
        ),
        (
            "windowed:\n  - {entity: account, stat: fraud_count, window: 1h, label_delay: 1}\n",
            "F:2:67: `label_delay`: 1 is not a duration",
        ),
        (
            "windowed:\n  - {entity: country, stat: fraud_share, window: 1h}\n",
            "F:2:14: stat fraud_share needs an entity a label names: account, device, ip, merchant",
        ),
        (
            "windowed:\n  - {entity: ip, stat: fraud_count, measure: txn, window: 1h}\n",
            "F:2:46: stat fraud_count applies to measure label, not txn",
        ),
    ],
)
def test_each_problem_names_its_position(tmp_path: Path, text: str, expected: str) -> None:
    """Unknown names, bad durations, misplaced `of` and unknown keys point at the exact spot."""
    problems = _problems(tmp_path, text)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_duplicates_point_at_the_second_declaration(tmp_path: Path) -> None:
    """A repeated name or a repeated meaning (24h vs 1d) is reported where it repeats."""
    problems = _problems(
        tmp_path,
        "windowed:\n"
        "  - {entity: account, stat: count, windows: [24h, 1h]}\n"
        "  - {entity: account, stat: count, window: 1d}\n"
        "  - {entity: account_id, stat: count, window: 1h}\n",
    )
    assert problems == [
        "F:3:44: 'txn_count_by_account_1d' computes the same values as 'txn_count_by_account_24h'",
        "F:4:47: duplicate feature 'txn_count_by_account_1h'",
    ]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    """Several bad specs give one error listing each of them."""
    problems = _problems(
        tmp_path,
        "windowed:\n"
        "  - {entity: nobody, stat: count, window: 1h}\n"
        "  - {entity: account, stat: count, window: 0h}\n",
    )
    assert [problem.split(": ")[0] for problem in problems] == ["F:2:14", "F:3:44"]


def test_yaml_errors_and_duplicate_keys_have_positions(tmp_path: Path) -> None:
    """Broken YAML and a key given twice are FeatureSpecErrors with file:line:col."""
    duplicate = _problems(tmp_path, "windowed: []\nwindowed: []\n")
    assert duplicate[0].startswith("F:2:1: ")
    broken = _problems(tmp_path, "windowed: [\n")
    assert broken[0].startswith("F:2:1: ")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A path that cannot be read raises FeatureSpecError (a ConfigError) naming it."""
    with pytest.raises(ConfigError, match="cannot read feature spec file"):
        load_feature_set(tmp_path / "absent.yaml")


def test_an_empty_file_is_rejected(tmp_path: Path) -> None:
    """An empty file is not a feature set: it must be a mapping with `windowed`."""
    assert _problems(tmp_path, "") == [
        "F:1:1: the file must be a mapping with keys `windowed`, `per_transaction`"
    ]
