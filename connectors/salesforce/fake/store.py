"""The fake org's records: on disk (connectors/fake_store.py), validated like Salesforce, with
on-demand save faults. Thread-safe: every public method takes the one lock, so saves are serialised."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.fake_store import BY_ID, HIDDEN, FakeRecords, Lookup
from connectors.salesforce.fake import addresses
from connectors.salesforce.fake.errors import FakeError, not_found
from connectors.salesforce.fake.schema import KEY_PREFIXES, OBJECTS, FieldSpec, field_map
from connectors.salesforce.fake.soql import Hint
from connectors.salesforce.fake.validation import check_fields

Record = dict[str, Any]

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
#: SOSL matches phone numbers of at least seven digits by suffix (sosl.py), so two numbers that
#: match share their last seven digits: the phone lookup key.
PHONE_KEY_DIGITS = 7
_PHONE_KEY = "phone7"
#: A CampaignMember's campaign and person: one member per pair (DUPLICATE_VALUE).
_MEMBER_KEY = "member"


def digits(value: Any) -> str:
    return re.sub(r"\D", "", value) if isinstance(value, str) else ""


def sf_datetime(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _phone_key(value: Any) -> str | None:
    key = digits(value)[-PHONE_KEY_DIGITS:]
    return key if len(key) == PHONE_KEY_DIGITS else None


def _value_key(field: str) -> str:
    """The lookup name of a unique or External ID field's exact value."""
    return f"={field}"


