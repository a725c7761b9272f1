"""A pydantic base that refuses pydantic's lax coercions of scalars (shared by every config section)."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator

__all__ = ["StrictScalars"]


def _scalar_kind(annotation: Any) -> type | None:
    """``bool``, ``int`` or ``float`` when a field holds one (optionally None), else None."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    return annotation if annotation in (bool, int, float) else None


class StrictScalars(BaseModel):
    """Booleans must be booleans, integers whole numbers, numbers numbers (not strings)."""

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode turns "yes" into True, true into 1, 2.0 into 2 and "0.5" into
        # 0.5: a typo in a TOML file would then silently mean something else. Floats still
        # accept integers.
        field = cls.model_fields.get(info.field_name or "")
        kind = _scalar_kind(field.annotation) if field is not None and value is not None else None
        shown = json.dumps(value) if isinstance(value, (bool, str)) else repr(value)
        if kind is bool and not isinstance(value, bool):
            raise ValueError(f"{shown} is not a boolean: write true or false (no quotes)")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{shown} is not an integer: write a whole number without quotes or a point")
        if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"{shown} is not a number: write it without quotes")
        return value
