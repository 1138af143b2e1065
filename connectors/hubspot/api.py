"""The HubSpot calls the connector makes, through hubspot-api-client, returning plain data.

Batch writes answer per input: a record, or the error HubSpot gave for it (207), or - when a 2xx
left the input out - an error saying so. Inputs carry `objectWriteTraceId` so answers (which
HubSpot does not promise to keep in order) are tied back to them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hubspot import HubSpot
from hubspot.crm import contacts as contacts_api
from hubspot.crm.associations import v4 as associations_api
from hubspot.crm.objects import calls as calls_api

from connectors.base import DeliveryError, RetryableError
from connectors.hubspot.errors import classify, record_error, whole_batch_refusal
from connectors.hubspot.lookup import SEARCH_PAGE

BATCH_LIMIT = 100
#: Extra requests one batch write may spend finding the input HubSpot refused a whole batch for.
#: Bisection finds one bad input among 100 in 14 requests; past this budget the inputs still
#: unresolved are retried later (in a smaller batch) rather than spending the portal's quota.
ISOLATION_BUDGET = 30
#: Values one search `IN` filter carries (HubSpot's documented maximum is 100).
CALL_SEARCH_VALUES = 100
#: When inputs left unresolved by an exhausted isolation budget are tried again.
ISOLATION_RETRY_S = 10.0


@dataclass
class BatchAnswer:
    """Per input key: the record written, or why not."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, DeliveryError] = field(default_factory=dict)


def plain(model: Any) -> dict[str, Any]:
    """A SimplePublicObject-like model as {"id", "properties", "updatedAt", "new"?, "trace"?}."""
    updated = getattr(model, "updated_at", None)
    return {
        "id": str(model.id),
        "properties": dict(model.properties or {}),
        "updatedAt": updated.isoformat() if isinstance(updated, datetime) else str(updated or ""),
        "new": bool(getattr(model, "new", False)),
        "trace": getattr(model, "object_write_trace_id", None),
    }


def trace_id(key: str) -> str:
    """What an input's `objectWriteTraceId` carries: its key by digest (keys may be phone numbers)."""
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def _chunks(keys: Sequence[str]) -> list[Sequence[str]]:
    return [keys[i : i + BATCH_LIMIT] for i in range(0, len(keys), BATCH_LIMIT)]


