"""The HubSpot calls the connector makes, through hubspot-api-client, returning plain data.

Batch writes answer per input (batches.py): a record, or the error HubSpot gave for it, or - when
a 2xx left the input out - an error saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubspot import HubSpot
from hubspot.crm import contacts as contacts_api
from hubspot.crm.associations import v4 as associations_api
from hubspot.crm.objects import calls as calls_api

from connectors.base import DeliveryError
from connectors.hubspot.batches import (
    CALL_SEARCH_VALUES,
    BatchAnswer,
    Isolation,
    batch_json,
    chunks_of,
    collect,
    plain,
    trace_id,
)
from connectors.hubspot.errors import record_error
from connectors.hubspot.lookup import MAX_RESULTS, SEARCH_PAGE

__all__ = ["BatchAnswer", "HubSpotApi", "TooManyResults"]


class TooManyResults(Exception):
    """A search matched more records than HubSpot lets a query page through."""

    def __init__(self, total: int) -> None:
        super().__init__(f"the search matched {total} records; HubSpot pages through {MAX_RESULTS}")
        self.total = total


# hubspot-api-client builds a fresh Configuration for every request model not handed one (and
# each resets its loggers' levels, which empties the logging module's caches): one per package,
# with the library's defaults, serves every model of every request.
_SETTINGS: dict[str, Any] = {
    package.__name__: package.Configuration() for package in (contacts_api, calls_api, associations_api)
}


def _settings(models: Any) -> Any:
    return _SETTINGS[models.__name__]


class HubSpotApi:
    def __init__(self, client: HubSpot) -> None:
        self.client = client

    # --- contacts ----------------------------------------------------------------------------

    def search_contacts(
        self,
        filter_groups: list[dict[str, Any]],
        properties: list[str],
        *,
        split_over: int | None = MAX_RESULTS,
    ) -> list[dict[str, Any]]:
        """Every contact the search matches, page by page (at most the first `MAX_RESULTS`, all
        HubSpot pages through). Raises `TooManyResults` after the first page when it matches more
        than `split_over` (None: read what can be read)."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            request = contacts_api.PublicObjectSearchRequest(
                filter_groups=[
                    contacts_api.FilterGroup(
                        filters=[
                            contacts_api.Filter(
                                property_name=f["propertyName"],
                                operator=f["operator"],
                                values=f["values"],
                                local_vars_configuration=_settings(contacts_api),
                            )
                            for f in group["filters"]
                        ],
                        local_vars_configuration=_settings(contacts_api),
                    )
                    for group in filter_groups
                ],
                properties=properties,
                limit=SEARCH_PAGE,
                after=after,
                local_vars_configuration=_settings(contacts_api),
            )
            page = self.client.crm.contacts.search_api.do_search(public_object_search_request=request)
            total = int(getattr(page, "total", 0) or 0)
            if after is None and split_over is not None and total > split_over:
                raise TooManyResults(total)
            found.extend(plain(model) for model in page.results or [])
            after = page.paging.next.after if page.paging and page.paging.next else None
            # HubSpot refuses to page past its 10,000th result.
            if not after or len(found) >= MAX_RESULTS:
                return found

    def read_contacts(
        self, ids: Sequence[str], properties: list[str], id_property: str | None = None
    ) -> BatchAnswer:
        """Contacts by id, or by a unique property's value (`id_property`); answers keyed by the input."""
        answer = BatchAnswer()
        for keys in chunks_of(list(ids)):
            body = contacts_api.BatchReadInputSimplePublicObjectId(
                inputs=[
                    contacts_api.SimplePublicObjectId(
                        id=key, local_vars_configuration=_settings(contacts_api)
                    )
                    for key in keys
                ],
                properties=properties,
                properties_with_history=[],
                id_property=id_property,
                local_vars_configuration=_settings(contacts_api),
            )
            response = batch_json(
                self.client.crm.contacts.batch_api.read(
                    batch_read_input_simple_public_object_id=body, _preload_content=False
                )
            )
            if id_property is None:
                collect(answer, response, keys, lambda record: record["id"])
            else:
                collect(answer, response, keys, lambda record: record["properties"].get(id_property))
        return answer

    def update_contacts(self, properties_by_id: Mapping[str, Mapping[str, str]]) -> BatchAnswer:
        return _update(contacts_api, self.client.crm.contacts.batch_api, properties_by_id)

    def create_contacts(
        self, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
    ) -> BatchAnswer:
        """Batch create, each contact carrying its key in `id_property` (a unique property): a key
        some contact already holds fails that input with CONFLICT instead of overwriting it."""
        return _create(contacts_api, self.client.crm.contacts.batch_api, id_property, properties_by_key)

    def upsert_contacts(
        self, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
    ) -> BatchAnswer:
        return _upsert(contacts_api, self.client.crm.contacts.batch_api, id_property, properties_by_key)

    # --- calls -------------------------------------------------------------------------------

    def upsert_calls(
        self, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
    ) -> BatchAnswer:
        return _upsert(calls_api, self.client.crm.objects.calls.batch_api, id_property, properties_by_key)

    def create_calls(
        self, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
    ) -> BatchAnswer:
        """Batch create of call engagements, each carrying its call key in `id_property` (a plain
        property: nothing in HubSpot stops a second create, the caller must have looked first)."""
        return _create(calls_api, self.client.crm.objects.calls.batch_api, id_property, properties_by_key)

    def update_calls(self, properties_by_id: Mapping[str, Mapping[str, str]]) -> BatchAnswer:
        return _update(calls_api, self.client.crm.objects.calls.batch_api, properties_by_id)

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
                                calls_api.Filter(
                                    property_name=id_property,
                                    operator="IN",
                                    values=values,
                                    local_vars_configuration=_settings(calls_api),
                                )
                            ],
                            local_vars_configuration=_settings(calls_api),
                        )
                    ],
                    properties=[id_property],
                    limit=SEARCH_PAGE,
                    after=after,
                    local_vars_configuration=_settings(calls_api),
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
        links = _settings(associations_api)
        for keys in chunks_of(list(contact_by_call)):
            body = associations_api.BatchInputPublicDefaultAssociationMultiPost(
                inputs=[
                    associations_api.PublicDefaultAssociationMultiPost(
                        _from=associations_api.PublicObjectId(id=call_id, local_vars_configuration=links),
                        to=associations_api.PublicObjectId(
                            id=contact_by_call[call_id], local_vars_configuration=links
                        ),
                        local_vars_configuration=links,
                    )
                    for call_id in keys
                ],
                local_vars_configuration=links,
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


# The contacts and calls clients are generated apart but alike: `models` is the object type's
# package (contacts_api or calls_api), `batch_api` its client's batch API.


def _update(models: Any, batch_api: Any, properties_by_id: Mapping[str, Mapping[str, str]]) -> BatchAnswer:
    def request(keys: Sequence[str]) -> Any:
        body = models.BatchInputSimplePublicObjectBatchInput(
            inputs=[
                models.SimplePublicObjectBatchInput(
                    id=key,
                    object_write_trace_id=trace_id(key),
                    properties=dict(properties_by_id[key]),
                    local_vars_configuration=_settings(models),
                )
                for key in keys
            ],
            local_vars_configuration=_settings(models),
        )
        return batch_json(
            batch_api.update(batch_input_simple_public_object_batch_input=body, _preload_content=False)
        )

    return Isolation(request, lambda record: record["id"]).run(list(properties_by_id))


def _create(
    models: Any, batch_api: Any, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
) -> BatchAnswer:
    def request(keys: Sequence[str]) -> Any:
        body = models.BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                models.SimplePublicObjectBatchInputForCreate(
                    associations=[],
                    object_write_trace_id=trace_id(key),
                    properties={**properties_by_key[key], id_property: key},
                    local_vars_configuration=_settings(models),
                )
                for key in keys
            ],
            local_vars_configuration=_settings(models),
        )
        return batch_json(
            batch_api.create(
                batch_input_simple_public_object_batch_input_for_create=body, _preload_content=False
            )
        )

    return Isolation(request, lambda record: record["properties"].get(id_property)).run(
        list(properties_by_key)
    )


def _upsert(
    models: Any, batch_api: Any, id_property: str, properties_by_key: Mapping[str, Mapping[str, str]]
) -> BatchAnswer:
    def request(keys: Sequence[str]) -> Any:
        body = models.BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                models.SimplePublicObjectBatchInputUpsert(
                    id=key,
                    id_property=id_property,
                    object_write_trace_id=trace_id(key),
                    properties=dict(properties_by_key[key]),
                    local_vars_configuration=_settings(models),
                )
                for key in keys
            ],
            local_vars_configuration=_settings(models),
        )
        return batch_json(
            batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=body, _preload_content=False)
        )

    return Isolation(request, lambda record: record["properties"].get(id_property)).run(
        list(properties_by_key)
    )
