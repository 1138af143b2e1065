"""The fake's control API under /__fake__/: faults, duplicate rules, seeding, and what was asked of it."""

from __future__ import annotations

from typing import Any

import flask

from connectors.base import FAKE_CONTROL_PREFIX
from connectors.salesforce.fake.errors import FakeError
from connectors.salesforce.fake.org import Fault, Org


def blueprint(org: Org) -> flask.Blueprint:
    control = flask.Blueprint("salesforce_fake_control", __name__, url_prefix=FAKE_CONTROL_PREFIX)

    def payload() -> dict[str, Any]:
        data = flask.request.get_json(silent=True)
        return data if isinstance(data, dict) else {}

    @control.get("/requests")
    def requests_made() -> Any:
        with org.lock:
            log, made = list(org.log), org.requests
        return {"api_requests": made, "logins": org.logins, "api_usage": org.api_used, "log": log}

    @control.post("/reset")
    def reset() -> Any:
        org.reset()
        return {"ok": True}

    @control.post("/faults")
    def add_fault() -> Any:
        """`{"error": CODE, "times": 1, "path": "composite", "method": "POST", "scope": "request|record"}`."""
        data = payload()
        code = str(data.get("error", ""))
        times = int(data.get("times", 1))
        if data.get("scope") == "record":
            with org.store.lock:
                org.store.save_faults.extend([(code, data.get("message"))] * times)
        else:
            with org.lock:
                org.faults.append(Fault(code, times, data.get("path"), data.get("method")))
        return {"ok": True}

    @control.post("/sessions/expire")
    def expire() -> Any:
        org.expire_sessions()
        return {"ok": True}

    @control.post("/usage")
    def usage() -> Any:
        data = payload()
        with org.lock:
            org.api_used = int(data.get("used", org.api_used))
            org.daily_limit = int(data.get("limit", org.daily_limit))
        return {"used": org.api_used, "limit": org.daily_limit}

    @control.post("/duplicate_rules")
    def duplicate_rules() -> Any:
        """`{"Lead": true}` turns on a blocking rule matching Leads by phone."""
        with org.store.lock:
            for sobject, active in payload().items():
                org.store.set_duplicate_rule(sobject, bool(active))
                name = f"Standard_{sobject}_Duplicate_Rule"
                for rule in org.store.find_by("DuplicateRule", "DeveloperName", name):
                    org.store.delete("DuplicateRule", rule["Id"])
                org.store.create("DuplicateRule", {"DeveloperName": name, "MasterLabel": name,
                                 "SobjectType": sobject, "IsActive": bool(active)}, trusted=True)  # fmt: skip
        return {"active": sorted(org.store.duplicate_rules)}

    @control.post("/org")
    def org_settings() -> Any:
        """`{"soap_login": true, "picklists": true, "duplicate_key": "duplicateResut"}`: Setup switches."""
        data = payload()
        if "soap_login" in data:
            org.soap_login = bool(data["soap_login"])
        if "picklists" in data:
            org.picklists = bool(data["picklists"])
            org.store.set_picklists(org.picklists)
        if data.get("duplicate_key") in ("duplicateResult", "duplicateResut"):
            org.store.duplicate_key = str(data["duplicate_key"])
        return {"soap_login": org.soap_login, "picklists": org.picklists,
                "duplicate_key": org.store.duplicate_key}  # fmt: skip

    @control.post("/search_lag")
    def search_lag() -> Any:
        with org.store.lock:
            org.store.search_lag = bool(payload().get("enabled", True))
        return {"ok": True}

    @control.post("/reindex")
    def reindex() -> Any:
        org.store.reindex()
        return {"ok": True}

    @control.get("/records/<sobject>")
    def records(sobject: str) -> Any:
        try:
            return {"records": org.store.all(sobject)}
        except FakeError as error:
            return error.rest_body(), error.status

    @control.post("/records/<sobject>")
    def seed(sobject: str) -> Any:
        """Insert as an admin would (read-only fields such as LastModifiedDate may be given)."""
        try:
            return {"id": org.store.create(sobject, payload(), trusted=True)}, 201
        except FakeError as error:
            return error.rest_body(), error.status

    @control.delete("/records/<sobject>/<record_id>")
    def delete(sobject: str, record_id: str) -> Any:
        """Delete as a user would in the UI (the hub's remembered id then points at nothing)."""
        try:
            org.store.delete(sobject, record_id)
        except FakeError as error:
            return error.rest_body(), error.status
        return {"ok": True}

    @control.post("/convert")
    def convert() -> Any:
        data = payload()
        try:
            contact_id = org.store.convert_lead(str(data.get("lead_id")), data.get("contact_id"))
        except FakeError as error:
            return error.rest_body(), error.status
        return {"contact_id": contact_id}

    return control
