"""Request bodies decoded strictly, as Litestar DTOs.

Litestar's default body handling converts leniently (``"12"`` becomes ``12``) and reports
problems without the field's full path. :class:`StrictJSON` replaces it: the raw bytes go straight
to msgspec with ``strict=True``, a non-JSON ``Content-Type`` is a 415, and every problem is an
:class:`core.errors.InvalidInputError` located by JSON path. Handlers still declare
``data: JSONBody[SomeStruct]``, so the OpenAPI schema documents the body exactly.

Usage: ``@post(..., dto=StrictJSON[LabelIn], return_dto=None)`` with ``data: JSONBody[LabelIn]``
(``return_dto=None``: responses are encoded as usual, not through this DTO).
"""

from __future__ import annotations

from collections.abc import Generator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import msgspec
from litestar.dto import AbstractDTO, DTOConfig, DTOFieldDefinition
from litestar.exceptions import HTTPException
from litestar.typing import FieldDefinition

from core.errors import InvalidInputError, Problem
from serving.decoding import INVALID_BODY, decode_json, decode_json_items, is_json_media_type
from serving.wire import LabelBatchIn, LabelItemIn, TransactionBatch, TransactionIn

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.dto._backend import DTOBackend
    from litestar.openapi.spec import Reference, Schema

T = TypeVar("T")


class StrictJSON(AbstractDTO[T]):
    """Decode a JSON request body strictly into ``model_type`` (``StrictJSON[Model]``)."""

    config: ClassVar[DTOConfig] = DTOConfig()

    def decode_bytes(self, value: bytes) -> T:
        """The body as ``model_type``; 415 unless the request says it is JSON."""
        content_type = self.asgi_connection.headers.get("content-type")
        if not is_json_media_type(content_type):
            raise HTTPException(
                status_code=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                detail=f"send the body as application/json, not {content_type or 'untyped'}",
            )
        return self.decode(value)

    def decode(self, body: bytes) -> T:
        """Decode ``body``; subclasses with special shapes override this."""
        return decode_json(body, self.model_type)

    def decode_builtins(self, value: dict[str, Any]) -> T:
        """Form bodies are not accepted: only JSON reaches these handlers."""
        raise HTTPException(
            status_code=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            detail="send the body as application/json",
        )

    @classmethod
    def create_for_field_definition(
        cls,
        field_definition: FieldDefinition,
        handler_id: str,
        backend_cls: type[DTOBackend] | None = None,
    ) -> None:
        """Nothing to prepare: decoding needs only ``model_type``."""

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        """Document the body as ``model_type`` itself."""
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))

    @classmethod
    def generate_field_definitions(
        cls, model_type: type[Any]
    ) -> Generator[DTOFieldDefinition, None, None]:
        """Unused: this DTO never builds transfer models."""
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        """Unused: this DTO never builds transfer models."""
        return False


class TransactionBody(StrictJSON[TransactionIn]):
    """The body of ``POST /v1/transactions``."""


class _RawBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A batch whose items are still undecoded JSON, so each item's problems can be reported."""

    items: list[msgspec.Raw]


class BatchBody(StrictJSON[TransactionBatch]):
    """The body of ``POST /v1/transactions/batch``: every bad item is reported, not the first."""

    def decode(self, body: bytes) -> TransactionBatch:
        """Decode the envelope, then each item on its own so each item's problem is located."""
        raw = decode_json(body, _RawBatch)
        if not raw.items:
            raise InvalidInputError(
                INVALID_BODY, [Problem("$.items", "must contain at least one transaction")]
            )
        return TransactionBatch(items=decode_json_items(raw.items, TransactionIn, "$.items"))


class LabelBatchBody(StrictJSON[LabelBatchIn]):
    """The body of ``POST /v1/labels``: every bad item is reported, not the first."""

    def decode(self, body: bytes) -> LabelBatchIn:
        """Decode the envelope, then each item on its own so each item's problem is located."""
        raw = decode_json(body, _RawBatch)
        if not raw.items:
            raise InvalidInputError(
                INVALID_BODY, [Problem("$.items", "must contain at least one label")]
            )
        return LabelBatchIn(items=decode_json_items(raw.items, LabelItemIn, "$.items"))
