"""GA4 Measurement Protocol limits, checked on a request body.

The connector refuses what breaks them before sending (the fake keeps its own copy for its
`/debug/mp/collect`, connectors/ga4/fake/validation.py). The collect endpoint itself never
reports anything, so these checks are the only place a broken event becomes visible.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

MAX_EVENTS_PER_REQUEST: Final = 25
MAX_PARAMS_PER_EVENT: Final = 25
MAX_USER_PROPERTIES: Final = 25
MAX_EVENT_NAME_CHARS: Final = 40
MAX_PARAM_NAME_CHARS: Final = 40
MAX_PARAM_VALUE_CHARS: Final = 100
MAX_USER_PROPERTY_NAME_CHARS: Final = 24
MAX_USER_PROPERTY_VALUE_CHARS: Final = 36
#: Google: "post body must be smaller than 130kB"; read as decimal kilobytes to stay under it.
MAX_BODY_BYTES: Final = 130_000
#: Backdating window; Google words it as 3 calendar days in the property's time zone, and 72 h
#: is the part of that window every time zone agrees on.
MAX_EVENT_AGE: Final = timedelta(hours=72)
#: Clock skew tolerated between a provider and this hub before a timestamp counts as future.
FUTURE_TOLERANCE: Final = timedelta(minutes=15)

NAME_PATTERN: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Google's reserved names for the Measurement Protocol, as its reference publishes them:
#: https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference#reserved_names
#: Events GA4 collects automatically on the web (page_view, click, scroll, form_start,
#: file_download, video_*...) are not on it: sending them is allowed, if rarely wise.
RESERVED_URL: Final = (
    "https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference#reserved_names"
)
#: Param names may not begin with these (the reference's list); event names neither, except `gtag.`
#: which the name pattern already refuses.
RESERVED_PREFIXES: Final = ("_", "firebase_", "ga_", "google_", "gtag.")
#: User property names may not begin with these (`gtag.` is a param-only prefix).
RESERVED_USER_PROPERTY_PREFIXES: Final = ("_", "firebase_", "ga_", "google_")
# fmt: off
RESERVED_EVENT_NAMES: Final = frozenset({
    "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure",
    "app_clear_data", "app_exception", "app_install", "app_remove", "app_store_refund", "app_update",
    "app_upgrade", "dynamic_link_app_open", "dynamic_link_app_update", "dynamic_link_first_open", "error",
    "firebase_campaign", "firebase_in_app_message_action", "firebase_in_app_message_dismiss",
    "firebase_in_app_message_impression", "first_open", "first_visit", "notification_dismiss",
    "notification_foreground", "notification_open", "notification_receive", "notification_send",
    "os_update", "session_start", "user_engagement",
})
#: Reserved for app streams only (the hub sends web-stream events, so they are not refused).
APP_STREAM_RESERVED_EVENT_NAMES: Final = frozenset({"ad_impression", "in_app_purchase", "screen_view"})
# `session_id`, `engagement_time_msec`, `gclid`... are reserved for custom *dimensions* in the GA
# UI (support.google.com/analytics/answer/13316687), not as Measurement Protocol params: the
# protocol needs `session_id` and `engagement_time_msec` in params to join the web session.
RESERVED_PARAM_NAMES: Final = frozenset({"firebase_conversion"})
RESERVED_USER_PROPERTY_NAMES: Final = frozenset({
    "first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id", "first_open_after_install",
})
# fmt: on
USER_DATA_KEYS: Final = frozenset({"sha256_email_address", "sha256_phone_number", "address"})
CONSENT_KEYS: Final = frozenset({"ad_user_data", "ad_personalization"})
CONSENT_VALUES: Final = frozenset({"GRANTED", "DENIED"})
_SHA256_HEX: Final = re.compile(r"^[0-9a-f]{64}$")

# GA's validation codes.
VALUE_INVALID: Final = "VALUE_INVALID"
VALUE_REQUIRED: Final = "VALUE_REQUIRED"
NAME_INVALID: Final = "NAME_INVALID"
NAME_RESERVED: Final = "NAME_RESERVED"
VALUE_OUT_OF_BOUNDS: Final = "VALUE_OUT_OF_BOUNDS"
EXCEEDED_MAX_ENTITIES: Final = "EXCEEDED_MAX_ENTITIES"
#: Not a GA code: the hub's own verdict on a timestamp outside the backdating window.
TOO_OLD: Final = "TOO_OLD"


@dataclass(frozen=True)
class Problem:
    """One broken rule, in GA's validation message terms."""

    field_path: str
    description: str
    code: str
    #: Index into the request's `events`, None for request-level problems.
    event_index: int | None = None

    def as_message(self) -> dict[str, str]:
        """GA's `validationMessages` item (the hub's own TOO_OLD maps to VALUE_OUT_OF_BOUNDS)."""
        code = VALUE_OUT_OF_BOUNDS if self.code == TOO_OLD else self.code
        return {"fieldPath": self.field_path, "description": self.description, "validationCode": code}


