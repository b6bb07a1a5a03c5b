"""The typed variables rules see, as protobuf message types derived from our schemas.

CEL type-checks field access on protobuf messages, so declaring ``txn`` and ``features`` as
messages makes a misspelt field or a wrong type a load-time error. Both message types are derived,
never written by hand:

* ``txn`` (``vigil.rules.Transaction``): one field per :class:`core.models.Transaction` field,
  then the derived fields of :data:`DERIVED_FIELDS`: ``amount_base``, the amount in the FX
  table's base currency (``config/fx.yaml``), a ``google.protobuf.DoubleValue`` equal to the
  ``amount`` feature (null, so a comparison is a rule ``error``, when the engine has no rate for
  the currency). Strings, codes and the channel are ``string``; ``amount`` is a ``double`` in
  the transaction's own currency; ``timestamp`` is a
  ``google.protobuf.Timestamp``; optional strings (``device_id``, ``ip_address``) are
  ``google.protobuf.StringValue``, so an absent value reads as ``null`` and ``has()`` is false;
  ``attributes`` is a ``google.protobuf.Struct`` (``map(string, dyn)``, numbers read as doubles).
* ``features`` (``vigil.rules.Features``): one ``google.protobuf.DoubleValue`` field per feature
  name. A missing value (``None`` or NaN) is left unset: ``has(features.x)`` is false and reading
  it yields ``null``, so comparing it without a ``has()`` guard is a run-time error (the rule is
  recorded as ``error``), never a silently invented 0.
"""

from __future__ import annotations

import enum
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

# protobuf ships no type information; these modules are only touched in this file.
from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)

from core.errors import ConfigError, Problem
from core.models import Transaction

PACKAGE: Final = "vigil.rules"
TRANSACTION_TYPE: Final = f"{PACKAGE}.Transaction"
FEATURES_TYPE: Final = f"{PACKAGE}.Features"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CEL_RESERVED: Final = frozenset(
    {
        "as", "break", "const", "continue", "else", "false", "for", "function", "if", "import",
        "in", "let", "loop", "namespace", "null", "package", "return", "true", "var", "void",
        "while",
    }
)  # fmt: skip
_Field = descriptor_pb2.FieldDescriptorProto


class FieldKind(enum.Enum):
    """How one Transaction field is represented to CEL."""

    STRING = "string"
    DOUBLE = "double"
    TIMESTAMP = "google.protobuf.Timestamp"
    OPTIONAL_STRING = "google.protobuf.StringValue"
    OPTIONAL_DOUBLE = "google.protobuf.DoubleValue"
    STRUCT = "google.protobuf.Struct"


AMOUNT_BASE: Final = "amount_base"
DERIVED_FIELDS: Final[tuple[tuple[str, FieldKind], ...]] = (
    (AMOUNT_BASE, FieldKind.OPTIONAL_DOUBLE),
)
"""Fields of ``txn`` computed by the engine, after the Transaction's own (see the module doc)."""


def transaction_fields() -> tuple[tuple[str, FieldKind], ...]:
    """The CEL representation of every :class:`Transaction` field, in declaration order."""
    info = msgspec.inspect.type_info(Transaction)
    if not isinstance(info, msgspec.inspect.StructType):
        raise TypeError("core.models.Transaction is expected to be a msgspec Struct")
    return tuple((field.name, _field_kind(field.name, field.type)) for field in info.fields)


def _field_kind(name: str, kind: msgspec.inspect.Type) -> FieldKind:
    inspect = msgspec.inspect
    if isinstance(kind, inspect.StrType | inspect.EnumType):
        return FieldKind.STRING
    if isinstance(kind, inspect.DecimalType | inspect.FloatType):
        return FieldKind.DOUBLE
    if isinstance(kind, inspect.DateTimeType):
        return FieldKind.TIMESTAMP
    if isinstance(kind, inspect.DictType):
        return FieldKind.STRUCT
    if isinstance(kind, inspect.UnionType):
        present = [t for t in kind.types if not isinstance(t, inspect.NoneType)]
        if len(present) == 1 and isinstance(present[0], inspect.StrType):
            return FieldKind.OPTIONAL_STRING
    raise TypeError(
        f"Transaction.{name}: no CEL representation for {kind!r}; extend rules/messages"
    )


