"""A provider definition (`mappings/providers/<name>.yaml`), validated strictly.

Every problem is collected with the file, line and key it concerns, so one run of `hub check`
lists them all. The format is documented in docs/providers/generic.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import phonenumbers

from hub.core.errors import ConfigError
from hub.core.yamlsource import YamlProblem, load_located
from webhooks import auth
from webhooks.generic.checker import Checker, kind_of
from webhooks.generic.rules import FieldRule, field_rules

BODY_FORMATS: Final = ("json", "form", "query")
TOP_KEYS: Final = (
    "version",
    "name",
    "auth",
    "body",
    "events",
    "delivery_id",
    "phone_region",
    "time_zone",
    "time_formats",
    "fields",
)
AUTH_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "hmac": (
        "header",
        "algorithm",
        "encoding",
        "prefix",
        "timestamp_header",
        "separator",
        "tolerance_s",
    ),
    "token": ("header", "query", "prefix"),
    "basic": ("username",),
    "none": ("insecure",),
}


@dataclass(frozen=True)
class Definition:
    """A checked definition: what the generic provider needs to serve one provider."""

    slug: str
    name: str
    auth: auth.AuthRecipe
    body: str = "json"
    events: str | None = None
    delivery_id: str | None = None
    phone_region: str | None = None
    time_zone: str | None = None
    time_formats: tuple[str, ...] = ()
    rules: tuple[FieldRule, ...] = field(default_factory=tuple)


def load_definition(path: Path) -> Definition:
    """Read and validate a definition file; ConfigError lists every problem with its line."""
    try:
        doc = load_located(path.read_text(encoding="utf-8"))
    except YamlProblem as exc:
        raise ConfigError([f"{path}:{exc.line}: {exc.message}"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    checker = Checker(path, doc)
    definition = _definition(checker, path.stem)
    if checker.problems or definition is None:
        raise ConfigError(checker.problems)
    return definition


def _definition(check: Checker, slug: str) -> Definition | None:
    top = check.mapping(check.doc.value, (), TOP_KEYS)
    if not top:
        return None
    if top.get("version", 1) != 1:
        check.add(("version",), f"unsupported version {top.get('version')!r}: this hub reads version 1")
    name = check.text(top.get("name"), ("name",), required=True) or slug
    recipe = _auth(check, top.get("auth"))
    body = check.choice(top.get("body"), ("body",), BODY_FORMATS, "json")
    if isinstance(recipe, auth.HmacAuth) and body == "query":
        check.add(("auth",), "an HMAC recipe signs a body; a query-string provider needs token or basic")
    region = check.text(top.get("phone_region"), ("phone_region",))
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        check.add(("phone_region",), f"{region!r} is not a region code like US or GB")
    zone = check.zone(top.get("time_zone"), ("time_zone",))
    formats = check.time_formats(top.get("time_formats"), ("time_formats",))
    rules = field_rules(check, top.get("fields"))
    if recipe is None:
        return None
    return Definition(
        slug=slug,
        name=name,
        auth=recipe,
        body=body,
        events=check.text(top.get("events"), ("events",)),
        delivery_id=check.text(top.get("delivery_id"), ("delivery_id",)),
        phone_region=region,
        time_zone=zone,
        time_formats=formats,
        rules=tuple(rules),
    )


def _auth(check: Checker, value: Any) -> auth.AuthRecipe | None:
    if value is None:
        check.add(("auth",), "is required (hmac, token, basic, or none with insecure: true)")
        return None
    if not isinstance(value, dict):
        check.add(("auth",), f"expected a mapping with a type, got {kind_of(value)}")
        return None
    kind = str(value.get("type"))
    if kind not in AUTH_KEYS:
        check.add(("auth", "type"), f"{kind!r} is not one of {', '.join(AUTH_KEYS)}")
        return None
    options = check.mapping(value, ("auth",), ("type", *AUTH_KEYS[kind]))
    where = ("auth",)
    if kind == "hmac":
        return _hmac(check, options)
    if kind == "token":
        header = check.text(options.get("header"), (*where, "header"))
        query = check.text(options.get("query"), (*where, "query"))
        if header is None and query is None:
            check.add(where, "a token recipe needs a header or a query parameter")
        prefix = options.get("prefix", "")
        return auth.TokenAuth(header=header, query=query, prefix=str(prefix))
    if kind == "basic":
        return auth.BasicAuth(username=check.text(options.get("username"), (*where, "username")))
    if options.get("insecure") is not True:
        check.add(where, "type none accepts anyone: it needs insecure: true, said explicitly")
        return None
    return auth.NoAuth()


def _hmac(check: Checker, options: dict[str, Any]) -> auth.HmacAuth | None:
    where = ("auth",)
    header = check.text(options.get("header"), (*where, "header"), required=True)
    algorithm = check.choice(options.get("algorithm"), (*where, "algorithm"), auth.ALGORITHMS, "sha256")
    encoding = check.choice(options.get("encoding"), (*where, "encoding"), auth.ENCODINGS, "hex")
    timestamp_header = check.text(options.get("timestamp_header"), (*where, "timestamp_header"))
    tolerance = options.get("tolerance_s", 300)
    if not isinstance(tolerance, int) or isinstance(tolerance, bool) or tolerance <= 0:
        check.add((*where, "tolerance_s"), f"expected a positive number of seconds, got {tolerance!r}")
        tolerance = 300
    for key in ("separator", "tolerance_s"):
        if key in options and timestamp_header is None:
            check.add((*where, key), "only means something with a timestamp_header")
    if header is None:
        return None
    return auth.HmacAuth(
        header=header,
        algorithm=algorithm,
        encoding="base64" if encoding == "base64" else "hex",
        prefix=str(options.get("prefix") or ""),
        timestamp_header=timestamp_header,
        separator=str(options.get("separator") or ""),
        tolerance_s=tolerance,
    )