def body_size(body: Mapping[str, Any]) -> int:
    """Bytes of the body as the transport serialises it."""
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())


def name_problem(name: Any, max_chars: int) -> tuple[str, str] | None:
    """(code, why) when `name` breaks the charset or length rule, else None."""
    if not isinstance(name, str) or not name:
        return VALUE_REQUIRED, "is missing"
    if len(name) > max_chars:
        return VALUE_OUT_OF_BOUNDS, f"is longer than {max_chars} characters"
    if not NAME_PATTERN.match(name):
        return NAME_INVALID, "must start with a letter and use only letters, digits and underscores"
    return None


def reserved(name: str, names: frozenset[str], prefixes: Sequence[str] = RESERVED_PREFIXES) -> bool:
    return name in names or name.startswith(tuple(prefixes))


def check_body(body: Mapping[str, Any], now: datetime | None = None) -> list[Problem]:
    """Every limit `body` breaks; `now` enables the timestamp window checks."""
    problems: list[Problem] = []
    if not isinstance(body.get("client_id"), str) or not body.get("client_id"):
        problems.append(Problem("client_id", "client_id is required for a web stream.", VALUE_REQUIRED))
    problems += _user_id_problems(body)
    problems += _timestamp_problems(body.get("timestamp_micros"), "timestamp_micros", None, now)
    problems += _consent_problems(body.get("consent"))
    problems += _user_data_problems(body.get("user_data"))
    problems += _user_property_problems(body.get("user_properties"))
    events = body.get("events")
    if not isinstance(events, list) or not events:
        problems.append(Problem("events", "A request needs at least one event.", VALUE_REQUIRED))
        return problems
    if len(events) > MAX_EVENTS_PER_REQUEST:
        problems.append(
            Problem(
                "events",
                f"A request may carry at most {MAX_EVENTS_PER_REQUEST} events; this one has {len(events)}.",
                EXCEEDED_MAX_ENTITIES,
            )
        )
    for index, event in enumerate(events):
        problems += event_problems(event, index, now)
    size = body_size(body)
    if size >= MAX_BODY_BYTES:
        problems.append(
            Problem(
                "", f"Request body is {size} bytes; it must be under {MAX_BODY_BYTES}.", VALUE_OUT_OF_BOUNDS
            )
        )
    return problems


def event_problems(event: Any, index: int, now: datetime | None = None) -> list[Problem]:
    """The problems of one event of a request."""
    where = f"Event at index: [{index}]"
    if not isinstance(event, Mapping):
        return [Problem("events", f"{where} is not an object.", VALUE_INVALID, index)]
    problems: list[Problem] = []
    name = event.get("name")
    verdict = name_problem(name, MAX_EVENT_NAME_CHARS)
    if verdict is not None:
        problems.append(
            Problem("events", f"{where} has invalid name [{name}]: it {verdict[1]}.", verdict[0], index)
        )
    elif reserved(str(name), RESERVED_EVENT_NAMES):
        problems.append(Problem("events", f"{where} has reserved name [{name}].", NAME_RESERVED, index))
    problems += _timestamp_problems(event.get("timestamp_micros"), "events.timestamp_micros", index, now)
    params = event.get("params", {})
    if not isinstance(params, Mapping):
        return [
            *problems,
            Problem("events.params", f"{where} has params that are not an object.", VALUE_INVALID, index),
        ]
    if len(params) > MAX_PARAMS_PER_EVENT:
        problems.append(
            Problem(
                "events.params",
                f"{where} has {len(params)} params; at most {MAX_PARAMS_PER_EVENT} are allowed.",
                EXCEEDED_MAX_ENTITIES,
                index,
            )
        )
    for param, value in params.items():
        problems += _param_problems(str(param), value, where, index)
    return problems


def _param_problems(param: str, value: Any, where: str, index: int) -> list[Problem]:
    path = f"events.params.{param}"
    verdict = name_problem(param, MAX_PARAM_NAME_CHARS)
    if verdict is not None:
        return [
            Problem(
                path, f"{where} has param with invalid name [{param}]: it {verdict[1]}.", verdict[0], index
            )
        ]
    if reserved(param, RESERVED_PARAM_NAMES):
        return [Problem(path, f"{where} has param with reserved name [{param}].", NAME_RESERVED, index)]
    if param == "items" and isinstance(value, list):
        return []
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return [
            Problem(
                path,
                f"{where} has param [{param}] whose value is not a string or a number.",
                VALUE_INVALID,
                index,
            )
        ]
    if isinstance(value, str) and len(value) > MAX_PARAM_VALUE_CHARS:
        return [
            Problem(
                path,
                f"{where} has param [{param}] whose value is longer than {MAX_PARAM_VALUE_CHARS} characters.",
                VALUE_OUT_OF_BOUNDS,
                index,
            )
        ]
    return []


