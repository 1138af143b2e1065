"""hub.yaml's `alerts:` and `console:` sections, validated with every problem listed.

```yaml
alerts:
  email: {host: ${HUB_SMTP_HOST}, port: 587, starttls: true, username: ..., password: ${HUB_SMTP_PASSWORD},
          from: hub@example.com, to: [ops@example.com]}
  slack: {webhook_url: ${HUB_SLACK_WEBHOOK_URL}}
  rules:
    - {id: failures, when: failures, threshold: 10, window_s: 900, destination: hubspot}
    - {id: paused, when: paused}
    - {id: backlog, when: backlog_age, threshold: 600}
console:
  record_links: {salesforce: {instance_url: https://acme.my.salesforce.com}, hubspot: {portal_id: "1234567"}}
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.core.secrets import Secret

RULE_KINDS = ("failures", "paused", "backlog_age")
DEFAULT_WINDOW_S = 900


@dataclass(frozen=True)
class EmailChannel:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: Secret | None = None
    starttls: bool = False


@dataclass(frozen=True)
class AlertRule:
    id: str
    #: failures: failed or rejected deliveries within the window reach `threshold`;
    #: paused: a destination is paused; backlog_age: the oldest pending delivery waits `threshold` s.
    when: str
    threshold: float = 1
    #: At most one message per rule per window: a storm becomes one digest.
    window_s: float = DEFAULT_WINDOW_S
    destination: str | None = None


@dataclass(frozen=True)
class AlertSettings:
    rules: tuple[AlertRule, ...] = ()
    email: EmailChannel | None = None
    slack_url: Secret | None = None


@dataclass(frozen=True)
class ConsoleOptions:
    #: destination id -> {instance_url | portal_id}: where CRM record links point.
    record_links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def parse(
    alerts: Any, console: Any, resolve: Callable[[str], str]
) -> tuple[AlertSettings, ConsoleOptions, list[str]]:
    """The two sections, or defaults, with the problems found (`resolve` expands ${ENV})."""
    problems: list[str] = []
    settings = _alerts(alerts, resolve, problems) if alerts is not None else AlertSettings()
    options = ConsoleOptions()
    if console is not None:
        if not isinstance(console, dict) or set(console) - {"record_links"}:
            problems.append("console: only record_links is allowed")
        else:
            links = console.get("record_links") or {}
            if not isinstance(links, dict) or not all(isinstance(v, dict) for v in links.values()):
                problems.append(
                    "console.record_links: a mapping of destination id -> {instance_url | portal_id}"
                )
            else:
                options = ConsoleOptions(
                    {str(k): {str(a): resolve(str(b)) for a, b in v.items()} for k, v in links.items()}
                )
    return settings, options, problems


def _alerts(raw: Any, resolve: Callable[[str], str], problems: list[str]) -> AlertSettings:
    if not isinstance(raw, dict):
        problems.append("alerts: expected a mapping with rules, email and/or slack")
        return AlertSettings()
    for key in set(raw) - {"rules", "email", "slack"}:
        problems.append(f"alerts: unknown key {key!r} (allowed: email, rules, slack)")
    email = _email(raw.get("email"), resolve, problems)
    slack_url: Secret | None = None
    slack = raw.get("slack")
    if slack is not None:
        if not isinstance(slack, dict) or set(slack) != {"webhook_url"}:
            problems.append("alerts.slack: expected {webhook_url: ...}")
        else:
            url = resolve(str(slack["webhook_url"]))
            slack_url = Secret(url) if url else None
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for index, item in enumerate(raw.get("rules") or []):
        where = f"alerts.rules[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        unknown = set(item) - {"id", "when", "threshold", "window_s", "destination"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        rule_id, when = item.get("id"), item.get("when")
        if not isinstance(rule_id, str) or not rule_id or rule_id in seen:
            problems.append(f"{where}: id must be a unique name")
            continue
        seen.add(rule_id)
        if when not in RULE_KINDS:
            problems.append(f"{where}: when must be one of {', '.join(RULE_KINDS)}")
            continue
        threshold = item.get("threshold", 1)
        window = item.get("window_s", DEFAULT_WINDOW_S)
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or threshold <= 0:
            problems.append(f"{where}: threshold must be a positive number")
            continue
        if not isinstance(window, (int, float)) or isinstance(window, bool) or window < 1:
            problems.append(f"{where}: window_s must be at least 1 second")
            continue
        destination = item.get("destination")
        rules.append(AlertRule(rule_id, when, float(threshold), float(window), destination))
    if rules and email is None and slack_url is None:
        problems.append("alerts: rules need a channel (email or slack) to send to")
    return AlertSettings(tuple(rules), email, slack_url)


def _email(raw: Any, resolve: Callable[[str], str], problems: list[str]) -> EmailChannel | None:
    if raw is None:
        return None
    allowed = {"host", "port", "from", "to", "username", "password", "starttls"}
    if not isinstance(raw, dict) or set(raw) - allowed:
        problems.append(f"alerts.email: a mapping of {', '.join(sorted(allowed))}")
        return None
    host = resolve(str(raw.get("host") or ""))
    recipients = raw.get("to")
    if isinstance(recipients, str):
        recipients = [recipients]
    port = resolve(str(raw.get("port", 25)))
    if not host:
        # An unset ${HUB_SMTP_HOST} turns email off rather than failing the whole hub.
        return None
    if not isinstance(recipients, list) or not recipients or not raw.get("from") or not port.isdigit():
        problems.append("alerts.email: needs host, a numeric port, from and to")
        return None
    password = resolve(str(raw["password"])) if raw.get("password") else ""
    return EmailChannel(
        host=host,
        port=int(port),
        sender=resolve(str(raw["from"])),
        recipients=tuple(resolve(str(r)) for r in recipients),
        username=resolve(str(raw["username"])) if raw.get("username") else None,
        password=Secret(password) if password else None,
        starttls=bool(raw.get("starttls", False)),
    )
