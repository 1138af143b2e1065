"""The GA4 destination's hub.yaml options, parsed into one typed object and checked at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.ga4 import limits

REGIONS: Final = {"global": "https://www.google-analytics.com", "eu": "https://region1.google-analytics.com"}
NO_CLIENT_ID_POLICIES: Final = ("skip", "pseudonymous")
DEFAULT_REPORT_EVENTS: Final = ("phone_call", "qualified_call")
DEFAULT_SOURCE_DIMENSION: Final = "customEvent:hub_source"

_KEYS: Final = {
    "region": "`global` (default) or `eu` (region1.google-analytics.com)",
    "no_client_id": "`skip` (default) or `pseudonymous`",
    "user_data": "false (default), true, or a list of source ids allowed to send hashed caller numbers",
    "consent": "{ad_user_data: GRANTED|DENIED, ad_personalization: GRANTED|DENIED}",
    "non_personalized_ads": "true or false",
    "validate_before_send": "true to POST every request to /debug/mp/collect first",
    "resend_in_doubt": "true to resend events whose earlier send was never confirmed",
    "report_events": "event names `hub ga4 report` compares",
    "report_source_dimension": "Data API dimension holding the hub source (default customEvent:hub_source)",
    "report_timezone": "the GA4 property's time zone, e.g. America/New_York (default UTC)",
}


@dataclass(frozen=True)
class Ga4Options:
    region: str = "global"
    no_client_id: str = "skip"
    #: True: every source may send user_data; a tuple: only these sources; False: none.
    user_data: bool | tuple[str, ...] = False
    consent: Mapping[str, str] = field(default_factory=dict)
    non_personalized_ads: bool | None = None
    validate_before_send: bool = False
    resend_in_doubt: bool = False
    report_events: tuple[str, ...] = DEFAULT_REPORT_EVENTS
    report_source_dimension: str = DEFAULT_SOURCE_DIMENSION
    report_timezone: str = "UTC"

    @property
    def base_url(self) -> str:
        return REGIONS[self.region]

    def user_data_allowed(self, source: str) -> bool:
        if isinstance(self.user_data, bool):
            return self.user_data
        return source in self.user_data


def option_problems(options: Mapping[str, Any]) -> list[str]:
    """Every problem with a GA4 destination's options, each naming the option."""
    problems = [
        f"options.{key}: unknown option; known: {', '.join(sorted(_KEYS))}"
        for key in options
        if key not in _KEYS
    ]
    for key, check in _CHECKS.items():
        if key in options:
            problem = check(options[key])
            if problem:
                problems.append(f"options.{key}: {problem} (expected {_KEYS[key]})")
    return problems


def parse_options(options: Mapping[str, Any]) -> Ga4Options:
    """Typed options; call `option_problems` first (the hub does at start), bad values fall back."""
    if option_problems(options):
        valid = {key: value for key, value in options.items() if key in _KEYS and not _CHECKS[key](value)}
        return parse_options(valid)
    user_data = options.get("user_data", False)
    return Ga4Options(
        region=options.get("region", "global"),
        no_client_id=options.get("no_client_id", "skip"),
        user_data=user_data if isinstance(user_data, bool) else tuple(user_data),
        consent=dict(options.get("consent", {})),
        non_personalized_ads=options.get("non_personalized_ads"),
        validate_before_send=bool(options.get("validate_before_send", False)),
        resend_in_doubt=bool(options.get("resend_in_doubt", False)),
        report_events=tuple(options.get("report_events", DEFAULT_REPORT_EVENTS)),
        report_source_dimension=options.get("report_source_dimension", DEFAULT_SOURCE_DIMENSION),
        report_timezone=options.get("report_timezone", "UTC"),
    )


def _one_of(*allowed: str) -> Any:
    return lambda value: None if value in allowed else f"got {value!r}"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"got {value!r}"


def _user_data(value: Any) -> str | None:
    if isinstance(value, bool) or (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        return None
    return f"got {value!r}"


def _consent(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"got {value!r}"
    wrong = [
        f"{key}={item!r}"
        for key, item in value.items()
        if key not in limits.CONSENT_KEYS or item not in limits.CONSENT_VALUES
    ]
    return f"bad entries {', '.join(wrong)}" if wrong else None


def _event_names(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return f"got {value!r}"
    bad = [name for name in value if limits.name_problem(name, limits.MAX_EVENT_NAME_CHARS) is not None]
    return f"invalid event names {bad!r}" if bad else None


def _dimension(value: Any) -> str | None:
    return None if isinstance(value, str) and value else f"got {value!r}"


def _timezone(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"got {value!r}"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


_CHECKS: Final = {
    "region": _one_of(*REGIONS),
    "no_client_id": _one_of(*NO_CLIENT_ID_POLICIES),
    "user_data": _user_data,
    "consent": _consent,
    "non_personalized_ads": _boolean,
    "validate_before_send": _boolean,
    "resend_in_doubt": _boolean,
    "report_events": _event_names,
    "report_source_dimension": _dimension,
    "report_timezone": _timezone,
}
