"""The CRM paths hubspot-api-client calls: objects v3 (single, batch, search), associations v4,
properties, owners and call dispositions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from connectors.hubspot.fake.batch import batch_inputs, run_batch, whole_batch_refusal
from connectors.hubspot.fake.catalogue import DEFAULT_DISPOSITIONS
from connectors.hubspot.fake.errors import FakeApiError, RecordError
from connectors.hubspot.fake.faults import Fault
from connectors.hubspot.fake.store import DEFAULT_ASSOCIATION_TYPES, CrmStore, object_type_name

crm = Blueprint("hubspot_crm", __name__)

#: Association type id -> (from type, to type), for `associations` given inside a create.
_TYPE_PAIRS = {type_id: pair for pair, type_id in DEFAULT_ASSOCIATION_TYPES.items()}


def _store() -> CrmStore:
    store: CrmStore = current_app.extensions["hubspot_fake"].store
    return store


def _fault() -> Fault | None:
    fault: Fault | None = g.get("hubspot_fault")
    return fault


def _json() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise FakeApiError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1, column 1: body required")
    return body


def _answer(status: int, body: Mapping[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _create_one(object_type: str, item: Mapping[str, Any]) -> dict[str, Any]:
    store = _store()
    pairs = []
    for association in item.get("associations") or []:
        to_id = str((association.get("to") or {}).get("id", ""))
        for spec in association.get("types") or []:
            pair = _TYPE_PAIRS.get(int(spec.get("associationTypeId", 0)))
            if pair is None or pair[0] != object_type:
                raise RecordError(
                    "VALIDATION_ERROR", f"Unknown association type {spec.get('associationTypeId')}."
                )
            store.get(pair[1], to_id)
            pairs.append((pair[1], to_id))
    stored = store.create(object_type, item.get("properties") or {})
    for to_type, to_id in pairs:
        store.associate_default(object_type, stored.id, to_type, to_id)
    return stored.as_json()


@crm.post("/crm/v3/objects/<object_type>")
def create(object_type: str) -> Response:
    name = object_type_name(object_type)
    try:
        return _answer(201, _create_one(name, _json()))
    except RecordError as error:
        raise error.as_request_error(409 if error.category == "CONFLICT" else 400) from None


@crm.get("/crm/v3/objects/<object_type>/<object_id>")
def read(object_type: str, object_id: str) -> Response:
    name = object_type_name(object_type)
    try:
        stored = _store().get(name, object_id, request.args.get("idProperty"))
    except RecordError as error:
        raise error.as_request_error(404) from None
    wanted = [p for p in request.args.get("properties", "").split(",") if p] or None
    body = stored.as_json(wanted)
    linked = [object_type_name(t) for t in request.args.get("associations", "").split(",") if t]
    if linked:
        body["associations"] = {
            other: {
                "results": [
                    {"id": i, "type": f"{name[:-1]}_to_{other[:-1]}"}
                    for i in _store().associated(name, stored.id, other)
                ]
            }
            for other in linked
        }
    return _answer(200, body)


@crm.patch("/crm/v3/objects/<object_type>/<object_id>")
def update(object_type: str, object_id: str) -> Response:
    name = object_type_name(object_type)
    try:
        stored = _store().update(
            name, object_id, _json().get("properties") or {}, request.args.get("idProperty")
        )
    except RecordError as error:
        raise error.as_request_error(404 if error.category == "OBJECT_NOT_FOUND" else 400) from None
    return _answer(200, stored.as_json())


@crm.delete("/crm/v3/objects/<object_type>/<object_id>")
def archive(object_type: str, object_id: str) -> Response:
    _store().archive(object_type_name(object_type), object_id)
    return Response(status=204)


@crm.post("/crm/v3/objects/<object_type>/search")
def search(object_type: str) -> Response:
    return _answer(200, _store().search(object_type_name(object_type), _json()))


@crm.post("/crm/v3/objects/<object_type>/batch/<operation>")
def batch(object_type: str, operation: str) -> Response:
    name = object_type_name(object_type)
    store = _store()
    body = _json()
    inputs = batch_inputs(body, keyed=operation in ("update", "upsert", "read"))
    fault = _fault()
    with store.transaction():
        status, answer = _run(name, operation, inputs, body, fault)
        if fault is None or fault.kind not in ("ok_with_errors", "no_record"):
            refusal = whole_batch_refusal(
                operation, inputs, answer, current_app.extensions["hubspot_fake"].batch_errors
            )
            if refusal is not None:
                raise refusal  # nothing of the batch is written
    return _answer(status, answer)


def _run(
    name: str, operation: str, inputs: list[Mapping[str, Any]], body: Any, fault: Fault | None
) -> tuple[int, dict[str, Any]]:
    store = _store()
    if operation == "create":
        return run_batch(inputs, lambda item: _create_one(name, item), fault, 201)
    if operation == "update":
        return run_batch(
            inputs,
            lambda item: store.update(
                name, str(item.get("id")), item.get("properties") or {}, item.get("idProperty")
            ).as_json(),
            fault,
            200,
        )
    if operation == "upsert":

        def upsert_one(item: Mapping[str, Any]) -> dict[str, Any]:
            stored, new = store.upsert(
                name, str(item.get("id")), str(item.get("idProperty") or ""), item.get("properties") or {}
            )
            return {**stored.as_json(), "new": new}

        return run_batch(inputs, upsert_one, fault, 200)
    if operation == "read":
        wanted = body.get("properties") or None
        id_property = body.get("idProperty")
        return run_batch(
            inputs, lambda item: store.get(name, str(item.get("id")), id_property).as_json(wanted), None, 200
        )
    raise FakeApiError(404, "OBJECT_NOT_FOUND", f"Unknown batch operation {operation}.")


@crm.put("/crm/v4/objects/<from_type>/<from_id>/associations/default/<to_type>/<to_id>")
def associate_default(from_type: str, from_id: str, to_type: str, to_id: str) -> Response:
    try:
        results = _store().associate_default(
            object_type_name(from_type), from_id, object_type_name(to_type), to_id
        )
    except RecordError as error:
        raise error.as_request_error(404 if error.category == "OBJECT_NOT_FOUND" else 400) from None
    return _answer(200, _association_batch(results, []))


@crm.post("/crm/v4/associations/<from_type>/<to_type>/batch/associate/default")
def associate_default_batch(from_type: str, to_type: str) -> Response:
    from_name, to_name = object_type_name(from_type), object_type_name(to_type)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    fault = _fault()
    if fault is not None and fault.kind == "no_record":
        return _answer(200, _association_batch([], []))
    for item in batch_inputs(_json(), keyed=False):
        from_id = str((item.get("from") or {}).get("id", ""))
        to_id = str((item.get("to") or {}).get("id", ""))
        try:
            if fault is not None and fault.kind != "status":
                raise RecordError(fault.category, fault.message, context={"ids": [from_id]})
            results.extend(_store().associate_default(from_name, from_id, to_name, to_id))
        except RecordError as error:
            errors.append(error.standard_error())
    # Association batches answer 200 even when some inputs failed: the errors are in the body.
    return _answer(200, _association_batch(results, errors))


def _association_batch(results: list[dict[str, Any]], errors: list[dict[str, Any]]) -> dict[str, Any]:
    from datetime import UTC, datetime

    from connectors.hubspot.fake.store import iso

    now = iso(datetime.now(UTC))
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if errors:
        body.update(numErrors=len(errors), errors=errors)
    return body


@crm.get("/crm/v4/objects/<from_type>/<from_id>/associations/<to_type>")
def list_associations(from_type: str, from_id: str, to_type: str) -> Response:
    from_name, to_name = object_type_name(from_type), object_type_name(to_type)
    type_id = DEFAULT_ASSOCIATION_TYPES.get((from_name, to_name), 0)
    results = [
        {
            "toObjectId": int(to_id),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
        }
        for to_id in _store().associated(from_name, from_id, to_name)
    ]
    return _answer(200, {"results": results})


@crm.get("/crm/v3/properties/<object_type>")
def properties(object_type: str) -> Response:
    name = object_type_name(object_type)
    return _answer(200, {"results": [p.as_json(name) for p in _store().catalogue[name].values()]})


@crm.get("/crm/v3/properties/<object_type>/<property_name>")
def property_by_name(object_type: str, property_name: str) -> Response:
    name = object_type_name(object_type)
    definition = _store().catalogue[name].get(property_name)
    if definition is None:
        raise FakeApiError(404, "OBJECT_NOT_FOUND", f"Unable to find property {property_name} on {name}.")
    return _answer(200, definition.as_json(name))


@crm.get("/crm/v3/owners/")
@crm.get("/crm/v3/owners")
def owners() -> Response:
    email = (request.args.get("email") or "").lower()
    found = [o for o in _store().owners if not email or str(o.get("email", "")).lower() == email]
    return _answer(200, {"results": found})


@crm.get("/calling/v1/dispositions")
def dispositions() -> Response:
    return jsonify([{"id": guid, "label": label} for label, guid in DEFAULT_DISPOSITIONS.items()])
