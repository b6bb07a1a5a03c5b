"""Strict JSON decoding of request bodies, with every problem located by a JSON path.

msgspec reports the first problem of a value as ``"<message> - at `$.path`"`` (or ``at `key` in
`$.path``` for a mapping's key); validation that
runs in ``__post_init__`` (``core.models.Transaction``) names its field in backticks at the start
of the message. :func:`located_problem` turns both shapes into a :class:`core.errors.Problem`
whose location ends at the field (``$.items[3].currency``), so clients see the same path
whichever layer found the mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, TypeVar

import msgspec

from core.errors import InvalidInputError, Problem

T = TypeVar("T")

INVALID_BODY: Final = "the request body is invalid"
NUL_MESSAGE: Final = "must not contain the NUL character (U+0000)"

_AT_PATH: Final = re.compile(
    r"^(?P<message>.*) - at (?P<key>`key` in )?`(?P<path>\$[^`]*)`$", re.DOTALL
)
_OBJECT_FIELD: Final = re.compile(
    r"^Object (?P<what>contains unknown|missing required) field `(?P<field>[^`]+)`$"
)
_NAMED_FIELD: Final = re.compile(r"^`(?P<field>[A-Za-z_][\w.]*)` (?P<rest>.+)$", re.DOTALL)
_OBJECT_FIELD_MESSAGES: Final = {
    "contains unknown": "unknown field",
    "missing required": "required field is missing",
}


def located_problem(error: msgspec.ValidationError | ValueError, base: str = "$") -> Problem:
    """The problem ``error`` describes, located under ``base`` (a JSON path such as ``$``)."""
    message, path = str(error), "$"
    if match := _AT_PATH.match(message):
        message, path = match["message"], match["path"]
        if match["key"]:
            message = f"a key is invalid: {message}"
    location = base + path[1:]
    if match := _OBJECT_FIELD.match(message):
        return Problem(f"{location}.{match['field']}", _OBJECT_FIELD_MESSAGES[match["what"]])
    if match := _NAMED_FIELD.match(message):
        return Problem(f"{location}.{match['field']}", match["rest"])
    return Problem(location, message)


def nul_problems(texts: Mapping[str, str | None]) -> list[Problem]:
    """A problem for each text (by location) containing U+0000, which PostgreSQL's text refuses.

    JSON and URLs can carry the NUL character (``\\u0000``, ``%00``); a ``text`` column or
    parameter cannot, so any client text that reaches PostgreSQL is checked here first.
    """
    return [
        Problem(location, NUL_MESSAGE)
        for location, text in texts.items()
        if text is not None and "\x00" in text
    ]


def decode_json(body: bytes, type_: type[T]) -> T:
    """``body`` decoded strictly as ``type_``; an :class:`InvalidInputError` naming the field."""
    try:
        return msgspec.json.decode(body, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(INVALID_BODY, [located_problem(exc)]) from None
    except msgspec.DecodeError as exc:
        message = str(exc)
        if not message.startswith("JSON is malformed"):
            message = f"JSON is malformed: {message}"
        raise InvalidInputError(INVALID_BODY, [Problem("$", message)]) from None


def decode_json_items(raw_items: list[msgspec.Raw], type_: type[T], base: str) -> list[T]:
    """Each raw JSON item decoded as ``type_``; every bad item is reported, not just the first.

    ``base`` is the items' array path (``$.items``); problems are located at ``$.items[i]...``.
    """
    items: list[T] = []
    problems: list[Problem] = []
    for index, raw in enumerate(raw_items):
        try:
            items.append(msgspec.json.decode(raw, type=type_, strict=True))
        except msgspec.ValidationError as exc:
            problems.append(located_problem(exc, f"{base}[{index}]"))
    if problems:
        raise InvalidInputError(INVALID_BODY, problems)
    return items


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header value names JSON (``application/json``, ``*/*+json``)."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
