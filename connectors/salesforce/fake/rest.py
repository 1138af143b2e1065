"""The REST API under /services/data/vXX.X/: one dispatcher, so Composite can reuse it per subrequest."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote

from connectors.salesforce.fake.errors import FakeError, not_found
from connectors.salesforce.fake.org import Org
from connectors.salesforce.fake.schema import KEY_PREFIXES, OBJECTS, describe
from connectors.salesforce.fake.soql import parse_query
from connectors.salesforce.fake.sosl import parse_search, run_search
from connectors.salesforce.fake.store import Record, Store

Response = tuple[int, Any]

COLLECTION_MAX: Final = 200
COMPOSITE_MAX: Final = 25
_REFERENCE: Final = re.compile(r"@\{(\w+)\.(\w+)\}")


class RestApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    @property
    def store(self) -> Store:
        # Read through the org each time: a reset swaps in a fresh store.
        return self.org.store

    def handle(self, method: str, path: str, params: Mapping[str, str], body: Any) -> Response:
        """Route `path` (after /services/data/vXX.X/) to its handler; FakeError becomes an error body."""
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        try:
            return self._route(method, parts, params, body)
        except FakeError as error:
            return error.status, error.rest_body()

    def _route(self, method: str, parts: list[str], params: Mapping[str, str], body: Any) -> Response:
        head = parts[0] if parts else ""
        if not parts:
            return 200, {"sobjects": self._base("sobjects"), "query": self._base("query"),
                         "search": self._base("search"), "composite": self._base("composite"),
                         "limits": self._base("limits")}  # fmt: skip
        if head in ("query", "queryAll") and method == "GET":
            return 200, self._query(params.get("q", ""))
        if head == "search" and method == "GET":
            return 200, self._search(params.get("q", ""))
        if head == "limits" and method == "GET":
            used, limit = self.org.api_used, self.org.daily_limit
            return 200, {"DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)}}
        if head == "composite" and len(parts) == 1 and method == "POST":
            return self._composite(body)
        if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
            return self._collections(method, parts[2:], params, body)
        if head == "sobjects":
            return self._sobjects(method, parts[1:], body)
        raise not_found()

    # --- sObjects ---------------------------------------------------------------------------

    def _sobjects(self, method: str, parts: list[str], body: Any) -> Response:
        if not parts:
            return 200, {"sobjects": [{"name": name, "keyPrefix": KEY_PREFIXES[name]}
                                      for name in OBJECTS]}  # fmt: skip
        sobject = parts[0]
        if sobject not in OBJECTS:
            raise not_found(
                f"The requested resource does not exist: sObject type '{sobject}' is not supported."
            )
        if len(parts) == 1:
            if method == "POST":
                record_id = self.store.create(sobject, _body_dict(body))
                return 201, {"id": record_id, "success": True, "errors": []}
            return 200, {"objectDescribe": {"name": sobject}, "recentItems": []}
        if parts[1] == "describe" and method == "GET":
            return 200, describe(sobject, self.org.version, self.store.fields[sobject])
        if len(parts) == 2:
            record_id = parts[1]
            if method == "GET":
                return 200, self._render(sobject, self.store.get(sobject, record_id))
            if method == "PATCH":
                self.store.update(sobject, record_id, _body_dict(body))
                return 204, None
            if method == "DELETE":
                self.store.delete(sobject, record_id)
                return 204, None
        if len(parts) == 3:
            field, value = parts[1], parts[2]
            if method == "PATCH":
                record_id, created = self.store.upsert(sobject, field, value, _body_dict(body))
                return (201 if created else 200), {"id": record_id, "success": True, "errors": [],
                                                   "created": created}  # fmt: skip
            if method == "GET":
                matches = self.store.find_by(sobject, field, value)
                if not matches:
                    raise not_found()
                return 200, self._render(sobject, matches[0])
        raise not_found()

    # --- query and search -------------------------------------------------------------------

    def _query(self, text: str) -> dict[str, Any]:
        select = parse_query(text)
        records = select.apply(self.store.select(select.sobject, select.hint))
        known = self.store.fields[select.sobject]
        for name in select.fields:
            if name not in known and name.lower() not in {k.lower() for k in known}:
                raise FakeError("INVALID_FIELD", f"No such column '{name}' on entity '{select.sobject}'.")
        rendered = [self._render(select.sobject, r, select.fields) for r in records]
        return {"totalSize": len(rendered), "done": True, "records": rendered}

    def _search(self, text: str) -> dict[str, Any]:
        found = run_search(self.store, parse_search(text))
        records = []
        for record in found:
            sobject = record.pop("_type")
            records.append(self._render(sobject, record, list(record)))
        return {"searchRecords": records}

    # --- Collections and Composite ----------------------------------------------------------

    def _collections(self, method: str, parts: list[str], params: Mapping[str, str], body: Any) -> Response:
        if method == "GET":
            sobject = parts[0] if parts else ""
            ids = [i for i in params.get("ids", "").split(",") if i]
            fields = [f for f in params.get("fields", "Id").split(",") if f]
            return 200, [self._get_or_none(sobject, i, fields) for i in ids]
        if method == "DELETE":
            ids = [i for i in params.get("ids", "").split(",") if i]
            return 200, self._each(ids, False, lambda i: self._delete_any(i))
        payload = _body_dict(body)
        records = payload.get("records")
        if not isinstance(records, list) or not records:
            raise FakeError("INVALID_FIELD", "records: required field is missing")
        if len(records) > COLLECTION_MAX:
            raise FakeError(
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {COLLECTION_MAX} records into this call",
            )
        all_or_none = bool(payload.get("allOrNone", False))
        if method == "POST":
            return 200, self._each(records, all_or_none, self._create_one)
        if method == "PATCH" and len(parts) == 2:
            sobject, field = parts
            return 200, self._each(records, all_or_none, lambda r: self._upsert_one(sobject, field, r))
        if method == "PATCH":
            return 200, self._each(records, all_or_none, self._update_one)
        raise not_found()

    def _each(self, items: list[Any], all_or_none: bool, save: Any) -> list[dict[str, Any]]:
        if not all_or_none:
            return [_save(save, item) for item in items]
        try:
            with self.store.atomic():
                results = [_save(save, item) for item in items]
                if not all(result["success"] for result in results):
                    raise _RolledBack(results)
        except _RolledBack as rolled:
            return [r if not r["success"] else _rolled_back(r) for r in rolled.results]
        return results

    def _create_one(self, record: Any) -> dict[str, Any]:
        sobject = _type_of(record)
        return {"id": self.store.create(sobject, record)}

    def _update_one(self, record: Any) -> dict[str, Any]:
        sobject = _type_of(record)
        record_id = record.get("id") or record.get("Id")
        if not record_id:
            raise FakeError("MISSING_ARGUMENT", "Id not specified in an update call", [])
        self.store.update(sobject, record_id, record)
        return {"id": record_id}

    def _upsert_one(self, sobject: str, field: str, record: Any) -> dict[str, Any]:
        value = record.get(field) if isinstance(record, dict) else None
        if value in (None, ""):
            raise FakeError("MISSING_ARGUMENT", f"{field} not specified", [field])
        record_id, created = self.store.upsert(sobject, field, str(value), record)
        return {"id": record_id, "created": created}

    def _delete_any(self, record_id: str) -> dict[str, Any]:
        sobject = self.store.object_of(record_id)
        if sobject is None:
            raise FakeError("MALFORMED_ID", f"malformed id {record_id}", [])
        self.store.delete(sobject, record_id)
        return {"id": record_id}

    def _get_or_none(self, sobject: str, record_id: str, fields: list[str]) -> dict[str, Any] | None:
        try:
            return self._render(sobject, self.store.get(sobject, record_id), fields)
        except FakeError:
            return None

    def _composite(self, body: Any) -> Response:
        payload = _body_dict(body)
        requests = payload.get("compositeRequest") or []
        if len(requests) > COMPOSITE_MAX:
            raise FakeError("INVALID_INPUT", f"Maximum of {COMPOSITE_MAX} subrequests are allowed")
        all_or_none = bool(payload.get("allOrNone", False))
        results: dict[str, Any] = {}
        responses: list[dict[str, Any]] = []
        halted = False
        for sub in requests:
            reference = sub.get("referenceId", "")
            if halted:
                responses.append(_halted(reference))
                continue
            url = _substitute(str(sub.get("url", "")), results)
            body_in = _substitute_body(sub.get("body"), results)
            path, _, query = url.partition("?")
            inner = re.sub(r"^/services/data/v[\d.]+/?", "", path)
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            status, out = self.handle(str(sub.get("method", "GET")).upper(), inner, params, body_in)
            results[reference] = out
            responses.append(
                {"body": out, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference}
            )
            if status >= 400 and all_or_none:
                halted = True
        return 200, {"compositeResponse": responses}

    # --- rendering --------------------------------------------------------------------------

    def _render(self, sobject: str, record: Record, fields: list[str] | None = None) -> dict[str, Any]:
        names = fields if fields is not None else list(record)
        rendered: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v{self.org.version}/sobjects/{sobject}/{record.get('Id')}",
            }
        }
        for name in names:
            rendered[name] = next((v for k, v in record.items() if k.lower() == name.lower()), None)
        return rendered

    def _base(self, name: str) -> str:
        return f"/services/data/v{self.org.version}/{name}"


class _RolledBack(Exception):
    def __init__(self, results: list[dict[str, Any]]) -> None:
        super().__init__("rolled back")
        self.results = results


def _save(save: Any, item: Any) -> dict[str, Any]:
    try:
        return {"success": True, "errors": [], **save(item)}
    except FakeError as error:
        return {"id": None, "success": False, "errors": [error.item_error()]}


def _rolled_back(_: dict[str, Any]) -> dict[str, Any]:
    message = (
        "Record rolled back because not all records were valid and the request was using AllOrNone header"
    )
    error = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": message, "fields": []}
    return {"id": None, "success": False, "errors": [error]}


def _body_dict(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FakeError("JSON_PARSER_ERROR", "The request body is not a JSON object")
    return body


def _type_of(record: Any) -> str:
    if not isinstance(record, dict) or not isinstance(record.get("attributes"), dict):
        raise FakeError("INVALID_FIELD", "sObject type must be specified in attributes.type", [])
    sobject = str(record["attributes"].get("type", ""))
    if sobject not in OBJECTS:
        raise FakeError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.", [])
    return sobject


def _halted(reference: str) -> dict[str, Any]:
    body = [
        {
            "errorCode": "PROCESSING_HALTED",
            "message": "The transaction was rolled back since another operation in the same transaction failed.",
        }
    ]
    return {"body": body, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference}


def _lookup(results: Mapping[str, Any], reference: str, key: str) -> str:
    value = results.get(reference)
    if not isinstance(value, dict) or key not in value:
        raise FakeError("INVALID_REFERENCE", f"Reference @{{{reference}.{key}}} cannot be resolved", [])
    return str(value[key])


def _substitute(text: str, results: Mapping[str, Any]) -> str:
    return _REFERENCE.sub(lambda m: _lookup(results, m.group(1), m.group(2)), text)


def _substitute_body(body: Any, results: Mapping[str, Any]) -> Any:
    if isinstance(body, str):
        return _substitute(body, results)
    if isinstance(body, dict):
        return {key: _substitute_body(value, results) for key, value in body.items()}
    if isinstance(body, list):
        return [_substitute_body(value, results) for value in body]
    return body
