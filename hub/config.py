"""hub.yaml: sources, destinations and routes, validated at once with every problem listed.

Secrets are `${ENV}` references resolved here (`${NAME:-default}` gives a default). Sandbox mode
is only where it is said: a destination with `sandbox: true`, or one without credentials while
the hub runs in development (`hub run` on a workstation). In development a source whose secrets
are all unset gets a generated one, kept under the data directory. Anything else missing (a
misspelled variable, half a set of credentials) is a configuration error naming the variables.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.core.errors import ConfigError
from hub.core.secrets import Secret
from hub.core.yamlsource import YamlMap, load_file
from hub.settings import Settings

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ID = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

SOURCE_KEYS = {
    "id",
    "provider",
    "secrets",
    "default_region",
    "settle_s",
    "insecure",
    "options",
    "max_body_bytes",
}
DESTINATION_KEYS = {
    "id",
    "type",
    "credentials",
    "mappings",
    "options",
    "rate_limit",
    "max_attempts",
    "timeout_s",
    "enabled",
    "retry",
    "rate_limits",
    "sandbox",
    "batch_window_s",
    "max_in_flight",
}
ROUTE_KEYS = {"from", "to"}
TOP_KEYS = {"version", "sources", "destinations", "routes", "public_url", "retention", "alerts", "console"}


@dataclass(frozen=True)
class RetentionConfig:
    """How many days each kind of stored data is kept (`hub prune`, run daily by the dispatcher)."""

    #: Requests and answers kept with attempts and batches (they repeat callers' numbers and names).
    exchanges_days: int = 30
    #: The attempts themselves (outcome, reason, timing).
    attempts_days: int = 90
    #: Calls with their versions, deliveries and the webhook deliveries they came from, counted
    #: from when the hub last stored a version of the call (not the provider's call time);
    #: calls with work still pending are kept.
    calls_days: int = 365
    #: Webhook deliveries that never produced a call (parse failures, refused or empty ones).
    unparsed_receipts_days: int = 90
    #: Audit entries (who erased or pruned what).
    audit_days: int = 730


RETENTION_KEYS = {name for name in RetentionConfig.__dataclass_fields__}


@dataclass(frozen=True)
class SourceConfig:
    id: str
    provider: str
    secrets: tuple[Secret, ...]
    default_region: str = "US"
    #: Seconds to wait after `call.completed` before delivering, so quick updates fold into it.
    settle_s: float = 0.0
    insecure: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    secret_generated: bool = False
    max_body_bytes: int | None = None


@dataclass(frozen=True)
class DestinationConfig:
    id: str
    type: str
    credentials: Mapping[str, Secret]
    mappings: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    rate_limit: int | None = None
    rate_window_s: float = 1.0
    max_attempts: int = 8
    timeout_s: float = 15.0
    enabled: bool = True
    #: Extra limiter buckets beyond the default one, e.g. {"search": (5, 1.0)}.
    rate_limits: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    retry_base_s: float = 5.0
    retry_max_s: float = 3600.0
    #: Runs against the connector's local fake: `sandbox: true`, or no credentials in development.
    sandbox: bool = False
    #: How the local fake is shaped in sandbox mode (the connector's `sandbox_problems` checks it).
    sandbox_options: Mapping[str, Any] = field(default_factory=dict)
    #: Longest wait for a fuller batch once a call is due; None = the connector's own default.
    batch_window_s: float | None = None
    #: Batches that may be queued or sending at once; None = one per worker, plus one.
    max_in_flight: int | None = None


@dataclass(frozen=True)
class Route:
    sources: tuple[str, ...]
    destinations: tuple[str, ...]


@dataclass(frozen=True)
class HubConfig:
    path: Path
    sources: Mapping[str, SourceConfig]
    destinations: Mapping[str, DestinationConfig]
    routes: tuple[Route, ...]
    public_url: str | None = None
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    #: hub.yaml's `alerts:` and `console:` sections (hub.console.settings).
    alerts: Any = None
    console: Any = None

    def destinations_for(self, source_id: str) -> list[str]:
        found: dict[str, None] = {}
        for route in self.routes:
            if "*" in route.sources or source_id in route.sources:
                for destination in route.destinations:
                    if self.destinations[destination].enabled:
                        found[destination] = None
        return list(found)


# --- Environment references ------------------------------------------------------------------


def resolve_env(value: str, env: Mapping[str, str]) -> str:
    """Replace `${NAME}` / `${NAME:-default}`; an unset name without default becomes ""."""
    return _ENV_REF.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def env_names(value: str) -> list[str]:
    return [m.group(1) for m in _ENV_REF.finditer(value)]


# --- Generated secrets -----------------------------------------------------------------------


class GeneratedSecrets:
    """Secrets the hub made up because none was configured; kept so restarts reuse them."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "generated-secrets.json"
        self.values: dict[str, str] = {}
        if self.path.exists():
            self.values = json.loads(self.path.read_text())

    def get_or_create(self, name: str) -> tuple[str, bool]:
        """The secret `name`, made and stored if there is none; returns it with whether it is new.

        Several processes start at once (gunicorn's web workers, `hub worker`s): under one file
        lock each reads what another may have stored meanwhile, so all of them use the same
        secret (a console session key that differs per web worker would log users out at random).
        """
        if name in self.values:
            return self.values[name], False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.path.exists():
                self.values = json.loads(self.path.read_text())
            if name in self.values:
                return self.values[name], False
            self.values[name] = secrets.token_urlsafe(24)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            # Created owner-only: the secret is never readable by others, not even briefly.
            handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(handle, "w") as out:
                out.write(json.dumps(self.values, indent=2))
            tmp.replace(self.path)
            return self.values[name], True
        finally:
            os.close(lock)


