"""Hot reload: valid edits are picked up, invalid ones are rejected while the old set scores."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from core.errors import RuleSetError
from rules.reload import RuleSetWatcher

WriteRules = Callable[..., Path]
RuleItem = Callable[..., str]


@pytest.fixture
def rules_dir(write_rules: WriteRules, rule_item: RuleItem) -> Path:
    """A directory with one valid rule."""
    return write_rules(main="rules:\n" + rule_item("big", "txn.amount > 1000.0"))


def test_unchanged_files_give_no_new_set(rules_dir: Path, feature_names: tuple[str, ...]) -> None:
    """poll() returns None while the content hash is unchanged."""
    watcher = RuleSetWatcher(rules_dir, feature_names)
    first = watcher.current
    assert watcher.poll() is None
    assert watcher.current is first


def test_valid_edit_is_picked_up(
    rules_dir: Path,
    feature_names: tuple[str, ...],
    write_rules: WriteRules,
    rule_item: RuleItem,
) -> None:
    """An edit that loads replaces the current set and is logged as `ruleset_loaded`."""
    watcher = RuleSetWatcher(rules_dir, feature_names)
    old_version = watcher.current.version
    write_rules(extra="rules:\n" + rule_item("small", "txn.amount < 1.0"))
    with capture_logs() as logs:
        new = watcher.poll()
    assert new is not None
    assert watcher.current is new
    assert [rule.id for rule in new.rules] == ["small", "big"]
    assert new.version != old_version
    (event,) = logs
    assert event["event"] == "ruleset_loaded"
    assert event["previous_version"] == old_version
    assert event["ruleset_version"] == new.version


def test_invalid_edit_is_rejected_and_logged_once(
    rules_dir: Path,
    feature_names: tuple[str, ...],
    write_rules: WriteRules,
    rule_item: RuleItem,
) -> None:
    """A bad edit keeps the old set and logs `ruleset_rejected` with its problems, once."""
    watcher = RuleSetWatcher(rules_dir, feature_names)
    old = watcher.current
    write_rules(main="rules:\n" + rule_item("big", "txn.amount > 1000"))
    with capture_logs() as logs:
        assert watcher.poll() is None
        assert watcher.poll() is None
    assert watcher.current is old
    (event,) = logs
    assert event["event"] == "ruleset_rejected"
    assert event["log_level"] == "warning"
    assert event["kept_version"] == old.version
    (problem,) = event["problems"]
    assert problem.startswith(f"{rules_dir / 'main.yaml'}:4:22: rule big: ")


def test_fix_after_rejection_is_picked_up(
    rules_dir: Path,
    feature_names: tuple[str, ...],
    write_rules: WriteRules,
    rule_item: RuleItem,
) -> None:
    """After a rejected edit, the corrected file loads on the next poll."""
    watcher = RuleSetWatcher(rules_dir, feature_names)
    write_rules(main="rules:\n" + rule_item("big", "txn.amount > 1000"))
    assert watcher.poll() is None
    write_rules(main="rules:\n" + rule_item("big", "txn.amount > 2000.0"))
    new = watcher.poll()
    assert new is not None
    assert new.rules[0].when == "txn.amount > 2000.0"


def test_reverting_a_rejected_edit_rearms_the_log(
    rules_dir: Path,
    feature_names: tuple[str, ...],
    write_rules: WriteRules,
    rule_item: RuleItem,
) -> None:
    """Bad edit, revert, same bad edit again: the second rejection is logged too."""
    watcher = RuleSetWatcher(rules_dir, feature_names)
    good = (rules_dir / "main.yaml").read_text(encoding="utf-8")
    bad = "rules:\n" + rule_item("big", "txn.amount > 1000")
    with capture_logs() as logs:
        write_rules(main=bad)
        watcher.poll()
        write_rules(main=good)
        assert watcher.poll() is None
        write_rules(main=bad)
        watcher.poll()
    assert [event["event"] for event in logs] == ["ruleset_rejected", "ruleset_rejected"]


def test_removed_directory_keeps_the_old_set(
    rules_dir: Path, feature_names: tuple[str, ...]
) -> None:
    """Deleting every rule file is rejected too."""
    watcher = RuleSetWatcher(rules_dir, feature_names)
    old = watcher.current
    shutil.rmtree(rules_dir)
    with capture_logs() as logs:
        assert watcher.poll() is None
    assert watcher.current is old
    assert logs[0]["event"] == "ruleset_rejected"
    assert logs[0]["problems"] == [f"{rules_dir}: no such file or directory"]


def test_invalid_rules_at_start_raise(
    write_rules: WriteRules, feature_names: tuple[str, ...], rule_item: RuleItem
) -> None:
    """The first load has no previous set to fall back on: it raises."""
    directory = write_rules(main="rules:\n" + rule_item("big", "txn.amount > 1000"))
    with pytest.raises(RuleSetError):
        RuleSetWatcher(directory, feature_names)
