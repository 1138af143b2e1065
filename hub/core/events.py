"""The normalized call event: one shape for every provider.

The dataclasses are what the code works with; `CallEventSchema` is the JSON contract used on the
queue, in the database, in the admin API and in `hub normalize` output. Keep both in step: the
round-trip test in tests/test_events.py fails when they drift.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, post_load, pre_load, validate

KIND_STARTED: Final = "call.started"
KIND_COMPLETED: Final = "call.completed"
KIND_UPDATED: Final = "call.updated"
KIND_UNKNOWN: Final = "unknown"
KINDS: Final = (KIND_STARTED, KIND_COMPLETED, KIND_UPDATED, KIND_UNKNOWN)

STATUSES: Final = ("ringing", "in_progress", "answered", "missed", "voicemail", "busy", "failed")
DIRECTIONS: Final = ("inbound", "outbound")
DNI_TYPES: Final = ("url", "source", "session", "static")

# A call's lifecycle rank: a version of lower rank never overrides what a higher one said about
# the call's progress (a late `call.started` must not reopen a completed call).
KIND_RANK: Final = {KIND_UNKNOWN: 0, KIND_STARTED: 1, KIND_COMPLETED: 2, KIND_UPDATED: 3}
STATUS_RANK: Final = {
    "ringing": 0,
    "in_progress": 1,
    "answered": 2,
    "missed": 2,
    "voicemail": 2,
    "busy": 2,
    "failed": 2,
}


@dataclass(frozen=True)
class Account:
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Call:
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None
    talk_time_s: int | None = None
    direction: str | None = None
    status: str | None = None
    first_call: bool | None = None
    spam: bool | None = None
    recording_url: str | None = None
    transcript: str | None = None


@dataclass(frozen=True)
class Caller:
    number: str | None = None
    name: str | None = None
    email: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    postal_code: str | None = None


@dataclass(frozen=True)
class Attribution:
    dni_type: str | None = None
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    keyword: str | None = None
    ad_group: str | None = None
    ad: str | None = None
    landing_page: str | None = None
    referrer: str | None = None
    gclid: str | None = None
    gbraid: str | None = None
    wbraid: str | None = None
    fbclid: str | None = None
    msclkid: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    ga_client_id: str | None = None
    ga_session_id: str | None = None
    visitor_ip: str | None = None


@dataclass(frozen=True)
class Outcome:
    qualified: bool | None = None
    lead_status: str | None = None
    value: Decimal | None = None
    currency: str | None = None
    tags: tuple[str, ...] | None = None
    notes: str | None = None
    agent: str | None = None


@dataclass(frozen=True)
class CallEvent:
    """One thing a provider told us about one call.

    `id` and `source` are filled by the hub when the event is received (providers leave them
    empty); `provider_call_id` ties the versions of one call together.
    """

    provider: str
    provider_call_id: str
    kind: str
    occurred_at: datetime
    id: str = ""
    source: str = ""
    account: Account = field(default_factory=Account)
    call: Call = field(default_factory=Call)
    caller: Caller = field(default_factory=Caller)
    tracking_number: str | None = None
    business_number: str | None = None
    attribution: Attribution = field(default_factory=Attribution)
    outcome: Outcome = field(default_factory=Outcome)
    custom: Mapping[str, Any] = field(default_factory=dict)
    #: What the provider sent that could not be read (the event was built without it).
    warnings: tuple[str, ...] = ()

    @property
    def call_key(self) -> tuple[str, str]:
        return (self.source, self.provider_call_id)


def event_id(source: str, receipt_key: str, index: int) -> str:
    """Stable id of the index-th event of one received delivery: a re-delivery maps to the same id."""
    digest = hashlib.sha256(f"{source}\x00{receipt_key}\x00{index}".encode()).hexdigest()
    return f"evt_{digest[:24]}"


# --- JSON contract ---------------------------------------------------------------------------


class UTCDateTime(fields.DateTime):
    """ISO 8601 in, timezone-aware UTC out; a naive value is refused rather than guessed."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            raise ValidationError("timestamp needs a UTC offset")
        return parsed.astimezone(UTC)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return str(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))