class Store:
    """Records by object and id, kept in `db` (a temporary database unless given a file)."""

    def __init__(
        self,
        api_user_id: str = "005000000000000AAA",
        *,
        picklists: bool = False,
        custom: Mapping[str, Sequence[FieldSpec]] | None = None,
        records: FakeRecords | None = None,
    ) -> None:
        self.db = records if records is not None else FakeRecords()
        self.lock = self.db.lock
        #: State and Country/Territory picklists on: address code fields, values checked (addresses.py).
        self.picklists = picklists
        self.custom = {name: tuple(specs) for name, specs in (custom or {}).items()}
        self.fields = {name: field_map(name, picklists, self.custom.get(name, ())) for name in OBJECTS}
        counters = self.db.meta("counters", {})
        self._ids = int(counters.get("ids", 0))
        self._ticks = int(counters.get("ticks", 0))
        self.api_user_id = api_user_id
        #: Objects whose duplicate rule blocks a save matching an existing record's phone.
        self.duplicate_rules: set[str] = set(counters.get("duplicate_rules") or ())
        #: The key a blocked save's DuplicateResult comes under: real orgs have been reported to
        #: answer with the misspelled `duplicateResut` (integrations read both spellings).
        self.duplicate_key = "duplicateResult"
        #: When on, new records stay out of search results until `reindex` (Salesforce's index lags).
        self.search_lag = False
        #: Error codes the next saves fail with (UNABLE_TO_LOCK_ROW, FIELD_CUSTOM_VALIDATION_EXCEPTION...).
        self.save_faults: list[tuple[str, str | None]] = []
        if not self.db.exists("User", api_user_id):
            self._seed_api_user()

    def _seed_api_user(self) -> None:
        record = self._stamp(
            "User",
            self.api_user_id,
            {"Username": "integration@callhub.example", "Email": "integration@callhub.example",
             "LastName": "Integration", "IsActive": True},
        )  # fmt: skip
        self._save("User", record)

    # --- reads ------------------------------------------------------------------------------

    def get(self, sobject: str, record_id: str) -> Record:
        self._fields(sobject)
        record: Record | None = self.db.get(sobject, record_id)
        if record is None:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {record_id}")
        return record

    def all(self, sobject: str) -> list[Record]:
        self._fields(sobject)
        return [record for _, record in self.db.scan(sobject)]

    def find_by(self, sobject: str, field: str, value: Any) -> list[Record]:
        return [r for r in self.select(sobject, [[(field, [value])]]) if r.get(field) == value]

    def select(self, sobject: str, hint: Hint) -> list[Record]:
        """The records a condition implying `hint` may match (a superset, in order): those its
        lookup keys name when every alternative has a constraint one can answer, else all."""
        fields = self._fields(sobject)
        if hint is None:
            return self.all(sobject)
        keys: list[Lookup] = []
        for constraints in hint:
            usable = next(
                (found for field, values in constraints if (found := _lookups_for(fields, field, values))),
                None,
            )
            if usable is None:
                return self.all(sobject)
            keys.extend(usable)
        return [record for _, record in self.db.find(sobject, keys)]

    def searched(self, sobject: str, terms: Sequence[str], phone_only: bool) -> list[Record]:
        """The records a SOSL search for `terms` may find (a superset, in order), leaving out those
        the search index has not caught up with: a phone search reads those the phone key names."""
        self._fields(sobject)
        keys = [_phone_key(term) for term in terms]
        if phone_only and all(keys):
            found = self.db.find(sobject, [(_PHONE_KEY, key) for key in keys if key], visible_at=0.0)
        else:
            found = self.db.scan(sobject, visible_at=0.0)
        return [record for _, record in found]

    def exists(self, sobject: str, record_id: str) -> bool:
        return sobject in OBJECTS and self.db.exists(sobject, record_id)

    def object_of(self, record_id: str) -> str | None:
        prefix = record_id[:3]
        return next((name for name, key in KEY_PREFIXES.items() if key == prefix), None)

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
            self._stamp(sobject, record_id, record, keep_modified=trusted)
            self._save(sobject, record, hidden_until=HIDDEN if self.search_lag else 0.0)
            return str(record_id)

    def update(self, sobject: str, record_id: str, values: Mapping[str, Any]) -> None:
        with self.lock:
            fields = self._fields(sobject)
            record: Record | None = self.db.get(sobject, record_id)
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
            record.update(data)
            self._save(sobject, self._stamp(sobject, record_id, record))

    def upsert(self, sobject: str, field: str, value: str, values: Mapping[str, Any]) -> tuple[str, bool]:
        """(id, created) for an upsert on an external id field."""
        with self.lock:
            spec = self._fields(sobject).get(field)
            if spec is None or not (spec.external_id or spec.type == "id"):
                raise not_found(f"Provided external ID field does not exist or is not accessible: {field}")
            matches = [str(record["Id"]) for record in self.find_by(sobject, field, value)]
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
            self._fields(sobject)
            if not self.db.delete(sobject, record_id):
                raise FakeError("ENTITY_IS_DELETED", "entity is deleted", [])

    def convert_lead(self, lead_id: str, contact_id: str | None = None) -> str:
        """Convert a Lead as the UI would: a new (or given) Contact, the Lead marked converted."""
        with self.lock, self.db.transaction():
            lead: Record | None = self.db.get("Lead", lead_id)
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
            lead.update(
                {"IsConverted": True, "ConvertedContactId": contact_id, "Status": "Closed - Converted",
                 "ConvertedDate": datetime.now(UTC).date().isoformat()}
            )  # fmt: skip
            self._save("Lead", self._stamp("Lead", lead_id, lead))
            return contact_id

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """All or none: a failure inside restores every record as it was (allOrNone requests).

        A transaction of the database: what it undoes is what the request wrote, whatever the
        size of the org."""
        with self.lock, self.db.transaction():
            yield

    def counters(self) -> dict[str, Any]:
        """The org's state beside its records that a restarted fake must continue from."""
        with self.lock:
            return {"ids": self._ids, "ticks": self._ticks, "duplicate_rules": sorted(self.duplicate_rules)}

    def set_duplicate_rule(self, sobject: str, active: bool) -> None:
        """Turn the blocking duplicate rule matching `sobject` by phone on or off (kept on file)."""
        with self.lock:
            (self.duplicate_rules.add if active else self.duplicate_rules.discard)(sobject)
            self.db.set_meta("counters", self.counters())

    def set_picklists(self, enabled: bool) -> None:
        """Turn State and Country/Territory picklists on or off, as an admin would in Setup."""
        with self.lock:
            self.picklists = enabled
            self.fields = {name: field_map(name, enabled, self.custom.get(name, ())) for name in OBJECTS}

    def snapshot(self) -> dict[str, Any]:
        """Everything a restarted fake needs to be the same org (records and id counters)."""
        with self.lock:
            tables = {name: {str(r["Id"]): r for r in self.all(name)} for name in OBJECTS}
            return {"records": tables, **self.counters()}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Back to what `snapshot` (or an earlier version's file, in the same shape) kept."""
        with self.lock, self.db.transaction():
            for sobject, table in dict(snapshot.get("records") or {}).items():
                if sobject in OBJECTS:
                    for record_id, record in table.items():
                        self._save(sobject, {**record, "Id": str(record_id)})
            self._ids = max(self._ids, int(snapshot.get("ids", 0)))
            self._ticks = max(self._ticks, int(snapshot.get("ticks", 0)))
            self.duplicate_rules = set(snapshot.get("duplicate_rules") or ())
            self.db.set_meta("counters", self.counters())

    def reindex(self) -> None:
        self.db.show()

    # --- helpers ----------------------------------------------------------------------------

    def _fields(self, sobject: str) -> dict[str, FieldSpec]:
        if sobject not in OBJECTS:
            raise not_found(
                f"The requested resource does not exist: sObject type '{sobject}' is not supported."
            )
        return self.fields[sobject]

    def _save(self, sobject: str, record: Record, hidden_until: float | None = None) -> None:
        """Write the record with the keys it is looked up by, and the counters with it."""
        with self.db.transaction():
            self.db.put(sobject, str(record["Id"]), record, self._lookups(sobject, record), hidden_until)
            self.db.set_meta("counters", self.counters())

    def _lookups(self, sobject: str, record: Record) -> list[Lookup]:
        keys: list[Lookup] = []
        for name, spec in self.fields[sobject].items():
            value = record.get(name)
            if spec.type == "phone":
                key = _phone_key(value)
                if key:
                    keys.append((_PHONE_KEY, key))
            elif (spec.unique or spec.external_id) and isinstance(value, str) and value:
                keys.append((_value_key(name), value))
        if sobject == "CampaignMember":
            for person in (record.get("LeadId"), record.get("ContactId")):
                if person:
                    keys.append((_MEMBER_KEY, f"{record.get('CampaignId')}/{person}"))
        return keys

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
            if target not in spec.reference_to or not self.exists(target or "", str(value)):
                raise FakeError("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [name])

    def _check_unique(
        self, sobject: str, fields: Mapping[str, FieldSpec], data: Mapping[str, Any], own_id: str | None
    ) -> None:
        for name, value in data.items():
            if fields[name].unique and value not in (None, ""):
                for record in self.find_by(sobject, name, value):
                    if record["Id"] != own_id:
                        raise FakeError(
                            "DUPLICATE_VALUE",
                            f"duplicate value found: {name} duplicates value on record with id: {record['Id']}",
                            [],
                        )
        if sobject == "CampaignMember" and own_id is None:
            person = data.get("LeadId") or data.get("ContactId")
            if not person:
                raise FakeError("REQUIRED_FIELD_MISSING", "Required fields are missing: [LeadId]", ["LeadId"])
            if self.db.find(sobject, [(_MEMBER_KEY, f"{data.get('CampaignId')}/{person}")]):
                raise FakeError("DUPLICATE_VALUE", "Already a campaign member.", [])

    def _check_rules(self, sobject: str, data: Mapping[str, Any], own_id: str | None) -> None:
        if sobject not in self.duplicate_rules:
            return
        wanted = {digits(data.get(key))[-10:] for key in ("Phone", "MobilePhone")} - {""}
        if not wanted:
            return
        # Numbers equal in their last ten digits share the last seven: the phone key names them.
        keys = [_phone_key(number) for number in wanted]
        candidates = (
            [r for _, r in self.db.find(sobject, [(_PHONE_KEY, key) for key in keys if key])]
            if all(keys)
            else self.all(sobject)
        )
        for record in candidates:
            if record["Id"] == own_id or record.get("IsConverted"):
                continue
            stored = {digits(record.get(key))[-10:] for key in ("Phone", "MobilePhone")} - {""}
            if wanted & stored:
                raise _duplicates_detected(sobject, str(record["Id"]), self.duplicate_key)


def _lookups_for(fields: Mapping[str, FieldSpec], field: str, values: Sequence[Any]) -> list[Lookup]:
    """The lookup keys that name every record whose `field` equals one of `values` ([] if none do)."""
    spec = fields.get(field) or next((s for name, s in fields.items() if name.lower() == field.lower()), None)
    if spec is None or not values or not all(isinstance(value, str) for value in values):
        return []
    if spec.type == "id":
        return [(BY_ID, value) for value in values]
    if spec.unique or spec.external_id:
        return [(_value_key(spec.name), value) for value in values]
    if spec.type == "phone":
        keys = [_phone_key(value) for value in values]
        return [(_PHONE_KEY, key) for key in keys if key] if all(keys) else []
    return []


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
