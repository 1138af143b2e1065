"""The fake HubSpot's CRM: objects, unique values, associations, the search index, owners.

Records and associations live on disk (connectors/fake_store.py). Thread-safe: the fake serves
requests on several threads, and tests read the store directly.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from connectors.fake_store import FakeRecords, Lookup
from connectors.hubspot.fake.catalogue import LIFECYCLE_STAGES, PropertyDef, catalogue
from connectors.hubspot.fake.errors import FakeApiError, RecordError, not_found
from connectors.hubspot.fake.search import MAX_TOTAL, matches, validate_request
from connectors.hubspot.fake.validation import check_properties

_ALIASES = {"contact": "contacts", "0-1": "contacts", "call": "calls", "0-48": "calls"}
#: HUBSPOT_DEFINED default association type ids (from -> to).
DEFAULT_ASSOCIATION_TYPES = {("calls", "contacts"): 194, ("contacts", "calls"): 193}
_DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "calls": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}


#: Properties always indexed besides unique ones: what the connector and HubSpot users search by.
_INDEXED = frozenset(
    {"email", "phone", "mobilephone", "hs_calculated_phone_number", "hs_searchable_calculated_phone_number",
     "hs_searchable_calculated_mobile_number"}
)  # fmt: skip


def object_type_name(raw: str) -> str:
    name = _ALIASES.get(raw, raw)
    if name not in _DEFAULT_PROPERTIES:
        raise FakeApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}")
    return name


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StoredObject:
    id: str
    object_type: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, object_type: str, kept: Mapping[str, Any]) -> StoredObject:
        """A record as `CrmStore.object_json` keeps it."""
        return cls(
            str(kept["id"]),
            object_type,
            {str(k): str(v) for k, v in kept["properties"].items()},
            _parse_iso(kept["createdAt"]),
            _parse_iso(kept["updatedAt"]),
        )

    def as_json(self, wanted: Iterable[str] | None = None) -> dict[str, Any]:
        properties = dict(self.properties)
        if wanted is not None:
            names = set(wanted) | set(_DEFAULT_PROPERTIES[self.object_type])
            properties = {name: value for name, value in properties.items() if name in names}
        return {
            "id": self.id,
            "properties": properties,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "archived": False,
        }


#: The kind of record an association is kept as, and the lookup key of the records it links from.
_ASSOCIATIONS = "associations"
_LINKED_FROM = "from"


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


#: HubSpot's object type ids (https://developers.hubspot.com/docs/guides/api/crm/understanding-the-crm).
OBJECT_TYPE_IDS = {"contacts": "0-1", "calls": "0-48"}


def _national_digits(raw: str, region: str) -> str:
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return "".join(ch for ch in raw if ch.isdigit())
    return str(phonenumbers.national_significant_number(parsed))


def _e164(raw: str, region: str) -> str:
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class CrmStore:
    def __init__(
        self,
        *,
        custom_properties: bool = True,
        search_lag_s: float = 0.0,
        max_in_values: int = 100,
        default_region: str = "US",
        owners: Sequence[Mapping[str, Any]] = (),
        unique_calls: bool = True,
        declared: Mapping[str, Sequence[PropertyDef]] | None = None,
        records: FakeRecords | None = None,
    ) -> None:
        #: Records (by object type) and associations: a temporary database unless given a file.
        self.db = records if records is not None else FakeRecords()
        self._lock = self.db.lock
        #: What this store was made with, so a reset makes the same portal again.
        self.settings: dict[str, Any] = {
            "custom_properties": custom_properties,
            "search_lag_s": search_lag_s,
            "max_in_values": max_in_values,
            "default_region": default_region,
            "owners": owners,
            "unique_calls": unique_calls,
            "declared": declared,
        }
        self._next_id = int(self.db.meta("next_id", 1001))
        self.catalogue: dict[str, dict[str, PropertyDef]] = catalogue(
            custom_properties, unique_calls=unique_calls, declared=declared
        )
        self.search_lag_s = search_lag_s
        self.max_in_values = max_in_values
        self.default_region = default_region
        self.owners = [dict(owner) for owner in owners]
        #: Object type -> the properties callers look records up by (unique ones, email, phone
        #: numbers): each record is kept with lookup keys (property, lower-cased value), so EQ/IN
        #: searches and unique-value checks read the records named there instead of every record.
        self.indexed: dict[str, frozenset[str]] = {
            object_type: _INDEXED | {name for name, d in self.catalogue[object_type].items() if d.unique}
            for object_type in _DEFAULT_PROPERTIES
        }

    # --- reads -------------------------------------------------------------------------------

    def find(self, object_type: str, key: str, id_property: str | None = None) -> StoredObject | None:
        with self._lock:
            if not id_property or id_property == "hs_object_id":
                kept = self.db.get(object_type, key)
                return None if kept is None else StoredObject.from_json(object_type, kept)
            wanted = key.lower() if id_property == "email" else key
            for stored in self._candidates(object_type, {id_property: [key]}):
                value = stored.properties.get(id_property, "")
                if (value.lower() if id_property == "email" else value) == wanted:
                    return stored
            return None

    def get(self, object_type: str, key: str, id_property: str | None = None) -> StoredObject:
        stored = self.find(object_type, key, id_property)
        if stored is None:
            raise not_found(object_type, key)
        return stored

    def search(self, object_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        validate_request(body, self.catalogue[object_type], self.max_in_values)
        groups = body.get("filterGroups") or []
        # HubSpot's index lags: a record joins search results `search_lag_s` after it is created.
        now = time.monotonic()
        with self._lock:
            hits = [
                stored
                for stored in self._searched(object_type, groups, now)
                if matches(stored.properties, groups)
            ]
        hits.sort(key=lambda stored: int(stored.id))
        offset = int(body.get("after") or 0)
        limit = int(body.get("limit", 10))
        # `total` counts every match; pages stop at the 10,000th (validate_request refuses more).
        reachable = min(len(hits), MAX_TOTAL)
        page = hits[offset : min(offset + limit, reachable)]
        wanted = body.get("properties") or None
        answer: dict[str, Any] = {"total": len(hits), "results": [s.as_json(wanted) for s in page]}
        if offset + limit < reachable:
            answer["paging"] = {"next": {"after": str(offset + limit)}}
        return answer

    def _searched(
        self, object_type: str, groups: Sequence[Mapping[str, Any]], now: float
    ) -> list[StoredObject]:
        """The records a search must check, among those visible `now`: those the lookup keys name
        when every filter group has an EQ or IN filter on an indexed property (a record matching
        the group must be among them), else all of them."""
        wanted: dict[str, list[Any]] = {}
        for group in groups:
            for item in group.get("filters") or []:
                if item.get("operator", "EQ") not in ("EQ", "IN"):
                    continue
                name = str(item.get("propertyName"))
                if name in self.indexed[object_type]:
                    values = (
                        item.get("values") or [] if item.get("operator") == "IN" else [item.get("value", "")]
                    )
                    wanted.setdefault(name, []).extend(values)
                    break
            else:
                return self._all(object_type, now)
        return self._candidates(object_type, wanted, now) if groups else self._all(object_type, now)

    def _candidates(
        self, object_type: str, wanted: Mapping[str, Sequence[Any]], visible_at: float | None = None
    ) -> list[StoredObject]:
        """Records whose property may equal one of the values wanted of it (case-insensitive);
        every record when a property is not indexed."""
        if any(name not in self.indexed[object_type] for name in wanted):
            return self._all(object_type, visible_at)
        keys = [(name, str(value).lower()) for name, values in wanted.items() for value in values]
        found = self.db.find(object_type, keys, visible_at)
        return [StoredObject.from_json(object_type, kept) for _, kept in found]

    def _all(self, object_type: str, visible_at: float | None = None) -> list[StoredObject]:
        return [
            StoredObject.from_json(object_type, kept) for _, kept in self.db.scan(object_type, visible_at)
        ]

    def owner_ids(self) -> frozenset[str]:
        return frozenset(str(owner["id"]) for owner in self.owners)

    # --- writes ------------------------------------------------------------------------------

    def _checked(self, object_type: str, properties: Mapping[str, Any], key: str) -> dict[str, str]:
        context = {"ids": [key]} if key else {}
        return check_properties(
            object_type, properties, self.catalogue[object_type], self.owner_ids(), context
        )

    def _check_unique(self, object_type: str, values: Mapping[str, str], own_id: str | None) -> None:
        for name, value in values.items():
            definition = self.catalogue[object_type].get(name)
            unique = definition is not None and definition.unique
            if not value or not (unique or (object_type == "contacts" and name == "email")):
                continue
            other = self.find(object_type, value, name)
            if other is not None and other.id != own_id:
                if name == "email":
                    raise RecordError("CONFLICT", f"Contact already exists. Existing ID: {other.id}")
                raise RecordError(
                    "CONFLICT",
                    f"A {object_type[:-1]} with this {name} already exists. Existing ID: {other.id}",
                )

    def _apply(self, stored: StoredObject, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            current = stored.properties.get(name, "")
            # HubSpot moves a lifecycle stage forward only; an earlier stage is ignored.
            if (
                name == "lifecyclestage"
                and value in LIFECYCLE_STAGES
                and current in LIFECYCLE_STAGES
                and LIFECYCLE_STAGES.index(value) < LIFECYCLE_STAGES.index(current)
            ):
                continue
            stored.properties[name] = value
        stored.updated_at = datetime.now(UTC)
        modified = "lastmodifieddate" if stored.object_type == "contacts" else "hs_lastmodifieddate"
        stored.properties[modified] = iso(stored.updated_at)
        if stored.object_type == "contacts":
            self._calculate_phones(stored.properties)

    def _save(self, stored: StoredObject, searchable_at: float | None = None) -> None:
        """Write the record with its lookup keys; `searchable_at` (monotonic) for a new one."""
        keys: list[Lookup] = [
            (name, value.lower())
            for name in self.indexed[stored.object_type]
            if (value := stored.properties.get(name))
        ]
        self.db.put(stored.object_type, stored.id, self.object_json(stored), keys, searchable_at)

    def _calculate_phones(self, properties: dict[str, str]) -> None:
        region = self.default_region
        phone, mobile = properties.get("phone", ""), properties.get("mobilephone", "")
        properties["hs_searchable_calculated_phone_number"] = _national_digits(phone, region) if phone else ""
        properties["hs_searchable_calculated_mobile_number"] = (
            _national_digits(mobile, region) if mobile else ""
        )
        properties["hs_calculated_phone_number"] = _e164(phone, region) if phone else ""

    def create(self, object_type: str, properties: Mapping[str, Any]) -> StoredObject:
        values = self._checked(object_type, properties, "")
        if object_type == "calls" and not values.get("hs_timestamp"):
            raise RecordError(
                "VALIDATION_ERROR",
                'Property values were not valid: [{"isValid":false,"message":"hs_timestamp is required",'
                '"error":"REQUIRED_FIELD","name":"hs_timestamp"}]',
            )
        with self._lock, self.db.transaction():
            self._check_unique(object_type, values, None)
            now = datetime.now(UTC)
            object_id = str(self._next_id)
            self._next_id += 1
            self.db.set_meta("next_id", self._next_id)
            created = "createdate" if object_type == "contacts" else "hs_createdate"
            stored = StoredObject(
                object_id, object_type, {"hs_object_id": object_id, created: iso(now)}, now, now
            )
            self._apply(stored, values)
            self._save(stored, searchable_at=time.monotonic() + self.search_lag_s)
            return stored

    def update(
        self, object_type: str, key: str, properties: Mapping[str, Any], id_property: str | None = None
    ) -> StoredObject:
        values = self._checked(object_type, properties, key)
        with self._lock:
            stored = self.get(object_type, key, id_property)
            self._check_unique(object_type, values, stored.id)
            self._apply(stored, values)
            self._save(stored)
            return stored

    def upsert(
        self, object_type: str, key: str, id_property: str, properties: Mapping[str, Any]
    ) -> tuple[StoredObject, bool]:
        definition = self.catalogue[object_type].get(id_property)
        if definition is None or not (definition.unique or id_property in ("email", "hs_object_id")):
            # HubSpot's words, as users report them (https://github.com/HubSpot/hubspot-api-nodejs/issues/548).
            raise RecordError(
                "VALIDATION_ERROR",
                f"Unable to perform update/upsert by non-unique {OBJECT_TYPE_IDS[object_type]} property",
            )
        with self._lock:
            existing = self.find(object_type, key, id_property)
            if existing is not None:
                return self.update(object_type, existing.id, properties), False
            return self.create(object_type, {**properties, id_property: key}), True

    def archive(self, object_type: str, key: str) -> None:
        self.db.delete(object_type, key)

    # --- associations ------------------------------------------------------------------------

    def associate_default(
        self, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> list[dict[str, Any]]:
        type_id = DEFAULT_ASSOCIATION_TYPES.get((from_type, to_type))
        if type_id is None:
            raise RecordError("VALIDATION_ERROR", f"No default association from {from_type} to {to_type}.")
        back_id = DEFAULT_ASSOCIATION_TYPES[(to_type, from_type)]
        with self._lock, self.db.transaction():
            self.get(from_type, from_id)
            self.get(to_type, to_id)
            self._put_association((from_type, from_id, to_type, to_id), type_id)
            self._put_association((to_type, to_id, from_type, from_id), back_id)
        return [
            {
                "from": {"id": a},
                "to": {"id": b},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t},
            }
            for a, b, t in ((from_id, to_id, type_id), (to_id, from_id, back_id))
        ]

    def _put_association(self, key: tuple[str, str, str, str], type_id: int) -> None:
        """(from type, from id, to type, to id) -> association type id, found by where it links from."""
        self.db.put(
            _ASSOCIATIONS,
            "/".join(key),
            {"key": list(key), "type": type_id},
            [(_LINKED_FROM, "/".join(key[:3]))],
        )

    def associated(self, object_type: str, object_id: str, to_type: str) -> list[str]:
        found = self.db.find(_ASSOCIATIONS, [(_LINKED_FROM, f"{object_type}/{object_id}/{to_type}")])
        return sorted(str(kept["key"][3]) for _, kept in found)

    # --- all or nothing, and across restarts -------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Writes inside take effect together or not at all (a batch HubSpot refuses as a whole):
        a transaction of the database, so what it undoes is what the batch wrote."""
        with self._lock:
            next_id = self._next_id
            try:
                with self.db.transaction():
                    yield
            except BaseException:
                self._next_id = next_id
                raise

    @property
    def next_id(self) -> int:
        return self._next_id

    @property
    def lock(self) -> threading.RLock:
        """Held while reading several records that must agree."""
        return self._lock

    @staticmethod
    def object_json(stored: StoredObject) -> dict[str, Any]:
        """One record as the database keeps it."""
        return {
            "id": stored.id,
            "properties": dict(stored.properties),
            "createdAt": iso(stored.created_at),
            "updatedAt": iso(stored.updated_at),
        }

    def load_json(self, data: Mapping[str, Any]) -> None:
        """Records, associations and the id counter as an earlier version kept them in JSON; every
        record is searchable at once (the index caught up meanwhile)."""
        with self._lock, self.db.transaction():
            self._next_id = int(data.get("next_id", 1001))
            self.db.set_meta("next_id", self._next_id)
            for object_type, records in (data.get("objects") or {}).items():
                if object_type in _DEFAULT_PROPERTIES:
                    for record in records:
                        self._save(StoredObject.from_json(object_type, record))
            for from_type, from_id, to_type, to_id, type_id in data.get("associations") or []:
                self._put_association((str(from_type), str(from_id), str(to_type), str(to_id)), int(type_id))

    # --- for tests and the bench -------------------------------------------------------------

    def records(self, object_type: str) -> list[dict[str, Any]]:
        other = "calls" if object_type == "contacts" else "contacts"
        with self._lock:
            return [
                {**stored.as_json(), "associations": {other: self.associated(object_type, stored.id, other)}}
                for stored in self._all(object_type)
            ]
