"""The OpenAPI document of the admin API and the webhook receiver (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

from connectors import registry as connector_registry
from hub import __version__


def _list_params(*names: str) -> list[dict[str, Any]]:
    described = {
        "phone": "Caller number in any format (normalized to E.164 for the search)",
        "call_id": "Hub call id or the provider's call id",
        "source": "Source id from hub.yaml",
        "status": "Delivery status: pending, queued, delivered, skipped, held, rejected, failed",
        "destination": "Destination id from hub.yaml",
        "reason": "Reason slug (rate_limited, rejected, mapping, ...)",
        "since": "ISO 8601 time, inclusive",
        "until": "ISO 8601 time, exclusive",
        "limit": "Page size (max 500)",
        "offset": "Rows to skip",
    }
    return [
        {
            "name": n,
            "in": "query",
            "required": False,
            "description": described[n],
            "schema": {"type": "string"},
        }
        for n in names
    ]


def _ok(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


_ERRORS = {"401": {"description": "Missing or wrong bearer token"}}


def _report_paths(id_param: dict[str, Any]) -> dict[str, Any]:
    """The reports connectors offer on their destinations (connectors.hooks.AdminReport)."""
    return {
        f"/api/destinations/{{destination_id}}/{name}": {
            "get": {
                "summary": report.summary,
                "parameters": [{"name": "destination_id", **id_param}, *_list_params("since")],
                "responses": {
                    "200": _ok(report.response),
                    "404": {"description": f"Not a {report.destination_label} destination"},
                    **_ERRORS,
                },
            }
        }
        for name, (_, report) in connector_registry.admin_reports().items()
    }


def spec() -> dict[str, Any]:
    id_param = {"in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "callhub", "version": __version__},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/webhooks/{source_id}": {
                "post": {
                    "summary": "Receive a provider webhook (signed as the provider signs)",
                    "security": [],
                    "parameters": [{"name": "source_id", **id_param}],
                    "requestBody": {
                        "content": {"application/json": {}, "application/x-www-form-urlencoded": {}}
                    },
                    "responses": {
                        "202": _ok("Stored; will be parsed and delivered"),
                        "200": _ok("Duplicate of a stored delivery"),
                        "401": {"description": "Signature or token refused; body names the reason"},
                        "404": {"description": "Unknown source"},
                        "413": {"description": "Body over the size limit"},
                        "503": {"description": "Cannot store right now; the provider should retry"},
                    },
                }
            },
            "/api/events": {
                "get": {
                    "summary": "Search calls",
                    "parameters": _list_params(
                        "phone",
                        "call_id",
                        "source",
                        "status",
                        "destination",
                        "since",
                        "until",
                        "limit",
                        "offset",
                    ),
                    "responses": {"200": _ok("A page of calls"), **_ERRORS},
                }
            },
            "/api/events/{call_id}": {
                "get": {
                    "summary": "One call: merged state, versions, raw deliveries, deliveries with attempts",
                    "parameters": [{"name": "call_id", **id_param}],
                    "responses": {"200": _ok("The call"), "404": {"description": "Unknown call"}, **_ERRORS},
                }
            },
            "/api/deliveries": {
                "get": {
                    "summary": "Search deliveries",
                    "parameters": _list_params(
                        "status", "destination", "reason", "since", "until", "limit", "offset"
                    ),
                    "responses": {"200": _ok("A page of deliveries"), **_ERRORS},
                }
            },
            "/api/deliveries/{delivery_id}": {
                "get": {
                    "summary": "One delivery with its attempts (request and response excerpts)",
                    "parameters": [{"name": "delivery_id", **id_param}],
                    "responses": {
                        "200": _ok("The delivery"),
                        "404": {"description": "Unknown delivery"},
                        **_ERRORS,
                    },
                }
            },
            "/api/deliveries/{delivery_id}/replay": {
                "post": {
                    "summary": "Replay one rejected, failed, held or skipped delivery",
                    "parameters": [{"name": "delivery_id", **id_param}],
                    "responses": {
                        "202": _ok("Queued again"),
                        "409": {"description": "Not replayable"},
                        **_ERRORS,
                    },
                }
            },
            "/api/deliveries/replay": {
                "post": {
                    "summary": "Replay deliveries by filter",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "statuses": {"type": "array", "items": {"type": "string"}},
                                        "destination": {"type": "string"},
                                        "reason": {"type": "string"},
                                        "since": {"type": "string", "format": "date-time"},
                                        "until": {"type": "string", "format": "date-time"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {
                        "202": _ok("Queued again"),
                        "409": {"description": "Not replayable"},
                        **_ERRORS,
                    },
                }
            },
            "/api/receipts": {
                "get": {
                    "summary": "Raw deliveries (status=failed: payloads that could not be parsed; status=ignored: "
                    "payloads that are not calls, with the reason in error_reason and error)",
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string"}},
                        *_list_params("source", "limit", "offset"),
                    ],
                    "responses": {"200": _ok("A page of raw deliveries"), **_ERRORS},
                }
            },
            "/api/receipts/{receipt_id}": {
                "get": {
                    "summary": "One raw delivery with headers, body and parse error",
                    "parameters": [{"name": "receipt_id", **id_param}],
                    "responses": {
                        "200": _ok("The raw delivery"),
                        "404": {"description": "Unknown"},
                        **_ERRORS,
                    },
                }
            },
            "/api/receipts/{receipt_id}/replay": {
                "post": {
                    "summary": "Parse a failed or ignored raw delivery again (after a fix)",
                    "parameters": [{"name": "receipt_id", **id_param}],
                    "responses": {
                        "202": _ok("Queued"),
                        "409": {"description": "Neither failed nor ignored"},
                        **_ERRORS,
                    },
                }
            },
            "/api/receipts/replay": {
                "post": {
                    "summary": "Parse every failed raw delivery again",
                    "responses": {"202": _ok("Queued"), **_ERRORS},
                }
            },
            "/api/prune": {
                "post": {
                    "summary": "Delete stored data older than hub.yaml's retention allows (audited)",
                    "responses": {"200": _ok("Counts of what was removed, per kind"), **_ERRORS},
                }
            },
            "/api/forget": {
                "post": {
                    "summary": "Erase a caller's calls, versions, deliveries and attempts; keep a tombstone (audited)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["phone"],
                                    "properties": {
                                        "phone": {"type": "string", "description": "Any format"},
                                        "region": {
                                            "type": "string",
                                            "description": "Country for numbers without a country code (default US)",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _ok("Counts of what was removed, and the tombstone's hash"),
                        "400": {"description": "Not a phone number"},
                        **_ERRORS,
                    },
                }
            },
            "/api/audit": {
                "get": {
                    "summary": "Who erased or pruned what, and when (newest first)",
                    "parameters": _list_params("limit", "offset"),
                    "responses": {"200": _ok("Audit entries"), **_ERRORS},
                }
            },
            "/api/sources": {
                "get": {"summary": "Configured sources", "responses": {"200": _ok("Sources"), **_ERRORS}}
            },
            "/api/destinations": {
                "get": {
                    "summary": "Configured destinations",
                    "responses": {"200": _ok("Destinations"), **_ERRORS},
                }
            },
            **_report_paths(id_param),
            "/api/stats": {
                "get": {"summary": "Counts by status", "responses": {"200": _ok("Counts"), **_ERRORS}}
            },
            "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": _ok("Alive")}}},
            "/readyz": {
                "get": {
                    "summary": "Database and Redis reachable",
                    "security": [],
                    "responses": {"200": _ok("Ready"), "503": {"description": "Not ready"}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": [],
                    "responses": {"200": {"description": "Text"}},
                }
            },
        },
    }
