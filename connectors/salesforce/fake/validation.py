"""Field-level checks a Salesforce org applies on every save, with Salesforce's codes and messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from connectors.salesforce.fake.errors import FakeError
from connectors.salesforce.fake.schema import FieldSpec

_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
_ID: Final = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
_TEXT_TYPES: Final = frozenset({"string", "phone", "email", "url", "textarea", "combobox", "picklist"})
_NUMBER_TYPES: Final = frozenset({"double", "currency", "percent"})


def check_fields(
    sobject: str, fields: Mapping[str, FieldSpec], values: Mapping[str, Any], *, creating: bool
) -> None:
    """Raise the first error Salesforce would report for these values (unknown, read-only, type...)."""
    for name in values:
        if name not in fields:
            raise FakeError("INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name])
    blocked = [
        name for name in values if not (fields[name].createable if creating else fields[name].updateable)
    ]
    if blocked:
        raise FakeError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(blocked)}. Please check the security settings "
            "of this field and verify that it is read/write for your profile or permission set.",
            blocked,
        )
    for name, value in values.items():
        if value is not None:
            _check_value(fields[name], value)
    if creating:
        missing = [
            spec.name
            for spec in fields.values()
            if spec.required
            and spec.createable
            and spec.default is None
            and values.get(spec.name) in (None, "")
        ]
    else:
        missing = [name for name, value in values.items() if fields[name].required and value in (None, "")]
    if missing:
        raise FakeError(
            "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
        )


def _check_value(spec: FieldSpec, value: Any) -> None:
    label = spec.name
    if spec.type in _TEXT_TYPES:
        if not isinstance(value, str):
            value = str(value)
        if spec.length and len(value) > spec.length:
            raise FakeError(
                "STRING_TOO_LONG",
                f"{label}: data value too large: {value[:40]} (max length={spec.length})",
                [spec.name],
            )
        if spec.type == "picklist" and spec.restricted and value not in spec.picklist:
            raise FakeError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{label}: bad value for restricted picklist field: {value}",
                [spec.name],
            )
    elif spec.type == "boolean" and not isinstance(value, bool):
        _json_error(value, "boolean")
    elif spec.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        _json_error(value, "int")
    elif spec.type in _NUMBER_TYPES and (isinstance(value, bool) or not isinstance(value, (int, float))):
        _json_error(value, "double")
    elif spec.type == "date" and not (isinstance(value, str) and _DATE.match(value)):
        _json_error(value, "date")
    elif spec.type == "datetime" and not (isinstance(value, str) and _DATETIME.match(value)):
        _json_error(value, "datetime")
    elif spec.type == "reference" and not (isinstance(value, str) and _ID.match(value)):
        raise FakeError("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [spec.name])


def _json_error(value: Any, type_name: str) -> None:
    raise FakeError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {type_name} from {type(value).__name__.upper()} value {value!r}",
    )
