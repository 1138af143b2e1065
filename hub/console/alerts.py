"""Alerts: rules on failure counts, paused destinations and backlog age, sent by email (SMTP)
and to a Slack-compatible incoming webhook.

Digest: a rule sends at most one message per window, summarising what it saw; a storm of a
thousand failures is one message, and the next one comes a window later if it still holds.
Evaluated by the elected dispatcher every EVALUATE_EVERY_S.
"""

from __future__ import annotations

import logging
import smtplib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import requests
from sqlalchemy import func, select

from hub.console.settings import AlertRule, AlertSettings
from hub.store.db import Database
from hub.store.models import AlertSent, Delivery, DestinationPause

log = logging.getLogger("hub.alerts")

EVALUATE_EVERY_S = 30.0
FAILED = ("failed", "rejected")


@dataclass(frozen=True)
class Firing:
    rule: AlertRule
    subject: str
    lines: tuple[str, ...]


def _check(db: Database, rule: AlertRule, now: datetime) -> Firing | None:
    with db.read_session() as session:
        if rule.when == "failures":
            query = select(Delivery.destination, Delivery.reason).where(
                Delivery.status.in_(FAILED), Delivery.updated_at >= now - timedelta(seconds=rule.window_s)
            )
            if rule.destination:
                query = query.where(Delivery.destination == rule.destination)
            counts = Counter(f"{d}: {r or 'unknown'}" for d, r in session.execute(query))
            total = sum(counts.values())
            if total < rule.threshold:
                return None
            minutes = round(rule.window_s / 60)
            return Firing(
                rule,
                f"{total} deliveries failed in the last {minutes} min",
                tuple(f"{count} x {what}" for what, count in counts.most_common(10)),
            )
        if rule.when == "paused":
            pauses = session.scalars(select(DestinationPause)).all()
            pauses = [p for p in pauses if not rule.destination or p.destination == rule.destination]
            if not pauses:
                return None
            return Firing(
                rule,
                f"{len(pauses)} destination(s) paused",
                tuple(f"{p.destination} paused by {p.paused_by}: {p.reason}" for p in pauses),
            )
        query_age = select(func.min(Delivery.created_at), func.count()).where(Delivery.status == "pending")
        if rule.destination:
            query_age = query_age.where(Delivery.destination == rule.destination)
        oldest, count = session.execute(query_age).one()
        if oldest is None:
            return None
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age = (now - oldest).total_seconds()
        if age < rule.threshold:
            return None
        return Firing(
            rule,
            f"the oldest of {count} pending deliveries has waited {round(age / 60)} min",
            (f"threshold: {round(rule.threshold / 60)} min",),
        )


def evaluate(db: Database, settings: AlertSettings, now: datetime | None = None) -> list[Firing]:
    """Check every rule; send one message per firing rule whose window has passed since its last."""
    moment = now or datetime.now(UTC)
    sent: list[Firing] = []
    for rule in settings.rules:
        firing = _check(db, rule, moment)
        if firing is None:
            continue
        with db.session() as session:
            last = session.get(AlertSent, rule.id)
            if last is not None and moment - last.sent_at < timedelta(seconds=rule.window_s):
                continue
            # Recorded before sending: a crash mid-send costs one message, never a burst.
            if last is None:
                session.add(AlertSent(rule=rule.id, sent_at=moment, summary=firing.subject))
            else:
                last.sent_at, last.summary = moment, firing.subject
        deliver(settings, firing)
        sent.append(firing)
    return sent


def message_text(firing: Firing) -> str:
    return "\n".join([f"callhub alert [{firing.rule.id}]: {firing.subject}", *firing.lines])


def deliver(settings: AlertSettings, firing: Firing) -> None:
    """Send to every configured channel; a channel that fails is logged, the others still get it."""
    text = message_text(firing)
    if settings.email is not None:
        channel = settings.email
        message = EmailMessage()
        message["Subject"] = f"[callhub] {firing.subject}"
        message["From"] = channel.sender
        message["To"] = ", ".join(channel.recipients)
        message.set_content(text)
        try:
            with smtplib.SMTP(channel.host, channel.port, timeout=10) as smtp:
                if channel.starttls:
                    smtp.starttls()
                if channel.username and channel.password:
                    smtp.login(channel.username, channel.password.reveal())
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("alert email not sent", extra={"rule": firing.rule.id, "detail": type(exc).__name__})
    if settings.slack_url is not None:
        try:
            response = requests.post(settings.slack_url.reveal(), json={"text": text}, timeout=10)
            response.raise_for_status()
        except requests.RequestException as exc:
            log.error("alert webhook not sent", extra={"rule": firing.rule.id, "detail": type(exc).__name__})