def check_feature_names(feature_names: Sequence[str]) -> None:
    """Raise :class:`ConfigError` unless every name can be a CEL field of ``features``."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for name in feature_names:
        if not _NAME.match(name) or name in _CEL_RESERVED or keyword.iskeyword(name):
            problems.append(Problem("features", f"{name!r} is not usable as a rule variable"))
        elif name in seen:
            problems.append(Problem("features", f"{name!r} is declared twice"))
        seen.add(name)
    if problems:
        raise ConfigError("feature names cannot be declared to the rule engine", problems)


class RuleMessages:
    """A private descriptor pool with the ``txn`` and ``features`` message types, and the code
    that turns a :class:`Transaction` and a feature mapping into messages of those types."""

    def __init__(self, feature_names: Sequence[str]) -> None:
        check_feature_names(feature_names)
        self.feature_names: tuple[str, ...] = tuple(feature_names)
        self.fields = transaction_fields()
        self.all_fields = self.fields + DERIVED_FIELDS
        """Every field of ``txn``: the Transaction's, then the derived ones."""
        self.pool: Any = descriptor_pool.DescriptorPool()
        for module in (wrappers_pb2, timestamp_pb2, struct_pb2):
            self.pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
        self.pool.Add(_file_descriptor(self.all_fields, self.feature_names))
        self._transaction_class: Any = message_factory.GetMessageClass(
            self.pool.FindMessageTypeByName(TRANSACTION_TYPE)
        )
        self._features_class: Any = message_factory.GetMessageClass(
            self.pool.FindMessageTypeByName(FEATURES_TYPE)
        )

    def transaction(self, txn: Transaction, amount_base: float | None = None) -> Any:
        """``txn`` as a ``vigil.rules.Transaction`` message, with its base-currency amount
        (``None`` leaves ``amount_base`` unset: null)."""
        message = self._transaction_class()
        if amount_base is not None:
            message.amount_base.value = amount_base
        for name, kind in self.fields:
            value = getattr(txn, name)
            if kind is FieldKind.STRING:
                setattr(message, name, str(value))
            elif kind is FieldKind.DOUBLE:
                setattr(message, name, float(value))
            elif kind is FieldKind.OPTIONAL_STRING:
                if value is not None:
                    getattr(message, name).value = value
            elif kind is FieldKind.TIMESTAMP:
                delta = value - _EPOCH
                stamp = getattr(message, name)
                stamp.seconds = delta.days * 86_400 + delta.seconds
                stamp.nanos = delta.microseconds * 1_000
            elif value:  # FieldKind.STRUCT; an empty map needs no work
                getattr(message, name).update(value)
        return message

    def features(self, values: Mapping[str, float | None]) -> Any:
        """``values`` as a ``vigil.rules.Features`` message.

        None and NaN stay unset (missing); names that are not declared features are ignored.
        """
        message = self._features_class()
        for name in self.feature_names:
            value = values.get(name)
            if value is not None and not math.isnan(value):
                getattr(message, name).value = value
        return message


def _file_descriptor(fields: Sequence[tuple[str, FieldKind]], feature_names: Sequence[str]) -> Any:
    file = descriptor_pb2.FileDescriptorProto(
        name="vigil/rules/variables.proto", package=PACKAGE, syntax="proto3"
    )
    file.dependency.extend(
        [
            "google/protobuf/wrappers.proto",
            "google/protobuf/timestamp.proto",
            "google/protobuf/struct.proto",
        ]
    )
    transaction = file.message_type.add(name="Transaction")
    for number, (name, kind) in enumerate(fields, start=1):
        if kind is FieldKind.STRING:
            _add_field(transaction, name, number, _Field.TYPE_STRING)
        elif kind is FieldKind.DOUBLE:
            _add_field(transaction, name, number, _Field.TYPE_DOUBLE)
        else:
            _add_field(transaction, name, number, _Field.TYPE_MESSAGE, f".{kind.value}")
    features = file.message_type.add(name="Features")
    for number, name in enumerate(feature_names, start=1):
        _add_field(features, name, number, _Field.TYPE_MESSAGE, ".google.protobuf.DoubleValue")
    return file


def _add_field(message: Any, name: str, number: int, kind: int, type_name: str = "") -> None:
    field = message.field.add(name=name, number=number, type=kind, label=_Field.LABEL_OPTIONAL)
    if type_name:
        field.type_name = type_name
