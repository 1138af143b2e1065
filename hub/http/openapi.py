"""The OpenAPI document of the admin API and the webhook receiver (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

from connectors import registry as connector_registry
from hub import __version__

#: hub.time_filters' grammar as the API accepts it (hub/http/admin.py checks exactly these forms).
TIME_FILTER_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
        {"type": "string", "pattern": "^([0-9]{1,5}[smhdw]|now|today|yesterday)$"},
    ]
}


def _list_params(*names: str) -> list[dict[str, Any]]:
    described = {
        "phone": "Caller number in any format (normalized to E.164); one that is no usable number is a 400",
        "call_id": "Hub call id or the provider's call id",
        "source": "Source id from hub.yaml",
        "status": "Delivery status: pending, queued, delivered, skipped, held, rejected, failed",
        "destination": "Destination id from hub.yaml",
        "reason": "Reason slug (rate_limited, rejected, mapping, ...)",
        "since": "ISO 8601 time or date, a duration before now (90m, 2h, 7d), now, today, yesterday; inclusive",
        "until": "as since; exclusive",
        "limit": "Page size (max 500)",
        "offset": "Rows to skip",
    }
    schemas: dict[str, dict[str, Any]] = {
        "since": TIME_FILTER_SCHEMA,
        "until": TIME_FILTER_SCHEMA,
        "limit": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
    }
    return [
        {
            "name": n,
            "in": "query",
            "required": False,
            "description": described[n],
            "schema": schemas.get(n, {"type": "string"}),
        }
        for n in names
    ]


def _ok(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


_ERRORS = {"401": {"description": "Missing or wrong bearer token"}}
_BAD_REQUEST = {
    "400": {"description": "A parameter or the body is not what this document says"},
    "414": {"description": "Request line longer than the web server accepts"},
}
#: Most recent first; the largest offset a page may start at (admin.MAX_OFFSET).
MAX_OFFSET = 1_000_000_000


def _webhook(method: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": f"Receive a provider webhook by {method.upper()} (signed as the provider signs)",
        "security": [],
        "parameters": [{"name": "source_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "202": _ok("Stored; will be parsed and delivered"),
            "200": _ok("Duplicate of a stored delivery"),
            "401": {
                "description": "Signature or token refused; body names the reason. The delivery is kept "
                "(status refused) to be re-verified after a secret fix"
            },
            "404": {"description": "Unknown source (kept as refused as well)"},
            "413": {"description": "Body over the size limit"},
            "503": {"description": "Cannot store right now; the provider should retry"},
        },
    }
    if method != "get":
        operation["requestBody"] = {
            "content": {"application/json": {}, "application/x-www-form-urlencoded": {}}
        }
    return operation


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
    # Receipt ids are 32-bit integers (PostgreSQL `integer`).
    number_param = {
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "callhub", "version": __version__},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/webhooks/{source_id}": {method: _webhook(method) for method in ("post", "get", "put")},
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
                    "responses": {"200": _ok("A page of calls"), **_BAD_REQUEST, **_ERRORS},
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
                    "responses": {"200": _ok("A page of deliveries"), **_BAD_REQUEST, **_ERRORS},
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
                        "404": {"description": "Unknown delivery"},
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
                                        "since": TIME_FILTER_SCHEMA,
                                        "until": TIME_FILTER_SCHEMA,
                                    },
                                }
                            }
                        }
                    },
                    "responses": {
                        "202": _ok("Queued again"),
                        **_BAD_REQUEST,
                        "409": {"description": "Not replayable"},
                        **_ERRORS,
                    },
                }
            },
            "/api/receipts": {
                "get": {
                    "summary": "Raw deliveries (status=failed: payloads that could not be parsed; status=ignored: "
                    "payloads that are not calls; status=refused: deliveries refused for their signature or "
                    "source; the reason in error_reason and error)",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "description": "received, parsed, failed, ignored, refused or duplicate",
                            "schema": {"type": "string"},
                        },
                        *_list_params("source", "limit", "offset"),
                    ],
                    "responses": {"200": _ok("A page of raw deliveries"), **_BAD_REQUEST, **_ERRORS},
                }
            },
            "/api/receipts/{receipt_id}": {
                "get": {
                    "summary": "One raw delivery with headers, body and parse error",
                    "parameters": [{"name": "receipt_id", **number_param}],
                    "responses": {
                        "200": _ok("The raw delivery"),
                        "404": {"description": "Unknown"},
                        **_ERRORS,
                    },
                }
            },
            "/api/receipts/{receipt_id}/replay": {
                "post": {
                    "summary": "Parse a failed or ignored raw delivery again (after a fix), or verify a "
                    "refused one again with the current secrets and parse it if it passes",
                    "parameters": [{"name": "receipt_id", **number_param}],
                    "responses": {
                        "202": _ok("Queued"),
                        "404": {"description": "Unknown receipt"},
                        "409": {
                            "description": "Not failed, ignored or refused, or still refused (reason given)"
                        },
                        **_ERRORS,
                    },
                }
            },
            "/api/receipts/replay": {
                "post": {
                    "summary": "Parse every failed raw delivery again, or (status=refused) verify every "
                    "refused one again and parse those that pass",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "source": {"type": "string"},
                                        "status": {"type": "string", "enum": ["failed", "refused"]},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {"202": _ok("Queued"), **_BAD_REQUEST, **_ERRORS},
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
                                        "phone": {
                                            "type": "string",
                                            "minLength": 1,
                                            "description": "Any format",
                                        },
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
                        **_BAD_REQUEST,
                        "400": {"description": "Not a phone number, or not the body this document says"},
                        **_ERRORS,
                    },
                }
            },
            "/api/audit": {
                "get": {
                    "summary": "Who erased or pruned what, and when (newest first)",
                    "parameters": _list_params("limit", "offset"),
                    "responses": {"200": _ok("Audit entries"), **_BAD_REQUEST, **_ERRORS},
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
