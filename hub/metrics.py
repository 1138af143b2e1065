"""Prometheus metrics. Under `hub run` every process writes to one multiprocess directory
(PROMETHEUS_MULTIPROC_DIR), so /metrics on the web server shows the workers' counts too."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RECEIVED = Counter("hub_deliveries_received_total", "Webhook deliveries received", ["source", "outcome"])
REFUSED = Counter("hub_deliveries_refused_total", "Webhook deliveries refused", ["source", "reason"])
PARSED = Counter("hub_receipts_parsed_total", "Stored deliveries parsed", ["source", "outcome"])
EVENTS = Counter("hub_events_total", "Call events normalized", ["source", "kind"])
DELIVERY_OUTCOMES = Counter(
    "hub_delivery_outcomes_total", "Delivery attempts by outcome", ["destination", "outcome", "reason"]
)
DELIVERY_LATENCY = Histogram(
    "hub_delivery_latency_seconds",
    "From receipt to delivered",
    ["destination"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
REQUEST_LATENCY = Histogram(
    "hub_webhook_request_seconds",
    "Webhook request handling time",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
SEND_LATENCY = Histogram(
    "hub_connector_batch_seconds",
    "Connector batch send time",
    ["destination"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REFUSED_KEPT = Counter(
    "hub_refused_deliveries_total",
    "Refused deliveries: kept for re-verification, not kept (too_large, over_cap, duplicate, unstored), "
    "or reverified later",
    ["source", "outcome"],
)
