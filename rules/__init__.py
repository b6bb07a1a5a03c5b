"""Fraud rules: YAML files of CEL expressions, checked at load and evaluated as one program.

Modules, from the outside in:

* :mod:`rules.loader` — ``load_rule_set(directory, feature_names) -> RuleSet``, all or nothing
  (:class:`core.errors.RuleSetError` lists every problem as ``file:line:col`` + ``rule <id>``);
* :mod:`rules.reload` — :class:`~rules.reload.RuleSetWatcher`, hot reload by polling;
* :mod:`rules.ruleset` — :class:`~rules.ruleset.RuleSet`: ``version``, ``rules``, ``evaluate``;
* :mod:`rules.schema` / :mod:`rules.parsing` / :mod:`rules.positions` — the file format;
* :mod:`rules.expressions` / :mod:`rules.messages` — CEL (``cel-expr-python``) behind a small
  interface, with variables typed from the Transaction schema and the feature names.

The rule language, for rule authors:

* ``txn`` is the transaction: ``txn.amount`` (double), ``txn.timestamp`` (timestamp, e.g.
  ``txn.timestamp.getHours()`` in UTC or ``getHours('Europe/Paris')``), ``txn.currency``,
  ``txn.country``, ``txn.channel``, ``txn.merchant_id``, ``txn.merchant_category``,
  ``txn.account_id`` (strings), ``txn.device_id`` / ``txn.ip_address`` (``null`` when absent;
  ``has(txn.device_id)``), ``txn.attributes`` (``map(string, dyn)``; ``'key' in
  txn.attributes``).
* ``features`` has one double field per feature name, e.g. ``features.txn_count_by_account_1h``.
  A missing value is absent: ``has(features.x)`` is false and using it unguarded is a run-time
  error, recorded as that rule's ``error`` result. Guard features that can be missing.
* Numbers are doubles: write ``1000.0``, not ``1000`` (``txn.amount > 1000`` does not compile).
* Prefer ``startsWith`` / ``in [...]`` over ``matches()`` in hot rules.
"""
