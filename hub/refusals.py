"""Refused deliveries are kept, so a mistyped or rotated secret loses nothing.

A delivery refused for its signature (bad, missing or stale) or for an unknown source path is
answered as before (401 / 404) and also stored as a receipt with status `refused` and the reason.
Nothing refused is ever parsed or delivered: only `reverify` moves one on, and only after the
provider's own check passes against the secrets configured now.

Bounded, since anyone can send refused requests: bodies over `max_body_bytes` are not kept, at
most `hourly_cap` per source per hour (unknown paths share one allowance), and refused receipts
older than `retention` are deleted by `hub prune` (never in the request). Credentials are never
stored in clear: a token or basic-auth value is kept only as a salted PBKDF2 digest, enough to
check it against a secret later.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets as random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hub import metrics
from hub.core.errors import SignatureError, StorageUnavailable
from hub.store.db import Database
from hub.store.describe import storage_error_detail
from hub.store.models import Receipt
from webhooks.base import CREDENTIAL_PARAM, Headers, InboundRequest, Provider

if TYPE_CHECKING:
    from hub.runtime import Runtime

log = logging.getLogger("hub.refusals")

UNKNOWN_PROVIDER = "unknown"
_DIGEST_ITERATIONS = 60_000


@dataclass(frozen=True)
class RefusalPolicy:
    """How much refused traffic is kept (from HUB_REFUSED_* settings)."""

    max_body_bytes: int = 64 * 1024
    hourly_cap: int = 100
    retention: timedelta = timedelta(days=14)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RefusalPolicy:
        values = os.environ if env is None else env
        return cls(
            max_body_bytes=int(values.get("HUB_REFUSED_MAX_BODY_BYTES", 64 * 1024)),
            hourly_cap=int(values.get("HUB_REFUSED_HOURLY_CAP", 100)),
            retention=timedelta(days=float(values.get("HUB_REFUSED_RETENTION_DAYS", 14))),
        )


@dataclass
class RefusalKeeper:
    """Stores refused deliveries within the policy's bounds, cheaply once a source is capped."""

    db: Database
    policy: RefusalPolicy = field(default_factory=RefusalPolicy)
    #: Per allowance (a source, or all unknown paths): until when its hourly cap stays reached.
    #: New refusals only add to the last hour's count, so within that time no query is needed.
    _capped_until: dict[str, datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(
        self,
        source_id: str,
        provider: Provider | None,
        request: InboundRequest,
        reason: str,
        message: str,
    ) -> int | None:
        """Store a refused delivery; returns its receipt id, or None when it was not kept."""
        label = source_id if provider is not None else "(unknown)"
        if len(request.body) > self.policy.max_body_bytes:
            metrics.REFUSED_KEPT.labels(source=label, outcome="too_large").inc()
            return None
        now = datetime.now(UTC)
        try:
            # The cap goes first: once a flood has reached it, a refusal costs no hashing and,
            # within the time the cap is known to hold, no query either.
            if self._over_cap(source_id, provider is None, now):
                metrics.REFUSED_KEPT.labels(source=label, outcome="over_cap").inc()
                log.warning(
                    "refused delivery not kept: hourly cap reached",
                    extra={"source": label, "cap": self.policy.hourly_cap},
                )
                return None
            receipt = self._receipt(source_id, provider, request, reason, message, now)
            with self.db.session(lock_timeout_s=2.0) as session:
                session.add(receipt)
                session.flush()
                receipt_id = receipt.id
        except IntegrityError:
            metrics.REFUSED_KEPT.labels(source=label, outcome="duplicate").inc()
            return None
        except (SQLAlchemyError, StorageUnavailable) as exc:
            # The answer (401 / 404) does not change; the refusal is still logged and counted.
            metrics.REFUSED_KEPT.labels(source=label, outcome="unstored").inc()
            log.error(
                "cannot keep refused delivery",
                extra={"source": label, "reason": reason, "detail": storage_error_detail(exc)},
            )
            return None
        metrics.REFUSED_KEPT.labels(source=label, outcome="kept").inc()
        return receipt_id

    def _receipt(
        self,
        source_id: str,
        provider: Provider | None,
        request: InboundRequest,
        reason: str,
        message: str,
        now: datetime,
    ) -> Receipt:
        carriers = provider.credential_carriers() if provider is not None else (frozenset(), frozenset())
        key = (
            "refused:"
            + hashlib.sha256(
                f"{request.method} {_without_credentials(request.url, carriers[1])}".encode()
                + b"\x00"
                + _signature_material(request, carriers[0])
                + b"\x00"
                + request.body
            ).hexdigest()
        )
        return Receipt(
            source=source_id[:64],
            provider=provider.slug if provider is not None else UNKNOWN_PROVIDER,
            receipt_key=key,
            method=request.method[:8],
            url=_masked(request.url, carriers[1]),
            headers=_stored_headers(request, carriers[0]),
            body=request.body,
            received_at=request.received_at,
            status="refused",
            error_reason=reason,
            error=message,
            events_count=0,
            parse_attempts=0,
            updated_at=now,
            credential_digest=_credential_digest(request, carriers),
        )

    def _over_cap(self, source_id: str, unknown: bool, now: datetime) -> bool:
        cap = self.policy.hourly_cap
        if cap <= 0:
            return True
        # Unknown paths are the caller's choice: they share one allowance, not one each.
        allowance = UNKNOWN_PROVIDER if unknown else f"source:{source_id}"
        with self._lock:
            until = self._capped_until.get(allowance)
        if until is not None and now < until:
            return True
        query = select(Receipt.received_at).where(
            Receipt.status == "refused", Receipt.received_at > now - timedelta(hours=1)
        )
        query = (
            query.where(Receipt.provider == UNKNOWN_PROVIDER)
            if unknown
            else query.where(Receipt.source == source_id, Receipt.provider != UNKNOWN_PROVIDER)
        )
        # Only the cap-th newest refusal of the hour matters (one row, read through the
        # (status, source, received_at) index): none means the cap is not reached.
        with self.db.read_session() as session:
            capping = session.scalar(query.order_by(Receipt.received_at.desc()).offset(cap - 1).limit(1))
        if capping is None:
            return False
        # The cap holds until that refusal leaves the hour.
        with self._lock:
            self._capped_until[allowance] = capping + timedelta(hours=1)
        return True


# --- credentials -----------------------------------------------------------------------------


def _is_credential_param(name: str, params: frozenset[str]) -> bool:
    return bool(CREDENTIAL_PARAM.match(name)) or name.lower() in {p.lower() for p in params}


def _without_credentials(url: str, params: frozenset[str]) -> str:
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_credential_param(k, params)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _masked(url: str, params: frozenset[str]) -> str:
    parts = urlsplit(url)
    query = [
        (k, "********" if _is_credential_param(k, params) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


_ALWAYS_DROPPED = frozenset({"authorization", "cookie", "proxy-authorization", "x-hub-token", "x-api-key"})


def _stored_headers(request: InboundRequest, credential_headers: frozenset[str]) -> dict[str, str]:
    dropped = _ALWAYS_DROPPED | {h.lower() for h in credential_headers}
    return {name: value for name, value in request.headers.items() if name.lower() not in dropped}


def _signature_material(request: InboundRequest, credential_headers: frozenset[str]) -> bytes:
    kept = _stored_headers(request, credential_headers)
    return "\n".join(f"{k.lower()}:{v}" for k, v in sorted(kept.items())).encode()


def _provided_credentials(
    request: InboundRequest, carriers: tuple[frozenset[str], frozenset[str]]
) -> dict[str, str]:
    headers, params = carriers
    found: dict[str, str] = {}
    for name in sorted({h.lower() for h in headers} | (_ALWAYS_DROPPED - {"cookie"})):
        value = request.headers.get(name)
        if value:
            found[f"h:{name}"] = value.strip()
    for name, value in parse_qsl(urlsplit(request.url).query, keep_blank_values=True):
        if _is_credential_param(name, params) and value:
            found.setdefault(f"q:{name.lower()}", value)
    return found


def _stretch(value: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", value.encode(), salt, _DIGEST_ITERATIONS).hex()


def _credential_digest(
    request: InboundRequest, carriers: tuple[frozenset[str], frozenset[str]]
) -> str | None:
    provided = _provided_credentials(request, carriers)
    if not provided:
        return None
    salt = random.token_bytes(16)
    parts = [f"{where}={_stretch(value, salt)}" for where, value in sorted(provided.items())]
    return f"pbkdf2-sha256${_DIGEST_ITERATIONS}${salt.hex()}$" + ";".join(parts)


def _credentials_match(digest: str, candidates: Sequence[str]) -> bool:
    """Every credential the refused delivery carried equals one of `candidates`."""
    try:
        _, iterations, salt_hex, body = digest.split("$", 3)
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if int(iterations) != _DIGEST_ITERATIONS:
        return False
    stored = [part.split("=", 1)[1] for part in body.split(";") if "=" in part]
    stretched = {_stretch(value, salt) for value in candidates}
    return bool(stored) and all(value in stretched for value in stored)


# --- re-verification -------------------------------------------------------------------------


def stored_request(receipt: Receipt) -> InboundRequest:
    return InboundRequest(
        receipt.method, receipt.url, Headers(receipt.headers), receipt.body, receipt.received_at
    )


def verifies(provider: Provider, receipt: Receipt, secrets: Sequence[str]) -> None:
    """Raise SignatureError unless the stored refused delivery is proven by one of `secrets`.

    Times are checked against when the delivery arrived: a delivery that was stale then stays
    stale. Token and basic-auth deliveries are checked through their credential digest.
    """
    request = stored_request(receipt)
    headers, params = provider.credential_carriers()
    if receipt.credential_digest is None:
        provider.verify(request, secrets, receipt.received_at)
        return
    bare = replace(request, url=_without_credentials(request.url, params))
    for secret in secrets:
        signed = provider.sign(bare, secret, receipt.received_at)
        candidates = [secret, *_provided_credentials(signed, (headers, params)).values()]
        if _credentials_match(receipt.credential_digest, candidates):
            # The credential matches; the provider's other checks (a signature beside it) run on
            # the request as it would have arrived with this secret.
            provider.verify(
                _with_credentials_of(request, signed, headers, params), [secret], receipt.received_at
            )
            return
    raise SignatureError("the credential does not match any configured secret")


def _with_credentials_of(
    request: InboundRequest, signed: InboundRequest, headers: frozenset[str], params: frozenset[str]
) -> InboundRequest:
    credential_headers = {h.lower() for h in headers} | _ALWAYS_DROPPED
    merged = dict(request.headers.items())
    merged.update({k: v for k, v in signed.headers.items() if k.lower() in credential_headers})
    signed_query = [
        (k, v)
        for k, v in parse_qsl(urlsplit(signed.url).query, keep_blank_values=True)
        if _is_credential_param(k, params)
    ]
    parts = urlsplit(request.url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_credential_param(k, params)
    ]
    url = urlunsplit(parts._replace(query=urlencode(query + signed_query)))
    return replace(request, url=url, headers=Headers(merged))


@dataclass
class Reverified:
    """What re-verifying refused deliveries did, by receipt id."""

    accepted: list[int] = field(default_factory=list)
    still_refused: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)


def reverify(runtime: Runtime, ids: Sequence[int] = (), source: str | None = None) -> Reverified:
    """Check refused deliveries again with the secrets configured now; those that verify are
    queued to be parsed like any received delivery, the others stay refused with today's reason."""
    result = Reverified()
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        query = select(Receipt).where(Receipt.status == "refused").order_by(Receipt.id).with_for_update()
        if ids:
            query = query.where(Receipt.id.in_(list(ids)))
        if source:
            query = query.where(Receipt.source == source)
        for receipt in session.scalars(query).all():
            receipt.updated_at = now
            configured = runtime.source(receipt.source)
            if configured is None:
                receipt.error_reason = "unknown_source"
                receipt.error = f"no source {receipt.source!r} is configured"
                result.still_refused.append(receipt.id)
                continue
            provider = runtime.provider(configured)
            try:
                if not configured.insecure:
                    verifies(provider, receipt, [s.reveal() for s in configured.secrets])
            except SignatureError as exc:
                receipt.error_reason, receipt.error = exc.reason, exc.message
                result.still_refused.append(receipt.id)
                continue
            key = provider.receipt_key(stored_request(receipt))
            try:
                with session.begin_nested():
                    session.execute(
                        update(Receipt)
                        .where(Receipt.id == receipt.id, Receipt.status == "refused")
                        .values(
                            status="received",
                            provider=provider.slug,
                            receipt_key=key,
                            error_reason=None,
                            error=None,
                            claimed_at=None,
                            credential_digest=None,
                            updated_at=now,
                        )
                        .execution_options(synchronize_session=False)
                    )
            except IntegrityError:
                # The provider sent it again after the secret was fixed: that copy counts.
                existing = session.scalar(
                    select(Receipt.id).where(Receipt.source == configured.id, Receipt.receipt_key == key)
                )
                receipt.status, receipt.error_reason = "duplicate", "duplicate"
                receipt.error = f"the same delivery was accepted as receipt {existing}"
                receipt.credential_digest = None
                result.duplicates.append(receipt.id)
                continue
            result.accepted.append(receipt.id)
            metrics.REFUSED_KEPT.labels(source=configured.id, outcome="reverified").inc()
    if result.accepted or result.duplicates:
        log.info(
            "refused deliveries re-verified",
            extra={
                "accepted": len(result.accepted),
                "duplicates": len(result.duplicates),
                "still_refused": len(result.still_refused),
            },
        )
    return result
