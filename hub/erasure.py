"""`hub forget PHONE`: erase one caller's data everywhere the hub keeps it.

Removes the caller's calls with their versions, deliveries and attempts, the webhook deliveries
they came from, unparsed webhook deliveries that mention the number, and what connectors
remembered for the number. Keeps a tombstone (a hash of the E.164 number, never the number) so
a provider's late redelivery is not stored as new data; records an audit entry with the counts.
Copies already sent to destinations (CRM records, GA4 events) are the destination's to erase.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import phonenumbers
from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from hub import audit
from hub.core.phones import caller_key, e164
from hub.store.db import Database
from hub.store.models import (
    Attempt,
    Batch,
    Call,
    ConnectorState,
    Delivery,
    Event,
    ForgottenCaller,
    Receipt,
)


class NotAPhoneNumber(ValueError):
    """The argument of `hub forget` is not a phone number the hub can normalize."""


@dataclass
class ForgetReport:
    number_hash: str
    calls: int = 0
    versions: int = 0
    deliveries: int = 0
    attempts: int = 0
    receipts: int = 0
    unparsed_receipts: int = 0
    batches_scrubbed: int = 0
    connector_state: int = 0

    def lines(self) -> list[str]:
        counts = {k: v for k, v in asdict(self).items() if k != "number_hash"}
        return [f"{name.replace('_', ' ')}: {count}" for name, count in counts.items()]


def number_hash(number: str) -> str:
    """The tombstone key of an E.164 number."""
    return hashlib.sha256(f"callhub-forgotten:{number}".encode()).hexdigest()


def normalize(phone: str, region: str = "US") -> str:
    number = e164(phone, region)
    if not number:
        raise NotAPhoneNumber(
            f"{phone!r} is not a phone number (give it with its country code, e.g. +14155550100)"
        )
    return number


def forgotten_numbers(session: Session, numbers: Iterable[str | None]) -> set[str]:
    """Which of `numbers` belong to a forgotten caller (one query for all of them)."""
    hashes = {number_hash(number): number for number in numbers if number}
    if not hashes:
        return set()
    found = session.scalars(
        select(ForgottenCaller.number_hash).where(ForgottenCaller.number_hash.in_(hashes))
    )
    return {hashes[digest] for digest in found}


def forget(db: Database, phone: str, *, actor: str, region: str = "US") -> ForgetReport:
    """Erase everything stored about the caller `phone` (any format) in one transaction."""
    number = normalize(phone, region)
    report = ForgetReport(number_hash(number))
    now = datetime.now(UTC)
    with db.session() as session:
        call_ids = list(session.scalars(select(Call.id).where(Call.caller_number == number)))
        delivery_ids = list(session.scalars(select(Delivery.id).where(Delivery.call_id.in_(call_ids))))
        versions = session.execute(
            select(Event.id, Event.receipt_id).where(Event.call_id.in_(call_ids))
        ).all()
        receipt_ids = {receipt_id for _, receipt_id in versions}
        batch_ids = set(
            session.scalars(
                select(Attempt.batch_id).where(
                    Attempt.delivery_id.in_(delivery_ids), Attempt.batch_id.is_not(None)
                )
            )
        )
        # A batch's shared requests may carry this caller among others: erasure wins.
        report.batches_scrubbed = _count(
            session.execute(update(Batch).where(Batch.id.in_(batch_ids)).values(exchanges=[]))
        )
        report.attempts = _count(
            session.execute(delete(Attempt).where(Attempt.delivery_id.in_(delivery_ids)))
        )
        report.deliveries = _count(session.execute(delete(Delivery).where(Delivery.id.in_(delivery_ids))))
        report.versions = _count(session.execute(delete(Event).where(Event.call_id.in_(call_ids))))
        report.calls = _count(session.execute(delete(Call).where(Call.id.in_(call_ids))))
        # A webhook delivery that also carried other calls keeps their versions but loses its body.
        shared = set(
            session.scalars(select(Event.receipt_id).where(Event.receipt_id.in_(receipt_ids)).distinct())
        )
        session.execute(
            update(Receipt)
            .where(Receipt.id.in_(shared))
            .values(body=b"", headers={}, status="forgotten", updated_at=now)
        )
        report.receipts = len(shared) + _count(
            session.execute(delete(Receipt).where(Receipt.id.in_(receipt_ids - shared)))
        )
        report.unparsed_receipts = _forget_unparsed(session, number)
        report.connector_state = _count(
            session.execute(
                delete(ConnectorState).where(
                    or_(*(ConnectorState.key.contains(name) for name in _state_key_names(number)))
                )
            )
        )
        if session.get(ForgottenCaller, report.number_hash) is None:
            session.add(ForgottenCaller(number_hash=report.number_hash, forgotten_at=now))
        audit.record(session, actor, "forget", asdict(report))
    return report


def _forget_unparsed(session: Session, number: str) -> int:
    """Webhook deliveries not (or not successfully) parsed that mention the number in any format."""
    pattern = _number_pattern(number)
    candidates = session.execute(
        select(Receipt.id, Receipt.body).where(
            Receipt.status != "parsed",
            ~exists().where(Event.receipt_id == Receipt.id),
        )
    ).all()
    matching = [
        receipt_id
        for receipt_id, body in candidates
        if pattern.search(unquote_plus(bytes(body).decode("utf-8", "replace")))
    ]
    return _count(session.execute(delete(Receipt).where(Receipt.id.in_(matching)))) if matching else 0


def _number_pattern(number: str) -> re.Pattern[str]:
    """The national digits with any separators, with or without the country code:
    +14705550183, 1-470-555-0183, (470) 555-0183, 470.555.0183."""
    parsed = phonenumbers.parse(number)
    separators = r"[\s().\-]*"
    national = separators.join(re.escape(d) for d in str(parsed.national_number))
    return re.compile(rf"(?<!\d)(?:\+?{parsed.country_code}{separators})?{national}(?!\d)")


def _state_key_names(number: str) -> tuple[str, str]:
    """How connector state keys may name a number: its digits, or its caller key (the digest the
    Salesforce and HubSpot connectors key callers by)."""
    return number.lstrip("+"), caller_key(number)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def forgotten_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ForgottenCaller)) or 0)
