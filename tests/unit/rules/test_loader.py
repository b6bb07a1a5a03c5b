"""Loading a rule directory: a valid set compiles; every kind of mistake names file:line:col."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import Problem, RuleSetError
from core.models import Outcome
from rules.loader import load_rule_set

WriteRules = Callable[..., Path]

VALID = """\
description: Two rules.
rules:
  - id: big-amount
    description: Large amount.
    when: txn.amount > 1000.0
    action: review
    score: 0.5
    tags: [amount]
  - id: burst
    description: Many payments in a minute.
    when: |
      features.txn_count_by_account_1m >= 5.0
        && txn.amount < 5.0
    action: block
    score: 1
    enabled: false
"""


def _problems(directory: Path, feature_names: tuple[str, ...]) -> list[Problem]:
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(directory, feature_names)
    return caught.value.problems


def _only_problem(directory: Path, feature_names: tuple[str, ...]) -> Problem:
    problems = _problems(directory, feature_names)
    assert len(problems) == 1, problems
    return problems[0]


def test_valid_set_loads_with_every_field(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """A valid file gives rules with their fields, source position and enabled flag."""
    directory = write_rules(main=VALID)
    rule_set = load_rule_set(directory, feature_names)
    big, burst = rule_set.rules
    assert big.id == "big-amount"
    assert big.action is Outcome.REVIEW
    assert big.score == 0.5
    assert big.tags == ("amount",)
    assert big.enabled
    assert big.source == f"{directory / 'main.yaml'}:3:9"
    assert burst.action is Outcome.BLOCK
    assert burst.score == 1.0
    assert not burst.enabled
    assert [rule.id for rule in rule_set.enabled_rules] == ["big-amount"]
    assert rule_set.files == (str(directory / "main.yaml"),)


def test_files_load_in_name_order(
    write_rules: WriteRules, feature_names: tuple[str, ...], rule_item: Callable[..., str]
) -> None:
    """Rules from several files are concatenated in file-name order."""
    directory = write_rules(
        b="rules:\n" + rule_item("second", "txn.amount > 1.0"),
        a="rules:\n" + rule_item("first", "txn.amount > 2.0"),
    )
    rule_set = load_rule_set(directory, feature_names)
    assert [rule.id for rule in rule_set.rules] == ["first", "second"]


def test_yaml_syntax_error_names_line_and_column(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """Broken YAML is reported where the parser stopped."""
    directory = write_rules(main="rules:\n  - id: [a\n    when: x\n")
    problem = _only_problem(directory, feature_names)
    assert problem.location.startswith(f"{directory / 'main.yaml'}:3:")
    assert problem.message.startswith("YAML syntax error: ")


def test_yaml_syntax_error_names_the_last_rule_read(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """A syntax error inside a rule says which rule was being read."""
    text = VALID.replace("    action: block\n", "     action: block\n")
    directory = write_rules(main=text)
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:14:6"
    assert problem.message.startswith("YAML syntax error (last rule read: burst): ")


def test_duplicate_key_names_the_rule(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """A key written twice in a rule is an error at the second one, with the rule id."""
    text = VALID.replace("    score: 0.5\n", "    score: 0.5\n    score: 0.6\n")
    directory = write_rules(main=text)
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:8:5"
    assert problem.message.startswith("rule big-amount: ")
    assert "duplicate key" in problem.message


def test_unknown_key_is_an_error_at_the_key(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """An unexpected key is reported at the key, listing the allowed ones."""
    text = VALID.replace("    tags: [amount]\n", "    tags: [amount]\n    severity: high\n")
    directory = write_rules(main=text)
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:9:5"
    assert problem.message.startswith("rule big-amount: unknown key `severity`")
    assert "allowed: id, description, when" in problem.message


def test_unknown_top_level_key_is_an_error(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """Files accept only `description` and `rules` at the top."""
    directory = write_rules(main="version: 3\n" + VALID)
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:1:1"
    assert "unknown key `version`" in problem.message


def test_missing_key_is_an_error_at_the_rule(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """A rule without `when` is reported at the start of the rule."""
    text = VALID.replace("    when: txn.amount > 1000.0\n", "")
    directory = write_rules(main=text)
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:3:5"
    assert problem.message == "rule big-amount: missing key `when`"


def test_duplicate_id_across_files_names_both_places(
    write_rules: WriteRules, feature_names: tuple[str, ...], rule_item: Callable[..., str]
) -> None:
    """Ids are unique across the whole set; the second one is the error."""
    directory = write_rules(
        a="rules:\n" + rule_item("same", "txn.amount > 1.0"),
        b="rules:\n" + rule_item("same", "txn.amount > 2.0"),
    )
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'b.yaml'}:2:9"
    first = f"{directory / 'a.yaml'}:2:9"
    assert problem.message == f"rule same: duplicate id (first defined at {first})"


def test_unknown_feature_is_an_error_at_its_position(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """A feature that is not in the feature names is a load error inside the block scalar."""
    text = VALID.replace("features.txn_count_by_account_1m", "features.txn_count_by_acount_1m")
    directory = write_rules(main=text)
    problem = _only_problem(directory, feature_names)
    # line 12 is "      features.txn_count_by_acount_1m >= 5.0"; CEL points at the dot.
    assert problem.location == f"{directory / 'main.yaml'}:12:15"
    assert problem.message.startswith("rule burst: undefined field 'txn_count_by_acount_1m'")


def test_unknown_variable_is_an_error(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """A name that is neither `txn` nor `features` does not compile."""
    text = VALID.replace("when: txn.amount > 1000.0", "when: txn.amount > limit")
    directory = write_rules(main=text)
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:5:24"
    assert problem.message.startswith("rule big-amount: undeclared reference to 'limit'")


def test_int_literal_against_double_is_a_type_error(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """`txn.amount > 1000` is rejected with a hint to write 1000.0."""
    text = VALID.replace("txn.amount > 1000.0", "txn.amount > 1000")
    directory = write_rules(main=text)
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:5:22"
    assert problem.message.startswith("rule big-amount: found no matching overload for '_>_'")
    assert "write 1000.0" in problem.message


def test_non_bool_expression_is_an_error(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """`when` must produce a bool."""
    text = VALID.replace("txn.amount > 1000.0", "txn.amount * 2.0")
    directory = write_rules(main=text)
    problem = _only_problem(directory, feature_names)
    assert problem.message == "rule big-amount: `when` must be a bool expression, got double"


def test_bad_action_names_the_choices(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """An action other than allow/review/block is reported at the value."""
    directory = write_rules(main=VALID.replace("action: review", "action: deny"))
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:6:13"
    assert problem.message.startswith("rule big-amount: `action`: Invalid enum value 'deny'")
    assert "one of allow, review, block" in problem.message


@pytest.mark.parametrize("score", ["1.5", "-0.1", "high", "true"])
def test_score_out_of_range_or_not_a_number(
    write_rules: WriteRules, feature_names: tuple[str, ...], score: str
) -> None:
    """Scores are numbers from 0 to 1."""
    directory = write_rules(main=VALID.replace("score: 0.5", f"score: {score}"))
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:7:12"
    assert problem.message.startswith("rule big-amount: `score`: ")


def test_bad_rule_id_is_reported(write_rules: WriteRules, feature_names: tuple[str, ...]) -> None:
    """Ids are lowercase slugs."""
    directory = write_rules(main=VALID.replace("id: big-amount", "id: Big Amount"))
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:3:9"
    assert problem.message.startswith("rule Big Amount: `id`: ")


def test_disabled_rules_are_checked_too(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """A disabled rule with a bad expression still rejects the set."""
    directory = write_rules(main=VALID.replace("txn.amount < 5.0", "txn.amount < 5"))
    problem = _only_problem(directory, feature_names)
    assert problem.message.startswith("rule burst: ")


def test_every_problem_of_every_file_is_reported_in_order(
    write_rules: WriteRules, feature_names: tuple[str, ...], rule_item: Callable[..., str]
) -> None:
    """One load reports all bad rules, sorted by file, line and column."""
    directory = write_rules(
        a="rules:\n"
        + rule_item("one", "txn.amount > 1")
        + rule_item("two", "txn.amount > 1.0", action="deny"),
        b="rules:\n" + rule_item("three", "nope"),
    )
    problems = _problems(directory, feature_names)
    assert [p.message.split(":")[0] for p in problems] == ["rule one", "rule two", "rule three"]


def test_not_a_mapping_is_an_error(write_rules: WriteRules, feature_names: tuple[str, ...]) -> None:
    """A file must be a mapping with a `rules` list."""
    directory = write_rules(main="- id: x\n")
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:1:1"
    assert "expected a mapping with a `rules` list" in problem.message


def test_empty_file_is_an_error(write_rules: WriteRules, feature_names: tuple[str, ...]) -> None:
    """An empty file is not silently an empty rule set."""
    directory = write_rules(main="# nothing yet\n")
    problem = _only_problem(directory, feature_names)
    assert "got an empty file" in problem.message


def test_directory_without_rule_files_is_an_error(
    tmp_path: Path, feature_names: tuple[str, ...]
) -> None:
    """No *.yaml files means no rule set, not an empty one."""
    problem = _only_problem(tmp_path, feature_names)
    assert problem.message == "no *.yaml files"


def test_missing_directory_is_an_error(tmp_path: Path, feature_names: tuple[str, ...]) -> None:
    """A path that does not exist is reported as such."""
    problem = _only_problem(tmp_path / "absent", feature_names)
    assert problem.message == "no such file or directory"


def test_single_file_can_be_loaded(write_rules: WriteRules, feature_names: tuple[str, ...]) -> None:
    """A path to one rule file loads just that file."""
    directory = write_rules(main=VALID)
    rule_set = load_rule_set(directory / "main.yaml", feature_names)
    assert len(rule_set.rules) == 2


def test_version_changes_iff_content_changes(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """Same bytes, same version; any edit (even a comment) gives a new version."""
    directory = write_rules(main=VALID)
    first = load_rule_set(directory, feature_names).version
    assert load_rule_set(directory, feature_names).version == first
    write_rules(main=VALID + "# a comment\n")
    edited = load_rule_set(directory, feature_names).version
    assert edited != first
    write_rules(main=VALID)
    assert load_rule_set(directory, feature_names).version == first
    assert len(first) == 16
    assert int(first, 16) >= 0


def test_version_depends_on_file_names(
    write_rules: WriteRules, feature_names: tuple[str, ...]
) -> None:
    """Moving the same rules to another file name is a new version."""
    directory = write_rules(a=VALID)
    first = load_rule_set(directory, feature_names).version
    (directory / "a.yaml").rename(directory / "b.yaml")
    assert load_rule_set(directory, feature_names).version != first


def test_not_utf8_is_an_error(write_rules: WriteRules, feature_names: tuple[str, ...]) -> None:
    """A file that is not UTF-8 is reported with the line of the first bad byte."""
    directory = write_rules(main=VALID)
    (directory / "main.yaml").write_bytes(VALID.encode() + b"# caf\xe9\n")
    problem = _only_problem(directory, feature_names)
    assert problem.location == f"{directory / 'main.yaml'}:17:1"
    assert problem.message.startswith("not UTF-8 text")


def test_hidden_files_are_ignored(write_rules: WriteRules, feature_names: tuple[str, ...]) -> None:
    """Editor lock and backup files such as `.#main.yaml` are not rule files."""
    directory = write_rules(main=VALID)
    (directory / ".#main.yaml").write_text("not: [valid", encoding="utf-8")
    assert len(load_rule_set(directory, feature_names).rules) == 2
