"""Forwards each call's current state (or what its mappings rendered) as signed JSON."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.base import (
    BatchResult,
    CheckResult,
    Connector,
    ConnectorContext,
    Delivered,
    DeliveryError,
    DeliveryItem,
    DestinationSettings,
    Exchange,
    PermanentError,
    PlannedRequest,
    classify_status,
    excerpt,
    retry_after_seconds,
)
from connectors.exchanges import NAME_KEYS, ExchangeRecorder, Masking
from connectors.webhook.signing import SIGNATURE_HEADER, header_value
from hub.core.events import dump_event
from hub.core.writer_turn import yield_to_writer

SANDBOX_PATH = "/receive"
# Only ever used between `hub run` and its own local receiver.
SANDBOX_SECRET = "sandbox-webhook-secret"  # noqa: S105
OPTION_KEYS = {"concurrency", "headers"}
#: The call as sent holds the caller under `caller.number` / `caller.name` (and `account.name`).
MASKING = Masking(phone_keys=frozenset({"number"}), name_keys=NAME_KEYS | {"name"})


class WebhookConnector(Connector):
    type = "webhook"
    max_batch = 50
    credential_names = ("url", "secret")
    #: The signing secret is optional: some receivers (Zapier, n8n) carry theirs in the URL.
    required_credentials = ("url",)

    def __init__(self, settings: DestinationSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.session = requests.Session()
        self.session.trust_env = False

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        problems = [f"unknown option {key!r}" for key in options if key not in OPTION_KEYS]
        concurrency = options.get("concurrency", 4)
        if not isinstance(concurrency, int) or not 1 <= concurrency <= 32:
            problems.append("concurrency must be 1..32")
        return problems

    @property
    def url(self) -> str:
        if self.settings.sandbox_url:
            return self.settings.sandbox_url.rstrip("/") + SANDBOX_PATH
        url = self.settings.secret("url")
        if not url:
            raise PermanentError("no url configured for this webhook destination", reason="config")
        return url

    @functools.cached_property
    def exchanges(self) -> ExchangeRecorder:
        """Records each POST for the delivery's history: the caller masked, the hook URL and the
        signing secrets never shown."""
        return ExchangeRecorder(MASKING, secrets=[self.settings.secret("url") or "", *self._secrets()])

    def _secrets(self) -> list[str]:
        if self.settings.sandbox_url:
            return [SANDBOX_SECRET]
        value = self.settings.secret("secret") or ""
        return [s.strip() for s in value.split(",") if s.strip()]

    def payload(self, item: DeliveryItem) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": item.trigger.kind,
            "delivery_id": item.delivery_id,
            "event_id": item.trigger.id,
            "call": dump_event(item.call),
        }
        if item.records:
            body["records"] = [{"target": r.target, "fields": dict(r.fields)} for r in item.records]
        return body

    def _headers(self, item: DeliveryItem, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "callhub-webhook/1",
            "X-Callhub-Delivery": item.delivery_id,
            "X-Callhub-Event": item.trigger.kind,
        }
        headers.update({str(k): str(v) for k, v in dict(self.settings.options.get("headers", {})).items()})
        secrets = self._secrets()
        if secrets:
            headers[SIGNATURE_HEADER] = header_value(secrets, body)
        return headers

    @property
    def display_url(self) -> str:
        """The endpoint as history and messages show it: the path and query of a hook URL are
        often its credential (Zapier, n8n), so only scheme and host are kept."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/***" if parts.path.strip("/") or parts.query else self.url

    def _post(self, item: DeliveryItem) -> tuple[str, Delivered | DeliveryError, Exchange]:
        yield_to_writer()
        body = json.dumps(self.payload(item), separators=(",", ":"), ensure_ascii=False).encode()
        url, shown = self.url, self.display_url
        started = time.monotonic()
        try:
            self.context.throttle()
            # No redirects: requests would turn the POST into a body-less GET and call it success.
            response = self.session.post(
                url,
                data=body,
                headers=self._headers(item, body),
                timeout=self.settings.timeout_s,
                allow_redirects=False,
            )
        except (requests.RequestException, DeliveryError) as exc:
            failure = exc if isinstance(exc, DeliveryError) else self.classify(exc)
            failure.message = failure.message.replace(url, shown)
            exchange = self.exchanges.exchange(
                "POST", shown, None, body, failure.message, started=started, delivery_ids=(item.delivery_id,)
            )
            return item.delivery_id, failure, exchange
        exchange = self.exchanges.exchange(
            "POST",
            shown,
            response.status_code,
            body,
            response.text,
            started=started,
            delivery_ids=(item.delivery_id,),
        )
        if 200 <= response.status_code < 300:
            return item.delivery_id, Delivered(note=f"HTTP {response.status_code}"), exchange
        if 300 <= response.status_code < 400:
            location = response.headers.get("Location", "(no Location)")
            message = f"HTTP {response.status_code}: the endpoint redirects to {location}; configure that URL instead"
            return item.delivery_id, PermanentError(message, reason="redirect"), exchange
        return (
            item.delivery_id,
            classify_status(
                response.status_code,
                f"HTTP {response.status_code}: {excerpt(response.text, 300)}",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            ),
            exchange,
        )

    def send(self, items: Sequence[DeliveryItem]) -> BatchResult:
        workers = min(int(self.settings.options.get("concurrency", 4)), len(items))
        if workers <= 1:
            # One request (most batches under steady load): no thread to start and join for it.
            return _collected(map(self._post, items))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return _collected(pool.map(self._post, items))

    def preview(self, item: DeliveryItem) -> list[PlannedRequest]:
        return [
            PlannedRequest(
                "POST", self.display_url, self.payload(item), note="signed with X-Callhub-Signature"
            )
        ]

    def check(self) -> CheckResult:
        try:
            response = self.session.head(self.url, timeout=self.settings.timeout_s)
        except requests.RequestException as exc:
            return CheckResult(False, f"cannot reach the endpoint: {exc}")
        return CheckResult(response.status_code < 500, f"endpoint answered HTTP {response.status_code}")


def _collected(posted: Iterable[tuple[str, Delivered | DeliveryError, Exchange]]) -> BatchResult:
    result = BatchResult()
    for delivery_id, outcome, exchange in posted:
        result.outcomes[delivery_id] = outcome
        result.exchanges.append(exchange)
    return result
