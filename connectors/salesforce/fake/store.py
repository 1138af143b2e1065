"""The fake org's records: thread-safe, validated like Salesforce, with on-demand save faults."""

from __future__ import annotations

import contextlib
import copy
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.salesforce.fake import addresses
from connectors.salesforce.fake.errors import FakeError, not_found
from connectors.salesforce.fake.schema import KEY_PREFIXES, OBJECTS, FieldSpec, field_map
from connectors.salesforce.fake.validation import check_fields

Record = dict[str, Any]

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
#: SOSL matches phone numbers of at least seven digits by suffix (sosl.py), so two numbers that
#: match share their last seven digits: the phone index's key.
PHONE_KEY_DIGITS = 7


def digits(value: Any) -> str:
    return re.sub(r"\D", "", value) if isinstance(value, str) else ""


def sf_datetime(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class Store:
    """Records by object and id. Every public method takes the one lock: saves are serialised."""

    def __init__(
        self,
        api_user_id: str = "005000000000000AAA",
        *,
        picklists: bool = False,
        custom: Mapping[str, Sequence[FieldSpec]] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, Record]] = {name: {} for name in OBJECTS}
        #: State and Country/Territory picklists on: address code fields, values checked (addresses.py).
        self.picklists = picklists
        self.custom = {name: tuple(specs) for name, specs in (custom or {}).items()}
        self.fields = {name: field_map(name, picklists, self.custom.get(name, ())) for name in OBJECTS}
        self._ids = 0
        self._ticks = 0
        self.api_user_id = api_user_id
        #: Objects whose duplicate rule blocks a save matching an existing record's phone.
        self.duplicate_rules: set[str] = set()
        #: The key a blocked save's DuplicateResult comes under: real orgs have been reported to
        #: answer with the misspelled `duplicateResut` (integrations read both spellings).
        self.duplicate_key = "duplicateResult"
        #: When on, new records stay out of search results until `reindex` (Salesforce's index lags).
        self.search_lag = False
        self.unindexed: set[str] = set()
        #: Error codes the next saves fail with (UNABLE_TO_LOCK_ROW, FIELD_CUSTOM_VALIDATION_EXCEPTION...).
        self.save_faults: list[tuple[str, str | None]] = []
        #: Records (object, id) changed since `take_changes`: what a journal appends, not the org.
        self.changed: set[tuple[str, str]] = set()
        #: Inside `atomic`: each touched record as it was before (None: it did not exist).
        self._undo: dict[tuple[str, str], Record | None] | None = None
        #: Object -> last seven digits of a phone field -> ids: SOSL's phone search looks there
        #: instead of reading every record. Never pruned (a candidate is checked against the record).
        self.phone_index: dict[str, dict[str, set[str]]] = {name: {} for name in OBJECTS}
        self._seed_api_user()

    def _seed_api_user(self) -> None:
        self._touch("User", self.api_user_id)
        self.records["User"][self.api_user_id] = self._stamp(
            "User",
            self.api_user_id,
            {"Username": "integration@callhub.example", "Email": "integration@callhub.example",
             "LastName": "Integration", "IsActive": True},
        )  # fmt: skip

    # --- reads ------------------------------------------------------------------------------

    def get(self, sobject: str, record_id: str) -> Record:
        with self.lock:
            record = self._table(sobject).get(record_id)
            if record is None:
                raise not_found(
                    f"Provided external ID field does not exist or is not accessible: {record_id}"
                )
            return dict(record)

    def all(self, sobject: str) -> list[Record]:
        with self.lock:
            return [dict(record) for record in self._table(sobject).values()]

    def find_by(self, sobject: str, field: str, value: Any) -> list[Record]:
        with self.lock:
            return [dict(r) for r in self._table(sobject).values() if r.get(field) == value]

    def object_of(self, record_id: str) -> str | None:
        prefix = record_id[:3]
        return next((name for name, key in KEY_PREFIXES.items() if key == prefix), None)

    def searchable(self, record_id: str) -> bool:
        return record_id not in self.unindexed

    # --- writes -----------------------------------------------------------------------------

    def create(self, sobject: str, values: Mapping[str, Any], *, trusted: bool = False) -> str:
        """Insert a record; `trusted` (the control API) may set read-only fields and skips rules."""
        with self.lock:
            fields = self._fields(sobject)
            data = {key: value for key, value in values.items() if key != "attributes"}
            if not trusted:
                self._next_fault()
                check_fields(sobject, fields, data, creating=True)
                if self.picklists:
                    addresses.sync(sobject, fields, {}, data)
            else:
                unknown = [key for key in data if key not in fields]
                if unknown:
                    raise FakeError(
                        "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {sobject}"
                    )
            self._check_references(fields, data)
            self._check_unique(sobject, fields, data, None)
            if not trusted:
                self._check_rules(sobject, data, None)
            record_id = data.pop("Id", None) or self._new_id(sobject)
            record = {spec.name: spec.default for spec in fields.values() if spec.default is not None}
            record.update(data)
            if "OwnerId" in fields and not record.get("OwnerId"):
                record["OwnerId"] = self.api_user_id
            if sobject == "CampaignMember":
                record["HasResponded"] = record.get("Status") == "Responded"
            self._touch(sobject, record_id)
            self.records[sobject][record_id] = self._stamp(sobject, record_id, record, keep_modified=trusted)
            self._index_phones(sobject, record)
            if self.search_lag:
                self.unindexed.add(record_id)
            return record_id

    def update(self, sobject: str, record_id: str, values: Mapping[str, Any]) -> None:
        with self.lock:
            fields = self._fields(sobject)
            record = self._table(sobject).get(record_id)
            if record is None:
                raise FakeError("ENTITY_IS_DELETED", "entity is deleted", [])
            data = {key: value for key, value in values.items() if key not in ("attributes", "Id", "id")}
            self._next_fault()
            check_fields(sobject, fields, data, creating=False)
            if self.picklists:
                addresses.sync(sobject, fields, record, data)
            if sobject == "Lead" and record.get("IsConverted"):
                raise FakeError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
            self._check_references(fields, data)
            self._check_unique(sobject, fields, data, record_id)
            self._touch(sobject, record_id)
            record.update(data)
            self._stamp(sobject, record_id, record)
            self._index_phones(sobject, record)

    def upsert(self, sobject: str, field: str, value: str, values: Mapping[str, Any]) -> tuple[str, bool]:
        """(id, created) for an upsert on an external id field."""
        with self.lock:
            spec = self._fields(sobject).get(field)
            if spec is None or not (spec.external_id or spec.type == "id"):
                raise not_found(f"Provided external ID field does not exist or is not accessible: {field}")
            matches = [rid for rid, r in self.records[sobject].items() if r.get(field) == value]
            if len(matches) > 1:
                raise FakeError(
                    "MULTIPLE_RECORDS", "more than one record found for external id field", status=300
                )
            data = {key: val for key, val in values.items() if key != field}
            if matches:
                self.update(sobject, matches[0], data)
                return matches[0], False
            return self.create(sobject, {**data, field: value}), True

    def delete(self, sobject: str, record_id: str) -> None:
        with self.lock:
            if record_id in self._table(sobject):
                self._touch(sobject, record_id)
            if self._table(sobject).pop(record_id, None) is None:
                raise FakeError("ENTITY_IS_DELETED", "entity is deleted", [])

    def convert_lead(self, lead_id: str, contact_id: str | None = None) -> str:
        """Convert a Lead as the UI would: a new (or given) Contact, the Lead marked converted."""
        with self.lock:
            lead = self._table("Lead").get(lead_id)
            if lead is None:
                raise not_found()
            if contact_id is None:
                account_id = self.create("Account", {"Name": lead.get("Company") or "Unknown"}, trusted=True)
                carried = {
                    key: lead.get(key) for key in ("FirstName", "LastName", "Phone", "MobilePhone", "Email")
                }
                contact_id = self.create(
                    "Contact",
                    {**{k: v for k, v in carried.items() if v}, "AccountId": account_id},
                    trusted=True,
                )
            self._touch("Lead", lead_id)
            lead.update(
                {"IsConverted": True, "ConvertedContactId": contact_id, "Status": "Closed - Converted",
                 "ConvertedDate": datetime.now(UTC).date().isoformat()}
            )  # fmt: skip
            self._stamp("Lead", lead_id, lead)
            return contact_id

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """All or none: a failure inside restores every record as it was (allOrNone requests).

        Only the records written inside are copied (their state before the first write), so the
        cost follows the request, not the size of the org."""
        with self.lock:
            outer, self._undo = self._undo, {}
            unindexed = set(self.unindexed)
            try:
                yield
            except BaseException:
                for (sobject, record_id), before in self._undo.items():
                    if before is None:
                        self.records[sobject].pop(record_id, None)
                    else:
                        self.records[sobject][record_id] = before
                self.unindexed = unindexed
                raise
            finally:
                inner, self._undo = self._undo, outer
            if outer is not None:
                # A nested block that held: its first-seen states belong to the enclosing one.
                for key, before in inner.items():
                    outer.setdefault(key, before)

    def take_changes(self) -> set[tuple[str, str]]:
        """The (object, id) of records created, changed or deleted since the last call."""
        with self.lock:
            changed, self.changed = self.changed, set()
            return changed

    def counters(self) -> dict[str, Any]:
        """The org's state beside its records that a restarted fake must continue from."""
        with self.lock:
            return {"ids": self._ids, "ticks": self._ticks, "duplicate_rules": sorted(self.duplicate_rules)}

    def set_picklists(self, enabled: bool) -> None:
        """Turn State and Country/Territory picklists on or off, as an admin would in Setup."""
        with self.lock:
            self.picklists = enabled
            self.fields = {name: field_map(name, enabled, self.custom.get(name, ())) for name in OBJECTS}

    def snapshot(self) -> dict[str, Any]:
        """Everything a restarted fake needs to be the same org (records and id counters)."""
        with self.lock:
            return {"records": copy.deepcopy(self.records), "ids": self._ids, "ticks": self._ticks,
                    "duplicate_rules": sorted(self.duplicate_rules)}  # fmt: skip

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Back to what `snapshot` (or a journal's replay, in the same shape) kept."""
        with self.lock:
            for sobject, table in dict(snapshot.get("records") or {}).items():
                if sobject in self.records:
                    self.records[sobject] = {str(k): dict(v) for k, v in table.items()}
                    self.phone_index[sobject] = {}
                    for record in self.records[sobject].values():
                        self._index_phones(sobject, record)
            self._ids = max(self._ids, int(snapshot.get("ids", 0)))
            self._ticks = max(self._ticks, int(snapshot.get("ticks", 0)))
            self.duplicate_rules = set(snapshot.get("duplicate_rules") or ())

    def reindex(self) -> None:
        with self.lock:
            self.unindexed.clear()

    # --- helpers ----------------------------------------------------------------------------

    def _table(self, sobject: str) -> dict[str, Record]:
        if sobject not in self.records:
            raise not_found(
                f"The requested resource does not exist: sObject type '{sobject}' is not supported."
            )
        return self.records[sobject]

    def _fields(self, sobject: str) -> dict[str, FieldSpec]:
        self._table(sobject)
        return self.fields[sobject]

    def phone_candidates(self, sobject: str, terms: Sequence[str]) -> list[Record] | None:
        """Records whose phone fields may match one of `terms` (a superset, in id order); None
        when a term is too short to look up, so the caller reads every record."""
        keys = [digits(term)[-PHONE_KEY_DIGITS:] for term in terms]
        if any(len(key) < PHONE_KEY_DIGITS for key in keys):
            return None
        index, table = self.phone_index[sobject], self.records[sobject]
        ids = set().union(*(index.get(key, set()) for key in keys))
        return [table[record_id] for record_id in sorted(ids) if record_id in table]

    def _index_phones(self, sobject: str, record: Record) -> None:
        for name, spec in self.fields[sobject].items():
            if spec.type == "phone":
                key = digits(record.get(name))[-PHONE_KEY_DIGITS:]
                if len(key) == PHONE_KEY_DIGITS:
                    self.phone_index[sobject].setdefault(key, set()).add(record["Id"])

    def _touch(self, sobject: str, record_id: str) -> None:
        """Called before a record is written: marks it changed, keeps its old state for a rollback."""
        key = (sobject, record_id)
        self.changed.add(key)
        if self._undo is not None and key not in self._undo:
            before = self.records[sobject].get(record_id)
            self._undo[key] = copy.deepcopy(before) if before is not None else None

    def _new_id(self, sobject: str) -> str:
        self._ids += 1
        return f"{KEY_PREFIXES[sobject]}{self._ids:012d}AAA"

    def _stamp(self, sobject: str, record_id: str, record: Record, *, keep_modified: bool = False) -> Record:
        # A logical clock keeps LastModifiedDate strictly increasing, so "most recent" is deterministic.
        self._ticks += 1
        moment = sf_datetime(_EPOCH + timedelta(seconds=self._ticks))
        record["Id"] = record_id
        record.setdefault("CreatedDate", moment)
        record.setdefault("CreatedById", self.api_user_id)
        record.setdefault("IsDeleted", False)
        if not keep_modified or "LastModifiedDate" not in record:
            record["LastModifiedDate"] = moment
        record["SystemModstamp"] = record["LastModifiedDate"]
        return record

    def _next_fault(self) -> None:
        if self.save_faults:
            code, message = self.save_faults.pop(0)
            raise FakeError(code, message or _FAULT_MESSAGES.get(code, code), [])

    def _check_references(self, fields: Mapping[str, FieldSpec], data: Mapping[str, Any]) -> None:
        for name, value in data.items():
            spec = fields[name]
            if spec.type != "reference" or not value:
                continue
            target = self.object_of(str(value))
            if target not in spec.reference_to or str(value) not in self.records.get(target or "", {}):
                raise FakeError("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [name])

    def _check_unique(
        self, sobject: str, fields: Mapping[str, FieldSpec], data: Mapping[str, Any], own_id: str | None
    ) -> None:
        for name, value in data.items():
            if fields[name].unique and value not in (None, ""):
                for rid, record in self.records[sobject].items():
                    if rid != own_id and record.get(name) == value:
                        raise FakeError(
                            "DUPLICATE_VALUE",
                            f"duplicate value found: {name} duplicates value on record with id: {rid}",
                            [],
                        )
        if sobject == "CampaignMember" and own_id is None:
            person = data.get("LeadId") or data.get("ContactId")
            if not person:
                raise FakeError("REQUIRED_FIELD_MISSING", "Required fields are missing: [LeadId]", ["LeadId"])
            for record in self.records[sobject].values():
                same_person = person in (record.get("LeadId"), record.get("ContactId"))
                if record.get("CampaignId") == data.get("CampaignId") and same_person:
                    raise FakeError("DUPLICATE_VALUE", "Already a campaign member.", [])

    def _check_rules(self, sobject: str, data: Mapping[str, Any], own_id: str | None) -> None:
        if sobject not in self.duplicate_rules:
            return
        wanted = {digits(data.get(key))[-10:] for key in ("Phone", "MobilePhone")} - {""}
        for rid, record in self.records[sobject].items():
            if rid == own_id or record.get("IsConverted"):
                continue
            stored = {digits(record.get(key))[-10:] for key in ("Phone", "MobilePhone")} - {""}
            if wanted & stored:
                raise _duplicates_detected(sobject, rid, self.duplicate_key)


_FAULT_MESSAGES = {
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record or 1 records",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "A validation rule blocked the save.",
    "INSUFFICIENT_ACCESS_OR_READONLY": "insufficient access rights on object id",
}


def _duplicates_detected(sobject: str, match_id: str, key: str) -> FakeError:
    message = "You're creating a duplicate record. We recommend you use an existing record instead."
    result = {
        "allowSave": False,
        "duplicateRule": f"Standard_{sobject}_Duplicate_Rule",
        "duplicateRuleEntityType": sobject,
        "errorMessage": message,
        "matchResults": [
            {
                "entityType": sobject,
                "errors": [],
                "matchEngine": "FuzzyMatchEngine",
                "matchRecords": [
                    {
                        "additionalInformation": [],
                        "fieldDiffs": [],
                        "matchConfidence": 100.0,
                        "record": {"attributes": {"type": sobject}, "Id": match_id},
                    }
                ],
                "rule": f"Standard_{sobject}_Match_Rule_v1_0",
                "size": 1,
                "success": True,
            }
        ],
    }
    return FakeError("DUPLICATES_DETECTED", message, [], extra={key: result})
