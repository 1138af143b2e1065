"""Who is calling: the Contact or Lead behind each number, found in bulk before anything is created.

One SOSL search per 100 numbers (phone search ignores how a number was typed into Salesforce);
one exact SOQL query per object when a mapping matches on extra fields too (say a Text External
ID `Phone_E164__c`, which phone search does not cover); and the hub's memory of records it
created itself, because Salesforce's search index lags seconds behind a save. Contact wins over
Lead; a converted Lead stands for its Contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connectors.base import ConnectorContext, Held
from connectors.salesforce.api import SalesforceApi, format_soql
from connectors.salesforce.options import API_NAME
from connectors.salesforce.phones import NumberMatcher, phone_search
from hub.core.phones import caller_key

SEARCH_CHUNK: Final = 100
#: Numbers per exact SOQL query on the Lead key field (well inside SOQL's statement length).
KEY_CHUNK: Final = 200
BASE_PHONE_FIELDS: Final = ("Phone", "MobilePhone")


@dataclass(frozen=True)
class Person:
    sobject: str
    id: str
    last_modified: str = ""


def person_state_key(e164: str) -> str:
    return f"person:{caller_key(e164)}"


def last_call_state_key(e164: str) -> str:
    """Per caller: when the call whose values the caller's record holds happened."""
    return f"last_call:{caller_key(e164)}"