def _timestamp_problems(value: Any, path: str, index: int | None, now: datetime | None) -> list[Problem]:
    if value is None:
        return []
    where = f"Event at index: [{index}] has" if index is not None else "Request has"
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return [
            Problem(path, f"{where} timestamp_micros that is not a positive integer.", VALUE_INVALID, index)
        ]
    if now is None:
        return []
    now_micros = int(now.timestamp() * 1_000_000)
    if value < now_micros - MAX_EVENT_AGE // timedelta(microseconds=1):
        return [Problem(path, f"{where} timestamp_micros more than 72 hours in the past.", TOO_OLD, index)]
    if value > now_micros + FUTURE_TOLERANCE // timedelta(microseconds=1):
        return [Problem(path, f"{where} timestamp_micros in the future.", VALUE_INVALID, index)]
    return []


def _consent_problems(consent: Any) -> list[Problem]:
    if consent is None:
        return []
    if not isinstance(consent, Mapping):
        return [Problem("consent", "consent must be an object.", VALUE_INVALID)]
    problems = []
    for key, value in consent.items():
        if key not in CONSENT_KEYS:
            problems.append(Problem(f"consent.{key}", f"Unknown consent field [{key}].", NAME_INVALID))
        elif value not in CONSENT_VALUES:
            problems.append(
                Problem(f"consent.{key}", f"consent.{key} must be GRANTED or DENIED.", VALUE_INVALID)
            )
    return problems


#: Google's User-ID guidance: at most 256 characters, and never personal data such as an email
#: address or a phone number (https://support.google.com/analytics/answer/9213390).
MAX_USER_ID_CHARS: Final = 256
_LOOKS_PERSONAL: Final = re.compile(r"@|^\+?[\d\s().-]{7,}$")


def _user_id_problems(body: Mapping[str, Any]) -> list[Problem]:
    if "user_id" not in body:
        return []
    user_id = body["user_id"]
    if not isinstance(user_id, str) or not user_id:
        return [Problem("user_id", "user_id must be a non-empty string.", VALUE_INVALID)]
    if len(user_id) > MAX_USER_ID_CHARS:
        return [
            Problem("user_id", f"user_id is longer than {MAX_USER_ID_CHARS} characters.", VALUE_OUT_OF_BOUNDS)
        ]
    if _LOOKS_PERSONAL.search(user_id):
        return [
            Problem(
                "user_id",
                "user_id looks like an email address or a phone number; GA4 forbids personal data in it.",
                VALUE_INVALID,
            )
        ]
    return []


def _user_data_problems(user_data: Any) -> list[Problem]:
    if user_data is None:
        return []
    if not isinstance(user_data, Mapping):
        return [Problem("user_data", "user_data must be an object.", VALUE_INVALID)]
    problems = []
    for key, value in user_data.items():
        path = f"user_data.{key}"
        if key not in USER_DATA_KEYS:
            problems.append(Problem(path, f"Unknown user_data field [{key}].", NAME_INVALID))
        elif key != "address" and (
            not isinstance(value, list) or not all(isinstance(v, str) and _SHA256_HEX.match(v) for v in value)
        ):
            problems.append(Problem(path, f"{path} must be a list of hex SHA-256 digests.", VALUE_INVALID))
    return problems


def _user_property_problems(properties: Any) -> list[Problem]:
    if properties is None:
        return []
    if not isinstance(properties, Mapping):
        return [Problem("user_properties", "user_properties must be an object.", VALUE_INVALID)]
    problems = []
    if len(properties) > MAX_USER_PROPERTIES:
        problems.append(
            Problem(
                "user_properties",
                f"At most {MAX_USER_PROPERTIES} user properties are allowed.",
                EXCEEDED_MAX_ENTITIES,
            )
        )
    for name, holder in properties.items():
        path = f"user_properties.{name}"
        verdict = name_problem(name, MAX_USER_PROPERTY_NAME_CHARS)
        if verdict is not None:
            problems.append(
                Problem(path, f"User property [{name}] has an invalid name: it {verdict[1]}.", verdict[0])
            )
            continue
        if reserved(name, RESERVED_USER_PROPERTY_NAMES, RESERVED_USER_PROPERTY_PREFIXES):
            problems.append(Problem(path, f"User property [{name}] has a reserved name.", NAME_RESERVED))
            continue
        value = holder.get("value") if isinstance(holder, Mapping) else None
        if isinstance(value, str) and len(value) > MAX_USER_PROPERTY_VALUE_CHARS:
            problems.append(
                Problem(
                    path,
                    f"User property [{name}] is longer than {MAX_USER_PROPERTY_VALUE_CHARS} characters.",
                    VALUE_OUT_OF_BOUNDS,
                )
            )
    return problems
