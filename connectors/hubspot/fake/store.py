"""The fake HubSpot's in-memory CRM: objects, unique values, associations, the search index, owners.

Thread-safe: the fake serves requests on several threads, and tests read the store directly.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers

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
    #: Monotonic time at which it joins the search index (HubSpot's index lags a few seconds).
    searchable_at: float = 0.0

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


AssociationKey = tuple[str, str, str, str]


@dataclass
class _Undo:
    objects: dict[tuple[str, str], StoredObject | None]
    associations: dict[AssociationKey, int | None]
    next_id: int


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
    ) -> None:
        self._lock = threading.RLock()
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
        self._next_id = 1001
        #: Goes up with every change to records or associations, so a save can skip an unchanged store.
        self.revision = 0
        self.catalogue: dict[str, dict[str, PropertyDef]] = catalogue(
            custom_properties, unique_calls=unique_calls, declared=declared
        )
        self.search_lag_s = search_lag_s
        self.max_in_values = max_in_values
        self.default_region = default_region
        self.owners = [dict(owner) for owner in owners]
        self.objects: dict[str, dict[str, StoredObject]] = {name: {} for name in _DEFAULT_PROPERTIES}
        #: (from type, from id, to type, to id) -> association type id
        self.associations: dict[tuple[str, str, str, str], int] = {}
        #: Records and associations changed since `take_changes` (what a journal appends).
        self.changed_objects: set[tuple[str, str]] = set()
        self.changed_associations: set[AssociationKey] = set()
        #: Inside `transaction`: what each touched record or association was before (None: absent).
        self._undo: _Undo | None = None
        #: Object type -> property -> lower-cased value -> ids, for the properties callers look
        #: records up by (unique ones, email, phone numbers): EQ/IN searches and unique-value checks
        #: read the ids named there instead of every record. Never pruned: candidates are checked.
        self.indexed: dict[str, frozenset[str]] = {
            object_type: _INDEXED | {name for name, d in self.catalogue[object_type].items() if d.unique}
            for object_type in _DEFAULT_PROPERTIES
        }
        self.index: dict[str, dict[str, dict[str, set[str]]]] = {name: {} for name in _DEFAULT_PROPERTIES}

    # --- reads -------------------------------------------------------------------------------

    def find(self, object_type: str, key: str, id_property: str | None = None) -> StoredObject | None:
        with self._lock:
            bucket = self.objects[object_type]
            if not id_property or id_property == "hs_object_id":
                return bucket.get(key)
            wanted = key.lower() if id_property == "email" else key
            candidates = self._candidates(object_type, id_property, [key])
            for stored in bucket.values() if candidates is None else candidates:
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
        now = time.monotonic()
        with self._lock:
            hits = [
                stored
                for stored in self._searched(object_type, groups)
                if stored.searchable_at <= now and matches(stored.properties, groups)
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

    def _searched(self, object_type: str, groups: Sequence[Mapping[str, Any]]) -> Iterable[StoredObject]:
        """The records a search must check: those the index names when every filter group has an
        EQ or IN filter on an indexed property (a record matching the group must be among them),
        else all of them."""
        found: dict[str, StoredObject] = {}
        for group in groups:
            for item in group.get("filters") or []:
                if item.get("operator", "EQ") not in ("EQ", "IN"):
                    continue
                values = item.get("values") or [] if item.get("operator") == "IN" else [item.get("value", "")]
                candidates = self._candidates(object_type, str(item.get("propertyName")), values)
                if candidates is not None:
                    found.update((stored.id, stored) for stored in candidates)
                    break
            else:
                return self.objects[object_type].values()
        return found.values() if groups else self.objects[object_type].values()

    def _candidates(
        self, object_type: str, name: str | None, values: Sequence[Any]
    ) -> list[StoredObject] | None:
        """Records whose `name` may equal one of `values` (case-insensitive); None: not indexed."""
        if name not in self.indexed[object_type]:
            return None
        by_value, bucket = self.index[object_type].get(name, {}), self.objects[object_type]
        ids = set().union(*(by_value.get(str(value).lower(), set()) for value in values))
        return [bucket[object_id] for object_id in ids if object_id in bucket]

    def _index_record(self, stored: StoredObject) -> None:
        index = self.index[stored.object_type]
        for name in self.indexed[stored.object_type]:
            value = stored.properties.get(name)
            if value:
                index.setdefault(name, {}).setdefault(value.lower(), set()).add(stored.id)

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
        self.revision += 1
        stored.updated_at = datetime.now(UTC)
        modified = "lastmodifieddate" if stored.object_type == "contacts" else "hs_lastmodifieddate"
        stored.properties[modified] = iso(stored.updated_at)
        if stored.object_type == "contacts":
            self._calculate_phones(stored.properties)
        self._index_record(stored)

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
        with self._lock:
            self._check_unique(object_type, values, None)
            now = datetime.now(UTC)
            object_id = str(self._next_id)
            self._next_id += 1
            created = "createdate" if object_type == "contacts" else "hs_createdate"
            stored = StoredObject(
                object_id,
                object_type,
                {"hs_object_id": object_id, created: iso(now)},
                now,
                now,
                searchable_at=time.monotonic() + self.search_lag_s,
            )
            self._touch(object_type, object_id)
            self._apply(stored, values)
            self.objects[object_type][object_id] = stored
            return stored

    def update(
        self, object_type: str, key: str, properties: Mapping[str, Any], id_property: str | None = None
    ) -> StoredObject:
        values = self._checked(object_type, properties, key)
        with self._lock:
            stored = self.get(object_type, key, id_property)
            self._check_unique(object_type, values, stored.id)
            self._touch(object_type, stored.id)
            self._apply(stored, values)
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
        with self._lock:
            if key in self.objects[object_type]:
                self._touch(object_type, key)
            if self.objects[object_type].pop(key, None) is not None:
                self.revision += 1

    # --- associations ------------------------------------------------------------------------

    def associate_default(
        self, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> list[dict[str, Any]]:
        type_id = DEFAULT_ASSOCIATION_TYPES.get((from_type, to_type))
        if type_id is None:
            raise RecordError("VALIDATION_ERROR", f"No default association from {from_type} to {to_type}.")
        with self._lock:
            self.get(from_type, from_id)
            self.get(to_type, to_id)
            self.revision += 1
            for key in ((from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id)):
                self._touch_association(key)
            self.associations[(from_type, from_id, to_type, to_id)] = type_id
            self.associations[(to_type, to_id, from_type, from_id)] = DEFAULT_ASSOCIATION_TYPES[
                (to_type, from_type)
            ]
        return [
            {
                "from": {"id": a},
                "to": {"id": b},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t},
            }
            for a, b, t in (
                (from_id, to_id, type_id),
                (to_id, from_id, DEFAULT_ASSOCIATION_TYPES[(to_type, from_type)]),
            )
        ]

    def associated(self, object_type: str, object_id: str, to_type: str) -> list[str]:
        with self._lock:
            return sorted(
                b_id
                for (a_type, a_id, b_type, b_id) in self.associations
                if (a_type, a_id, b_type) == (object_type, object_id, to_type)
            )

    # --- all or nothing, and across restarts -------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Writes inside take effect together or not at all (a batch HubSpot refuses as a whole).

        Only what is written inside is copied (its state before the first write), so the cost
        follows the batch, not the size of the portal."""
        with self._lock:
            outer, self._undo = self._undo, _Undo({}, {}, self._next_id)
            undo = self._undo
            try:
                yield
            except BaseException:
                for (object_type, object_id), before in undo.objects.items():
                    if before is None:
                        self.objects[object_type].pop(object_id, None)
                    else:
                        self.objects[object_type][object_id] = before
                for key, type_id in undo.associations.items():
                    if type_id is None:
                        self.associations.pop(key, None)
                    else:
                        self.associations[key] = type_id
                self._next_id = undo.next_id
                self.revision += 1
                raise
            finally:
                self._undo = outer
            if outer is not None:
                # A nested block that held: its first-seen states belong to the enclosing one.
                for object_key, stored in undo.objects.items():
                    outer.objects.setdefault(object_key, stored)
                for key, type_id in undo.associations.items():
                    outer.associations.setdefault(key, type_id)

    def _touch(self, object_type: str, object_id: str) -> None:
        """Called before a record is written: marks it changed, keeps its old state for a rollback."""
        key = (object_type, object_id)
        self.changed_objects.add(key)
        if self._undo is not None and key not in self._undo.objects:
            before = self.objects[object_type].get(object_id)
            self._undo.objects[key] = copy.deepcopy(before) if before is not None else None

    def _touch_association(self, key: AssociationKey) -> None:
        self.changed_associations.add(key)
        if self._undo is not None and key not in self._undo.associations:
            self._undo.associations[key] = self.associations.get(key)

    def take_changes(self) -> tuple[set[tuple[str, str]], set[AssociationKey]]:
        """Records and associations written since the last call (created, changed or removed)."""
        with self._lock:
            changed = (self.changed_objects, self.changed_associations)
            self.changed_objects, self.changed_associations = set(), set()
            return changed

    @property
    def next_id(self) -> int:
        return self._next_id

    @property
    def lock(self) -> threading.RLock:
        """Held while reading several records that must agree (a journal copying changes)."""
        return self._lock

    @staticmethod
    def object_json(stored: StoredObject) -> dict[str, Any]:
        """One record as `to_json` and a journal keep it."""
        return {
            "id": stored.id,
            "properties": dict(stored.properties),
            "createdAt": iso(stored.created_at),
            "updatedAt": iso(stored.updated_at),
        }

    def to_json(self) -> dict[str, Any]:
        """Records, associations and the id counter, for `hub run` to keep across restarts."""
        with self._lock:
            return {
                "next_id": self._next_id,
                "objects": {
                    object_type: [self.object_json(stored) for stored in bucket.values()]
                    for object_type, bucket in self.objects.items()
                },
                "associations": [[*key, type_id] for key, type_id in self.associations.items()],
            }

    def load_json(self, data: Mapping[str, Any]) -> None:
        """What `to_json` kept; every record is searchable at once (the index caught up meanwhile)."""
        with self._lock:
            self._next_id = int(data.get("next_id", 1001))
            for object_type, records in (data.get("objects") or {}).items():
                bucket = self.objects.setdefault(object_type, {})
                for record in records:
                    stored = bucket[str(record["id"])] = StoredObject(
                        str(record["id"]),
                        object_type,
                        {str(k): str(v) for k, v in record["properties"].items()},
                        _parse_iso(record["createdAt"]),
                        _parse_iso(record["updatedAt"]),
                    )
                    self._index_record(stored)
            for from_type, from_id, to_type, to_id, type_id in data.get("associations") or []:
                self.associations[(from_type, from_id, to_type, to_id)] = int(type_id)

    # --- for tests and the bench -------------------------------------------------------------

    def records(self, object_type: str) -> list[dict[str, Any]]:
        other = "calls" if object_type == "contacts" else "contacts"
        with self._lock:
            return [
                {**stored.as_json(), "associations": {other: self.associated(object_type, stored.id, other)}}
                for stored in self.objects[object_type].values()
            ]