def admin_token(settings: Settings) -> tuple[Secret, bool]:
    """The admin API token: HUB_ADMIN_TOKEN, else a generated one (returned with 'generated')."""
    if settings.admin_token:
        return settings.admin_token, False
    value, _ = GeneratedSecrets(settings.data_dir).get_or_create("admin_token")
    return Secret(value), True


# --- Loading and validation ------------------------------------------------------------------


class _Problems:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.items: list[str] = []

    def add(self, node: Any, key: str | None, message: str) -> None:
        line = node.line_of(key) if isinstance(node, YamlMap) and key else getattr(node, "line", 0)
        where = f"{self.filename}:{line}" if line else self.filename
        self.items.append(f"{where}: {message}")

    def unknown_keys(self, node: YamlMap, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                self.add(node, key, f"{what}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")


def load_config(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    generate_secrets: bool = True,
    known_providers: list[str] | None = None,
    known_destination_types: list[str] | None = None,
    missing_credentials: MissingCredentials | None = None,
) -> HubConfig:
    """Read and validate hub.yaml; raise ConfigError listing every problem with file and line."""
    environment = os.environ if env is None else env
    data, problems_found = load_file(settings.config_path)
    problems = _Problems(str(settings.config_path))
    problems.items.extend(problems_found)
    if problems.items:
        raise ConfigError(problems.items)
    if not isinstance(data, YamlMap):
        raise ConfigError(
            [f"{settings.config_path}: expected a mapping with sources, destinations and routes"]
        )
    problems.unknown_keys(data, TOP_KEYS, "hub.yaml")
    if data.get("version", 1) != 1:
        problems.add(data, "version", f"version must be 1, got {data.get('version')!r}")
    generated = GeneratedSecrets(settings.data_dir) if generate_secrets else None
    mode = _Mode(settings.development, settings.require_live, missing_credentials)

    sources = _sources(
        data.get("sources") or [], problems, environment, generated, known_providers, data, mode
    )
    destinations = _destinations(
        data.get("destinations") or [], problems, environment, known_destination_types, data, mode
    )
    routes = _routes(data.get("routes") or [], problems, sources, destinations, data)
    retention = _retention(data, problems)
    public_url = data.get("public_url")
    if public_url is not None and not isinstance(public_url, str):
        problems.add(data, "public_url", "public_url must be a string")
    from hub.console.settings import parse as parse_console

    alerts, console, console_problems = parse_console(
        _plain(data.get("alerts")), _plain(data.get("console")), lambda v: resolve_env(v, environment)
    )
    problems.items.extend(f"{settings.config_path}: {p}" for p in console_problems)
    if problems.items:
        raise ConfigError(problems.items)
    resolved_url = settings.public_url or (
        resolve_env(public_url, environment).rstrip("/") if public_url else None
    )
    return HubConfig(
        settings.config_path,
        sources,
        destinations,
        tuple(routes),
        resolved_url or None,
        retention,
        alerts,
        console,
    )


def _plain(value: Any) -> Any:
    """A loaded YAML node as plain dicts and lists (for sections parsed outside this module)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _retention(data: YamlMap, problems: _Problems) -> RetentionConfig:
    node = data.get("retention")
    if node is None:
        return RetentionConfig()
    if not isinstance(node, YamlMap):
        problems.add(data, "retention", "retention maps kinds of data to days, e.g. {calls_days: 365}")
        return RetentionConfig()
    problems.unknown_keys(node, RETENTION_KEYS, "retention")
    defaults = RetentionConfig()
    days = {
        key: _setting(
            node,
            key,
            getattr(defaults, key),
            _whole(1),
            "retention",
            "must be a whole number of days >= 1",
            problems,
        )
        for key in RETENTION_KEYS
    }
    retention = RetentionConfig(**days)
    if retention.exchanges_days > retention.attempts_days:
        problems.add(node, "exchanges_days", "retention: exchanges_days cannot exceed attempts_days")
    if retention.attempts_days > retention.calls_days:
        problems.add(node, "attempts_days", "retention: attempts_days cannot exceed calls_days")
    return retention


#: (destination type, credential names that are set) -> the names still needed to log in.
MissingCredentials = Callable[[str, frozenset[str]], list[str]]


@dataclass(frozen=True)
class _Mode:
    development: bool
    require_live: bool
    missing_credentials: MissingCredentials | None


_DEVELOPMENT_HINT = "only in development: `hub run`, or HUB_ENV=development"


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _mapping(value: Any) -> bool:
    return isinstance(value, dict)


def _seconds(low: float, high: float, *, open_low: bool = False) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return (low < value if open_low else low <= value) and value <= high

    return check


def _whole(low: int, high: int | None = None) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        return ok and (high is None or value <= high)

    return check


def _setting(
    node: YamlMap,
    key: str,
    default: Any,
    accept: Callable[[Any], bool],
    label: str,
    expected: str,
    problems: _Problems,
) -> Any:
    """The value of an optional key, or its default (with a problem) when the value is unusable."""
    value = node.get(key, default)
    if value is default or accept(value):
        return value
    problems.add(node, key, f"{label}: {key} {expected}")
    return default


def _list_of_maps(value: Any, what: str, problems: _Problems, parent: YamlMap) -> list[YamlMap]:
    if not isinstance(value, list) or not all(isinstance(item, YamlMap) for item in value):
        problems.add(parent, what, f"{what} must be a list of mappings")
        return []
    return value


def _id(node: YamlMap, what: str, problems: _Problems, seen: set[str]) -> str | None:
    value = node.get("id")
    if not isinstance(value, str) or not _ID.match(value):
        problems.add(node, "id", f"{what}: id must be lower-case letters, digits, '_' or '-' (got {value!r})")
        return None
    if value in seen:
        problems.add(node, "id", f"{what}: duplicate id {value!r}")
        return None
    seen.add(value)
    return value


def _sources(
    raw: Any,
    problems: _Problems,
    env: Mapping[str, str],
    generated: GeneratedSecrets | None,
    known_providers: list[str] | None,
    parent: YamlMap,
    mode: _Mode,
) -> dict[str, SourceConfig]:
    result: dict[str, SourceConfig] = {}
    seen: set[str] = set()
    for node in _list_of_maps(raw, "sources", problems, parent):
        problems.unknown_keys(node, SOURCE_KEYS, f"source {node.get('id')!r}")
        source_id = _id(node, "source", problems, seen)
        provider = node.get("provider")
        if not isinstance(provider, str):
            problems.add(node, "provider", f"source {source_id!r}: provider is required")
            continue
        if known_providers is not None and provider not in known_providers:
            problems.add(
                node,
                "provider",
                f"source {source_id!r}: unknown provider {provider!r}; known: {', '.join(known_providers)}",
            )
        raw_secrets = node.get("secrets", [])
        if isinstance(raw_secrets, str):
            raw_secrets = [raw_secrets]
        if not isinstance(raw_secrets, list) or not all(isinstance(s, str) for s in raw_secrets):
            problems.add(
                node, "secrets", f"source {source_id!r}: secrets must be a list of ${{ENV}} references"
            )
            raw_secrets = []
        for literal in raw_secrets:
            if not env_names(literal):
                problems.add(
                    node,
                    "secrets",
                    f"source {source_id!r}: write secrets as ${{ENV_VAR}} references, not inline",
                )
        values = [resolve_env(s, env) for s in raw_secrets]
        resolved = tuple(Secret(v) for v in values if v)
        label = f"source {source_id!r}"
        insecure = _setting(node, "insecure", False, _flag, label, "must be true or false", problems)
        secret_generated = False
        if not resolved and not insecure and source_id and not mode.development:
            names = ", ".join(n for literal in raw_secrets for n in env_names(literal)) or "none referenced"
            problems.add(
                node,
                "secrets",
                f"source {source_id!r}: no signing secret is set ({names}); set one or mark the "
                f"source insecure: true (generated secrets: {_DEVELOPMENT_HINT})",
            )
        elif not resolved and not insecure and generated is not None and source_id:
            value, _ = generated.get_or_create(f"source:{source_id}")
            resolved = (Secret(value),)
            secret_generated = True
        region = node.get("default_region", "US")
        if not isinstance(region, str) or not re.fullmatch(r"[A-Z]{2}", region):
            problems.add(
                node, "default_region", f"source {source_id!r}: default_region must be ISO alpha-2, e.g. US"
            )
            region = "US"
        settle = _setting(
            node, "settle_s", 0, _seconds(0, 3600), label, "must be seconds between 0 and 3600", problems
        )
        options = _setting(node, "options", {}, _mapping, label, "must be a mapping", problems)
        max_body = _setting(
            node, "max_body_bytes", None, _whole(1), label, "must be a positive integer", problems
        )
        if source_id:
            result[source_id] = SourceConfig(
                id=source_id,
                provider=provider,
                secrets=resolved,
                default_region=region,
                settle_s=float(settle),
                insecure=insecure,
                options=dict(options),
                secret_generated=secret_generated,
                max_body_bytes=max_body,
            )
    return result


def _destinations(
    raw: Any,
    problems: _Problems,
    env: Mapping[str, str],
    known_types: list[str] | None,
    parent: YamlMap,
    mode: _Mode,
) -> dict[str, DestinationConfig]:
    result: dict[str, DestinationConfig] = {}
    seen: set[str] = set()
    for node in _list_of_maps(raw, "destinations", problems, parent):
        problems.unknown_keys(node, DESTINATION_KEYS, f"destination {node.get('id')!r}")
        destination_id = _id(node, "destination", problems, seen)
        type_name = node.get("type")
        if not isinstance(type_name, str):
            problems.add(node, "type", f"destination {destination_id!r}: type is required")
            continue
        if known_types is not None and type_name not in known_types:
            problems.add(
                node,
                "type",
                f"destination {destination_id!r}: unknown type {type_name!r}; known: {', '.join(known_types)}",
            )
        credentials: dict[str, Secret] = {}
        variables: dict[str, list[str]] = {}
        raw_credentials = node.get("credentials", {})
        if not isinstance(raw_credentials, dict):
            problems.add(
                node, "credentials", f"destination {destination_id!r}: credentials must be a mapping"
            )
            raw_credentials = {}
        for name, value in raw_credentials.items():
            if not isinstance(value, str) or not env_names(value):
                problems.add(
                    raw_credentials,
                    name,
                    f"destination {destination_id!r}: credential {name!r} must be an ${{ENV_VAR}} reference",
                )
                continue
            credentials[name] = Secret(resolve_env(value, env))
            variables[name] = env_names(value)
        mappings = node.get("mappings", [])
        if not isinstance(mappings, list) or not all(isinstance(m, str) for m in mappings):
            problems.add(
                node, "mappings", f"destination {destination_id!r}: mappings must be a list of file paths"
            )
            mappings = []
        label = f"destination {destination_id!r}"
        options = _setting(node, "options", {}, _mapping, label, "must be a mapping", problems)
        explicit, sandbox_options = _sandbox_setting(node, label, problems)
        rate_limit, window = _rate_limit(node.get("rate_limit"), node, "rate_limit", destination_id, problems)
        buckets: dict[str, tuple[int, float]] = {}
        raw_buckets = node.get("rate_limits")
        if raw_buckets is not None and not isinstance(raw_buckets, YamlMap):
            problems.add(
                node,
                "rate_limits",
                f"destination {destination_id!r}: rate_limits maps bucket names to limits",
            )
        if isinstance(raw_buckets, YamlMap):
            for bucket, spec in raw_buckets.items():
                limit, per = _rate_limit(spec, raw_buckets, bucket, destination_id, problems)
                if limit:
                    buckets[bucket] = (limit, per)
        retry_base, retry_max = _retry(node, destination_id, problems)
        max_attempts = _setting(node, "max_attempts", 8, _whole(1, 50), label, "must be 1..50", problems)
        timeout = _setting(
            node, "timeout_s", 15, _seconds(0, 300, open_low=True), label, "must be in (0, 300]", problems
        )
        enabled = _setting(node, "enabled", True, _flag, label, "must be true or false", problems)
        sandbox = explicit
        if not sandbox and destination_id:
            sandbox = _credential_mode(node, label, type_name, credentials, variables, mode, problems)
        if sandbox and mode.require_live and enabled:
            problems.add(
                node, "sandbox", f"{label} would run in sandbox mode, which HUB_REQUIRE_LIVE forbids"
            )
        window_s = _setting(
            node, "batch_window_s", None, _seconds(0, 60), label, "must be seconds between 0 and 60", problems
        )
        in_flight = _setting(node, "max_in_flight", None, _whole(1, 100), label, "must be 1..100", problems)
        if destination_id:
            result[destination_id] = DestinationConfig(
                id=destination_id,
                type=type_name,
                credentials=credentials,
                mappings=tuple(mappings),
                options=dict(options),
                rate_limit=rate_limit,
                rate_window_s=window,
                max_attempts=max_attempts,
                timeout_s=float(timeout),
                enabled=enabled,
                rate_limits=buckets,
                retry_base_s=retry_base,
                retry_max_s=retry_max,
                sandbox=sandbox,
                sandbox_options=sandbox_options,
                batch_window_s=None if window_s is None else float(window_s),
                max_in_flight=in_flight,
            )
    return result


def _sandbox_setting(node: YamlMap, label: str, problems: _Problems) -> tuple[bool, dict[str, Any]]:
    """`sandbox: true` asks for the fake anywhere; a mapping only shapes the fake for when the
    destination runs in sandbox mode anyway (development without credentials), so options left
    in hub.yaml never keep a destination with credentials away from its real API."""
    value = node.get("sandbox")
    if value is None or isinstance(value, bool):
        return bool(value), {}
    if isinstance(value, dict):
        return False, dict(value)
    problems.add(node, "sandbox", f"{label}: sandbox is true, false, or a mapping of options for the fake")
    return False, {}


def _credential_mode(
    node: YamlMap,
    label: str,
    type_name: str,
    credentials: Mapping[str, Secret],
    variables: Mapping[str, list[str]],
    mode: _Mode,
    problems: _Problems,
) -> bool:
    """True for sandbox mode (development, no credentials); adds a problem for anything half set."""
    present = frozenset(name for name, secret in credentials.items() if secret)
    if not present:
        if mode.development:
            return True
        names = ", ".join(v for name in credentials for v in variables.get(name, ())) or "none referenced"
        problems.add(
            node,
            "credentials",
            f"{label}: no credentials are set ({names}); set them or mark it sandbox: true "
            f"(sandbox without saying so: {_DEVELOPMENT_HINT})",
        )
        return False
    missing = mode.missing_credentials(type_name, present) if mode.missing_credentials else []
    if missing:
        wanted = ", ".join(
            f"{name} ({'/'.join(variables[name])})" if variables.get(name) else f"{name} (not in hub.yaml)"
            for name in missing
        )
        problems.add(node, "credentials", f"{label}: some credentials are set but not all; missing: {wanted}")
    return False


def _rate_limit(
    raw: Any, parent: YamlMap, key: str, destination_id: str | None, problems: _Problems
) -> tuple[int | None, float]:
    if raw is None:
        return None, 1.0
    if isinstance(raw, YamlMap):
        problems.unknown_keys(raw, {"requests", "per_s"}, f"destination {destination_id!r} {key}")
        requests_ = raw.get("requests")
        window = raw.get("per_s", 1)
        if isinstance(requests_, int) and requests_ > 0 and isinstance(window, (int, float)) and window > 0:
            return requests_, float(window)
    problems.add(parent, key, f"destination {destination_id!r}: {key} is {{requests: N, per_s: S}}")
    return None, 1.0


def _retry(node: YamlMap, destination_id: str | None, problems: _Problems) -> tuple[float, float]:
    raw = node.get("retry")
    if raw is None:
        return 5.0, 3600.0
    if isinstance(raw, YamlMap):
        problems.unknown_keys(raw, {"base_s", "max_s"}, f"destination {destination_id!r} retry")
        base, cap = raw.get("base_s", 5.0), raw.get("max_s", 3600.0)
        if isinstance(base, (int, float)) and isinstance(cap, (int, float)) and 0 < base <= cap:
            return float(base), float(cap)
    problems.add(
        node,
        "retry",
        f"destination {destination_id!r}: retry is {{base_s: S, max_s: S}} with base_s <= max_s",
    )
    return 5.0, 3600.0


def _routes(
    raw: Any,
    problems: _Problems,
    sources: Mapping[str, SourceConfig],
    destinations: Mapping[str, DestinationConfig],
    parent: YamlMap,
) -> list[Route]:
    routes: list[Route] = []
    for node in _list_of_maps(raw, "routes", problems, parent):
        problems.unknown_keys(node, ROUTE_KEYS, "route")
        from_ids = _id_list(node, "from", problems)
        to_ids = _id_list(node, "to", problems)
        for source_id in from_ids:
            if source_id != "*" and source_id not in sources:
                problems.add(node, "from", f"route: unknown source {source_id!r}")
        for destination_id in to_ids:
            if destination_id not in destinations:
                problems.add(node, "to", f"route: unknown destination {destination_id!r}")
        routes.append(Route(tuple(from_ids), tuple(to_ids)))
    return routes


def _id_list(node: YamlMap, key: str, problems: _Problems) -> list[str]:
    value = node.get(key)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    problems.add(node, key, f"route: {key!r} must be an id or a list of ids")
    return []