def record_json(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """A batch result as JSON, in `plain`'s shape; None when it carries no record id."""
    record_id = result.get("id")
    if record_id in (None, ""):
        return None
    properties = result.get("properties")
    return {
        "id": str(record_id),
        "properties": {str(k): v for k, v in properties.items()} if isinstance(properties, Mapping) else {},
        "updatedAt": str(result.get("updatedAt") or ""),
        "new": bool(result.get("new", False)),
        "trace": result.get("objectWriteTraceId"),
    }


def batch_json(response: Any) -> dict[str, Any]:
    """A batch answer read as JSON, not through the client's models.

    The models (with client-side validation) refuse HubSpot's own documented 207 answers, whose
    error entries carry no `errors` or `links`; HubSpot asks clients to treat every error field
    as optional (https://developers.hubspot.com/docs/api-reference/error-handling).
    """
    raw = response.data
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    try:
        body = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ValueError(f"HubSpot answered a batch with a body that is not JSON: {text[:200]}") from None
    if not isinstance(body, dict):
        raise ValueError("HubSpot answered a batch with JSON that is not an object")
    return body


def _collect(answer: BatchAnswer, body: Mapping[str, Any], keys: Sequence[str], key_of: Any) -> None:
    """Tie results and errors back to input keys; an input nobody mentions failed silently."""
    by_trace = {trace_id(key): key for key in keys}
    for result in body.get("results") or []:
        record = record_json(result) if isinstance(result, Mapping) else None
        if record is None:
            continue
        key = by_trace.get(record["trace"] or "") or key_of(record)
        if key in keys:
            answer.records[key] = record
    unplaced: list[DeliveryError] = []
    for error in body.get("errors") or []:
        if not isinstance(error, Mapping):
            continue
        found_context = error.get("context")
        context: Mapping[str, Any] = found_context if isinstance(found_context, Mapping) else {}
        failure = record_error(str(error.get("category") or ""), str(error.get("message") or ""))
        named = [by_trace.get(str(t), "") for t in context.get("objectWriteTraceId") or []] + [
            str(i) for i in context.get("ids") or []
        ]
        targets = [k for k in dict.fromkeys(named) if k in keys]
        for key in targets:
            answer.errors.setdefault(key, failure)
        if not targets:
            unplaced.append(failure)
    for key in keys:
        if key not in answer.records and key not in answer.errors:
            answer.errors[key] = (
                unplaced[0]
                if unplaced
                else record_error(
                    "NO_RECORD", "the write answered success but returned no record for this input"
                )
            )


Request = Callable[[Sequence[str]], Any]
KeyOf = Callable[[dict[str, Any]], Any]


class _Isolation:
    """One batch write: answers per input, splitting a batch HubSpot refused as a whole.

    Batch update and upsert answer one 400 VALIDATION_ERROR (or 409 CONFLICT) for the whole batch
    when a single input is bad, and batch create answers one 409 naming only the first duplicate:
    the batch is halved until the refused input stands alone, so it alone is rejected (with
    HubSpot's message) and every other input is written.
    """

    def __init__(self, request: Request, key_of: KeyOf) -> None:
        self.request = request
        self.key_of = key_of
        self.answer = BatchAnswer()
        self.budget = ISOLATION_BUDGET

    def run(self, keys: Sequence[str]) -> BatchAnswer:
        for chunk in _chunks(keys):
            self._send(chunk, splitting=False)
        return self.answer

    def _send(self, chunk: Sequence[str], *, splitting: bool) -> None:
        try:
            response = self.request(chunk)
        except Exception as exc:
            refusal = whole_batch_refusal(exc)
            if refusal is None:
                if not splitting:
                    raise
                # Part of the batch is written already: this part's failure is its own.
                error = classify(exc)
                self.answer.errors.update(dict.fromkeys(chunk, error))
                return
            self._split(chunk, refusal)
            return
        _collect(self.answer, response, chunk, self.key_of)

    def _split(self, chunk: Sequence[str], refusal: DeliveryError) -> None:
        if len(chunk) == 1:
            self.answer.errors[chunk[0]] = refusal
            return
        if self.budget < 2:
            postponed = RetryableError(
                f"HubSpot refused a batch of {len(chunk)} for one of its records ({refusal.message}); "
                "the others are retried in a smaller batch",
                reason="isolating",
                retry_after=ISOLATION_RETRY_S,
            )
            self.answer.errors.update(dict.fromkeys(chunk, postponed))
            return
        self.budget -= 2
        middle = len(chunk) // 2
        self._send(chunk[:middle], splitting=True)
        self._send(chunk[middle:], splitting=True)


class HubSpotApi:
    def __init__(self, client: HubSpot) -> None:
        self.client = client

    # --- contacts ----------------------------------------------------------------------------

    def search_contacts(
        self, filter_groups: list[dict[str, Any]], properties: list[str]
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            request = contacts_api.PublicObjectSearchRequest(
                filter_groups=[
                    contacts_api.FilterGroup(
                        filters=[
                            contacts_api.Filter(
                                property_name=f["propertyName"], operator=f["operator"], values=f["values"]
                            )
                            for f in group["filters"]
                        ]
                    )
                    for group in filter_groups
                ],
                properties=properties,
                limit=SEARCH_PAGE,
                after=after,
            )
            page = self.client.crm.contacts.search_api.do_search(public_object_search_request=request)
            found.extend(plain(model) for model in page.results or [])
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return found

    def read_contacts(
        self, ids: Sequence[str], properties: list[str], id_property: str | None = None
    ) -> BatchAnswer:
        """Contacts by id, or by a unique property's value (`id_property`); answers keyed by the input."""
        answer = BatchAnswer()
        for keys in _chunks(list(ids)):
            body = contacts_api.BatchReadInputSimplePublicObjectId(
                inputs=[contacts_api.SimplePublicObjectId(id=key) for key in keys],
                properties=properties,
                properties_with_history=[],
                id_property=id_property,
            )
            response = batch_json(
                self.client.crm.contacts.batch_api.read(
                    batch_read_input_simple_public_object_id=body, _preload_content=False
                )
            )
            if id_property is None:
                _collect(answer, response, keys, lambda record: record["id"])
            else:
                _collect(answer, response, keys, lambda record: record["properties"].get(id_property))
        return answer

    def update_contacts(self, properties_by_id: Mapping[str, Mapping[str, str]]) -> BatchAnswer:
        def request(keys: Sequence[str]) -> Any:
            body = contacts_api.BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    contacts_api.SimplePublicObjectBatchInput(
                        id=key, object_write_trace_id=trace_id(key), properties=dict(properties_by_id[key])
                    )
                    for key in keys
                ]
            )
            return batch_json(
                self.client.crm.contacts.batch_api.update(
                    batch_input_simple_public_object_batch_input=body,
                    _preload_content=False,
                )
            )

        return _Isolation(request, lambda record: record["id"]).run(list(properties_by_id))

    def create_contacts(
        self, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
    ) -> BatchAnswer:
        """Batch create, each contact carrying its key in `id_property` (a unique property): a key
        some contact already holds fails that input with CONFLICT instead of overwriting it."""

        def request(keys: Sequence[str]) -> Any:
            body = contacts_api.BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    contacts_api.SimplePublicObjectBatchInputForCreate(
                        associations=[],
                        object_write_trace_id=trace_id(key),
                        properties={**properties_by_key[key], id_property: key},
                    )
                    for key in keys
                ]
            )
            return batch_json(
                self.client.crm.contacts.batch_api.create(
                    batch_input_simple_public_object_batch_input_for_create=body,
                    _preload_content=False,
                )
            )

        return _Isolation(request, lambda record: record["properties"].get(id_property)).run(
            list(properties_by_key)
        )

    def upsert_contacts(
        self, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
    ) -> BatchAnswer:
        def request(keys: Sequence[str]) -> Any:
            body = contacts_api.BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    contacts_api.SimplePublicObjectBatchInputUpsert(
                        id=key,
                        id_property=id_property,
                        object_write_trace_id=trace_id(key),
                        properties=dict(properties_by_key[key]),
                    )
                    for key in keys
                ]
            )
            return batch_json(
                self.client.crm.contacts.batch_api.upsert(
                    batch_input_simple_public_object_batch_input_upsert=body,
                    _preload_content=False,
                )
            )

        return _Isolation(request, lambda record: record["properties"].get(id_property)).run(
            list(properties_by_key)
        )

    # --- calls -------------------------------------------------------------------------------

    def upsert_calls(
        self, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
    ) -> BatchAnswer:
        def request(keys: Sequence[str]) -> Any:
            body = calls_api.BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    calls_api.SimplePublicObjectBatchInputUpsert(
                        id=key,
                        id_property=id_property,
                        object_write_trace_id=trace_id(key),
                        properties=dict(properties_by_key[key]),
                    )
                    for key in keys
                ]
            )
            return batch_json(
                self.client.crm.objects.calls.batch_api.upsert(
                    batch_input_simple_public_object_batch_input_upsert=body,
                    _preload_content=False,
                )
            )

        return _Isolation(request, lambda record: record["properties"].get(id_property)).run(
            list(properties_by_key)
        )

    def create_calls(
        self, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
    ) -> BatchAnswer:
        """Batch create of call engagements, each carrying its call key in `id_property` (a plain
        property: nothing in HubSpot stops a second create, the caller must have looked first)."""

        def request(keys: Sequence[str]) -> Any:
            body = calls_api.BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    calls_api.SimplePublicObjectBatchInputForCreate(
                        associations=[],
                        object_write_trace_id=trace_id(key),
                        properties={**properties_by_key[key], id_property: key},
                    )
                    for key in keys
                ]
            )
            return batch_json(
                self.client.crm.objects.calls.batch_api.create(
                    batch_input_simple_public_object_batch_input_for_create=body,
                    _preload_content=False,
                )
            )

        return _Isolation(request, lambda record: record["properties"].get(id_property)).run(
            list(properties_by_key)
        )

    def update_calls(self, properties_by_id: Mapping[str, Mapping[str, str]]) -> BatchAnswer:
        def request(keys: Sequence[str]) -> Any:
            body = calls_api.BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    calls_api.SimplePublicObjectBatchInput(
                        id=key, object_write_trace_id=trace_id(key), properties=dict(properties_by_id[key])
                    )
                    for key in keys
                ]
            )
            return batch_json(
                self.client.crm.objects.calls.batch_api.update(
                    batch_input_simple_public_object_batch_input=body,
                    _preload_content=False,
                )
            )

        return _Isolation(request, lambda record: record["id"]).run(list(properties_by_id))

    def search_calls(self, id_property: str, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Call engagements holding these keys in `id_property` (a plain property), by key."""
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(keys), CALL_SEARCH_VALUES):
            values = list(keys[start : start + CALL_SEARCH_VALUES])
            after: str | None = None
            while True:
                request = calls_api.PublicObjectSearchRequest(
                    filter_groups=[
                        calls_api.FilterGroup(
                            filters=[
                                calls_api.Filter(property_name=id_property, operator="IN", values=values)
                            ]
                        )
                    ],
                    properties=[id_property],
                    limit=SEARCH_PAGE,
                    after=after,
                )
                page = self.client.crm.objects.calls.search_api.do_search(
                    public_object_search_request=request
                )
                for model in page.results or []:
                    record = plain(model)
                    key = record["properties"].get(id_property)
                    if key in values:
                        found.setdefault(str(key), []).append(record)
                after = page.paging.next.after if page.paging and page.paging.next else None
                if not after:
                    break
        return found

    def associate_calls(self, contact_by_call: Mapping[str, str]) -> dict[str, DeliveryError]:
        """Default call->contact associations; the calls that failed, with why."""
        failed: dict[str, DeliveryError] = {}
        for keys in _chunks(list(contact_by_call)):
            body = associations_api.BatchInputPublicDefaultAssociationMultiPost(
                inputs=[
                    associations_api.PublicDefaultAssociationMultiPost(
                        _from=associations_api.PublicObjectId(id=call_id),
                        to=associations_api.PublicObjectId(id=contact_by_call[call_id]),
                    )
                    for call_id in keys
                ]
            )
            response = self.client.crm.associations.v4.batch_api.create_default(
                from_object_type="call",
                to_object_type="contact",
                batch_input_public_default_association_multi_post=body,
            )
            linked = {str(result._from.id) for result in response.results or []}
            errors = [
                record_error(str(e.category or ""), str(e.message or "")) for e in response.errors or []
            ]
            for call_id in keys:
                if call_id not in linked:
                    failed[call_id] = (
                        errors[0]
                        if errors
                        else record_error("NO_RECORD", "the association answered success but linked nothing")
                    )
        return failed

    # --- portal metadata ---------------------------------------------------------------------

    def owner_id(self, email: str) -> str | None:
        page = self.client.crm.owners.owners_api.get_page(email=email, limit=1)
        return str(page.results[0].id) if page.results else None

    def properties(self, object_type: str) -> list[Any]:
        return list(self.client.crm.properties.core_api.get_all(object_type=object_type).results or [])

    def property(self, object_type: str, name: str) -> Any:
        return self.client.crm.properties.core_api.get_by_name(object_type=object_type, property_name=name)