def _blank_to_none(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {key: (None if value == "" else value) for key, value in data.items()}
    return data


class _Part(Schema):
    class Meta:
        unknown = EXCLUDE

    model: type[Any]

    @pre_load
    def _blanks(self, data: Any, **_: Any) -> Any:
        return _blank_to_none(data)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        return self.model(**data)


# Every part field may be absent: it loads as None.
_OPTIONAL: Final[dict[str, Any]] = {"load_default": None, "allow_none": True}


def _str() -> fields.String:
    return fields.String(**_OPTIONAL)


class AccountSchema(_Part):
    model = Account
    id = _str()
    name = _str()


class CallSchema(_Part):
    model = Call
    started_at = UTCDateTime(**_OPTIONAL)
    answered_at = UTCDateTime(**_OPTIONAL)
    ended_at = UTCDateTime(**_OPTIONAL)
    duration_s = fields.Integer(**_OPTIONAL, validate=validate.Range(min=0))
    talk_time_s = fields.Integer(**_OPTIONAL, validate=validate.Range(min=0))
    direction = fields.String(**_OPTIONAL, validate=validate.OneOf(DIRECTIONS))
    status = fields.String(**_OPTIONAL, validate=validate.OneOf(STATUSES))
    first_call = fields.Boolean(**_OPTIONAL)
    spam = fields.Boolean(**_OPTIONAL)
    recording_url = _str()
    transcript = _str()


class CallerSchema(_Part):
    model = Caller
    number = _str()
    name = _str()
    email = _str()
    city = _str()
    region = _str()
    country = fields.String(**_OPTIONAL, validate=validate.Length(equal=2))
    postal_code = _str()


class AttributionSchema(_Part):
    model = Attribution
    dni_type = fields.String(**_OPTIONAL, validate=validate.OneOf(DNI_TYPES))
    source = _str()
    medium = _str()
    campaign = _str()
    keyword = _str()
    ad_group = _str()
    ad = _str()
    landing_page = _str()
    referrer = _str()
    gclid = _str()
    gbraid = _str()
    wbraid = _str()
    fbclid = _str()
    msclkid = _str()
    utm_source = _str()
    utm_medium = _str()
    utm_campaign = _str()
    utm_term = _str()
    utm_content = _str()
    ga_client_id = _str()
    ga_session_id = _str()
    visitor_ip = _str()


class OutcomeSchema(_Part):
    model = Outcome
    qualified = fields.Boolean(**_OPTIONAL)
    lead_status = _str()
    value = fields.Decimal(**_OPTIONAL, as_string=True)
    currency = fields.String(**_OPTIONAL, validate=validate.Length(equal=3))
    tags = fields.List(fields.String(), load_default=None, allow_none=True)
    notes = _str()
    agent = _str()

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Outcome:
        if data.get("tags") is not None:
            data["tags"] = tuple(data["tags"])
        return Outcome(**data)


class CallEventSchema(Schema):
    class Meta:
        unknown = EXCLUDE
        ordered = True

    id = fields.String(load_default="", allow_none=True)
    source = fields.String(load_default="", allow_none=True)
    provider = fields.String(required=True)
    provider_call_id = fields.String(required=True, validate=validate.Length(min=1))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    occurred_at = UTCDateTime(required=True)
    account = fields.Nested(AccountSchema, load_default=Account)
    call = fields.Nested(CallSchema, load_default=Call)
    caller = fields.Nested(CallerSchema, load_default=Caller)
    tracking_number = _str()
    business_number = _str()
    attribution = fields.Nested(AttributionSchema, load_default=Attribution)
    outcome = fields.Nested(OutcomeSchema, load_default=Outcome)
    custom = fields.Dict(keys=fields.String(), load_default=dict)
    warnings = fields.List(fields.String(), load_default=list)

    @pre_load
    def _blanks(self, data: Any, **_: Any) -> Any:
        return _blank_to_none(data)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> CallEvent:
        # An event a provider just parsed has no id or source yet: "" (not null) until stamped.
        data["id"] = data.get("id") or ""
        data["source"] = data.get("source") or ""
        data["warnings"] = tuple(data.get("warnings") or ())
        return CallEvent(**data)


_SCHEMA: Final = CallEventSchema()


def dump_event(event: CallEvent) -> dict[str, Any]:
    """The event as JSON-ready data (the contract): what `_SCHEMA.dump` gives, faster (below)."""
    return _CANONICAL_WRITER(event)


def load_event(data: Mapping[str, Any]) -> CallEvent:
    """Validate and build an event from contract data; raises marshmallow.ValidationError."""
    event = _read_canonical(data)
    if event is None:
        event = _SCHEMA.load(data)
    return event


# --- Canonical contract data, read without the schema's machinery ---------------------------
#
# Stored events are loaded far more often than anything else is parsed (each destination's
# delivery of a call, each merge of its versions), and marshmallow spends ~0.4 ms on one. Data in
# the shape `dump_event` writes is read here in a fraction of that, by readers built from the
# schemas' own fields, defaults, validators and post_load builders, so the schema stays the one
# contract. Anything else (another spelling of a value, a wrong type, a refused value) is not
# read here: it goes through the schema, which converts it or raises its own error.


class _NotCanonical(Exception):
    pass


#: How `dump_event` writes a timestamp (always UTC "Z"; an offset is accepted from older data).
_CANONICAL_TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?(Z|[+-]\d\d:\d\d)")


def _read_time(value: Any) -> datetime:
    if not isinstance(value, str) or not _CANONICAL_TIME.fullmatch(value):
        raise _NotCanonical
    return datetime.fromisoformat(value).astimezone(UTC)


def _read_str(value: Any) -> str:
    if not isinstance(value, str):
        raise _NotCanonical
    return value


def _read_int(value: Any) -> int:
    if type(value) is not int:
        raise _NotCanonical
    return value


def _read_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _NotCanonical
    return value


#: How `dump_event` writes a money value (a plain decimal: never an exponent, NaN or infinity).
_DECIMAL_TEXT: Final = re.compile(r"-?\d+(\.\d+)?")


def _read_decimal(value: Any) -> Decimal:
    if not _DECIMAL_TEXT.fullmatch(_read_str(value)):
        raise _NotCanonical
    return Decimal(value)


def _read_strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _NotCanonical
    return list(value)


def _read_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise _NotCanonical
    return dict(value)


def _value_reader(field: fields.Field[Any]) -> Callable[[Any], Any]:
    if isinstance(field, UTCDateTime):
        return _read_time
    if isinstance(field, fields.Nested):
        return _schema_reader(field.schema)
    readers: dict[type[Any], Callable[[Any], Any]] = {
        fields.String: _read_str,
        fields.Integer: _read_int,
        fields.Boolean: _read_bool,
        fields.Decimal: _read_decimal,
        fields.List: _read_strings,
        fields.Dict: _read_object,
    }
    reader = readers.get(type(field))
    if reader is None or (isinstance(field, fields.List) and type(field.inner) is not fields.String):
        raise TypeError(f"no canonical reader for {type(field).__name__}: add one")
    return reader


def _schema_reader(schema: Schema) -> Callable[[Any], Any]:
    """Builds what `schema.load` would from canonical data, or raises _NotCanonical."""
    plan = [
        (name, field.data_key or name, _value_reader(field), field)
        for name, field in schema.fields.items()
        if not field.dump_only
    ]
    build: Callable[[dict[str, Any]], Any] = schema._make  # type: ignore[attr-defined]  # its post_load

    def read(data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise _NotCanonical
        values: dict[str, Any] = {}
        for name, key, reader, declared in plan:
            if key not in data:
                if declared.required:
                    raise _NotCanonical
                default = declared.load_default
                if default is not missing:
                    values[name] = default() if callable(default) else default
                continue
            value = data[key]
            if value == "":  # the schemas' pre_load: a blank is null
                value = None
            if value is None:
                if not declared.allow_none:
                    raise _NotCanonical
                values[name] = None
                continue
            values[name] = value = reader(value)
            for check in declared.validators:
                try:
                    check(value)
                except ValidationError as exc:
                    raise _NotCanonical from exc
        return build(values)

    return read


_CANONICAL_READER: Final = _schema_reader(_SCHEMA)


def _read_canonical(data: Mapping[str, Any]) -> CallEvent | None:
    """The event `data` holds when it is in `dump_event`'s shape and valid, else None."""
    try:
        event: CallEvent = _CANONICAL_READER(data)
    except _NotCanonical:
        return None
    return event


# --- Contract data, written without the schema's machinery -----------------------------------
#
# Every version is dumped when parsed and every merged state when stored, ~0.5 ms each through
# marshmallow, and on SQLite the merged state is written under the one write lock. The writer is
# built from the schemas' own fields: a value of the exact type a field writes unchanged (a str in
# a String, an int in an Integer) is taken as it is, anything else is written by the field itself.


def _value_writer(field: fields.Field[Any]) -> Callable[[Any], Any]:
    write_slowly: Callable[..., Any] = field._serialize
    if isinstance(field, fields.Nested):
        write_part = _schema_writer(field.schema)
        return lambda value: None if value is None else write_part(value)
    exact = {fields.String: str, fields.Integer: int, fields.Boolean: bool}.get(type(field))
    if exact is not None:
        return lambda value: (
            value if value is None or type(value) is exact else write_slowly(value, None, None)
        )
    if isinstance(field, fields.List) and type(field.inner) is fields.String:

        def write_strings(value: Any) -> Any:
            if value is not None and all(type(item) is str for item in value):
                return list(value)
            return write_slowly(value, None, None)

        return write_strings
    return lambda value: write_slowly(value, None, None)


def _schema_writer(schema: Schema) -> Callable[[Any], dict[str, Any]]:
    """Writes what `schema.dump` would (the schemas have no dump hooks to run)."""
    plan = [
        (field.data_key or name, name, _value_writer(field)) for name, field in schema.dump_fields.items()
    ]

    def write(obj: Any) -> dict[str, Any]:
        return {key: writer(getattr(obj, name)) for key, name, writer in plan}

    return write


_CANONICAL_WRITER: Final = _schema_writer(_SCHEMA)


def validate_event(event: CallEvent) -> CallEvent:
    """Round-trip through the schema so a provider plugin cannot emit something the contract refuses."""
    return load_event(dump_event(event))


# --- Paths into the event (used by mappings and routing) -------------------------------------

#: The event's sections by name: the first part of a dotted path such as `caller.number`.
SECTIONS: Final[dict[str, type[Any]]] = {
    "account": Account,
    "call": Call,
    "caller": Caller,
    "attribution": Attribution,
    "outcome": Outcome,
}


def known_paths() -> list[str]:
    """Every dotted path a mapping may read, e.g. `caller.number`; `custom.<key>` is open-ended."""
    paths = [f.name for f in dataclasses.fields(CallEvent) if f.name not in SECTIONS and f.name != "custom"]
    for section, model in SECTIONS.items():
        paths.extend(f"{section}.{f.name}" for f in dataclasses.fields(model))
    return paths


def get_path(event: CallEvent, path: str) -> Any:
    """Value at a dotted path, None when absent; `custom.a.b` walks into the provider's custom data."""
    head, _, rest = path.partition(".")
    if head == "custom":
        value: Any = event.custom
        for part in rest.split(".") if rest else []:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value
    value = getattr(event, head, None)
    if rest:
        value = getattr(value, rest, None)
    return value