class PersonFinder:
    def __init__(self, api: SalesforceApi, context: ConnectorContext, region: str) -> None:
        self.api = api
        self.context = context
        self.region = region

    def find(
        self, numbers: Sequence[str], extra_fields: Mapping[str, Sequence[str]]
    ) -> dict[str, list[Person]]:
        """Every Contact/Lead matching each E.164 number; `extra_fields` adds phone fields per object."""
        fields = {
            sobject: tuple(dict.fromkeys([*BASE_PHONE_FIELDS, *extra_fields.get(sobject, ())]))
            for sobject in ("Lead", "Contact")
        }
        found: dict[str, list[Person]] = {number: [] for number in numbers}
        for start in range(0, len(numbers), SEARCH_CHUNK):
            chunk = numbers[start : start + SEARCH_CHUNK]
            sosl = phone_search(chunk, [
                f"Lead(Id, LastModifiedDate, IsConverted, ConvertedContactId, {', '.join(fields['Lead'])})",
                f"Contact(Id, LastModifiedDate, {', '.join(fields['Contact'])})",
            ])  # fmt: skip
            matcher = NumberMatcher(chunk, self.region)
            for record in self.api.search(sosl):
                self._attach(record, fields, matcher, found)
            for sobject, names in extra_fields.items():
                extra = [name for name in names if name not in BASE_PHONE_FIELDS]
                self._query_exact(sobject, extra, matcher, fields, found)
        self._add_remembered(found)
        return {number: _dedupe(people) for number, people in found.items()}

    def _query_exact(
        self,
        sobject: str,
        names: Sequence[str],
        matcher: NumberMatcher,
        fields: Mapping[str, Sequence[str]],
        found: dict[str, list[Person]],
    ) -> None:
        # Field names come from mapping files, never from calls; still, only API-name shapes go in.
        names = [name for name in names if API_NAME.match(name)]
        if not names or sobject not in fields:
            return
        columns = [
            "Id",
            "LastModifiedDate",
            *(["IsConverted", "ConvertedContactId"] if sobject == "Lead" else []),
        ]
        numbers = sorted(matcher.wanted)
        where = " OR ".join(format_soql("{:literal} IN {}", name, numbers) for name in names)
        soql = format_soql(
            "SELECT {:literal} FROM {:literal} WHERE {:literal}",
            ", ".join([*columns, *names]),
            sobject,
            where,
        )
        for record in self.api.query(soql):
            self._attach(record, fields, matcher, found)

    def _attach(
        self,
        record: Mapping[str, Any],
        fields: Mapping[str, Sequence[str]],
        matcher: NumberMatcher,
        found: dict[str, list[Person]],
    ) -> None:
        sobject = str((record.get("attributes") or {}).get("type", ""))
        if sobject not in fields:
            return
        # Search hits are candidates; keep only those whose stored number really is the caller's.
        stored = {matcher.match(record.get(name)) for name in fields[sobject]}
        for number in stored:
            if number is None:
                continue
            if sobject == "Lead" and record.get("IsConverted"):
                contact_id = record.get("ConvertedContactId")
                if contact_id:
                    found[number].append(Person("Contact", str(contact_id)))
                continue
            found[number].append(
                Person(sobject, str(record["Id"]), str(record.get("LastModifiedDate") or ""))
            )

    def _add_remembered(self, found: dict[str, list[Person]]) -> None:
        """Numbers search missed but the hub wrote a record for: verify those ids in one query each."""
        remembered: dict[str, Person] = {}
        missed = [number for number, people in found.items() if not people]
        states = self.context.get_states(person_state_key(number) for number in missed)
        for number in missed:
            state = states[person_state_key(number)]
            if state and state.get("sobject") in ("Lead", "Contact") and state.get("id"):
                remembered[number] = Person(str(state["sobject"]), str(state["id"]))
        if not remembered:
            return
        lead_ids = sorted({p.id for p in remembered.values() if p.sobject == "Lead"})
        contact_ids = sorted({p.id for p in remembered.values() if p.sobject == "Contact"})
        alive: dict[str, Person] = {}
        if lead_ids:
            soql = format_soql(
                "SELECT Id, LastModifiedDate, IsConverted, ConvertedContactId FROM Lead WHERE Id IN {}",
                lead_ids,
            )
            for row in self.api.query(soql):
                if row.get("IsConverted") and row.get("ConvertedContactId"):
                    alive[str(row["Id"])] = Person("Contact", str(row["ConvertedContactId"]))
                else:
                    alive[str(row["Id"])] = Person(
                        "Lead", str(row["Id"]), str(row.get("LastModifiedDate") or "")
                    )
        if contact_ids:
            soql = format_soql("SELECT Id, LastModifiedDate FROM Contact WHERE Id IN {}", contact_ids)
            for row in self.api.query(soql):
                alive[str(row["Id"])] = Person(
                    "Contact", str(row["Id"]), str(row.get("LastModifiedDate") or "")
                )
        for number, person in remembered.items():
            if person.id in alive:
                found[number].append(alive[person.id])

    def find_by_key(self, field: str, numbers: Sequence[str]) -> dict[str, Person]:
        """Leads the hub created, by the E.164 it keyed them with: exact SOQL, no search index lag."""
        if not numbers or not API_NAME.match(field):
            return {}
        found: dict[str, Person] = {}
        for start in range(0, len(numbers), KEY_CHUNK):
            chunk = sorted(numbers[start : start + KEY_CHUNK])
            soql = format_soql(
                "SELECT Id, LastModifiedDate, IsConverted, ConvertedContactId, {:literal} "
                "FROM Lead WHERE {:literal} IN {}",
                field,
                field,
                chunk,
            )
            for row in self.api.query(soql):
                number = str(row.get(field) or "")
                if number not in chunk:
                    continue
                if row.get("IsConverted") and row.get("ConvertedContactId"):
                    found[number] = Person("Contact", str(row["ConvertedContactId"]))
                elif not row.get("IsConverted"):
                    found[number] = Person("Lead", str(row["Id"]), str(row.get("LastModifiedDate") or ""))
        return found

    def remember(self, number: str, person: Person) -> None:
        self.context.put_state(person_state_key(number), {"sobject": person.sobject, "id": person.id})


def _dedupe(people: Iterable[Person]) -> list[Person]:
    best: dict[str, Person] = {}
    for person in people:
        if person.id not in best or person.last_modified > best[person.id].last_modified:
            best[person.id] = person
    return list(best.values())


def choose(people: Sequence[Person], policy: str) -> Person | Held | None:
    """The one record a caller's activity belongs to: Contacts first, then unconverted Leads."""
    contacts = [p for p in people if p.sobject == "Contact"]
    pool = contacts or [p for p in people if p.sobject == "Lead"]
    if not pool:
        return None
    if len(pool) == 1:
        return pool[0]
    if policy == "hold":
        ids = ", ".join(sorted(p.id for p in pool))
        return Held("several_matches", note=f"{len(pool)} {pool[0].sobject}s match the caller: {ids}")
    return max(pool, key=lambda p: (p.last_modified, p.id))
