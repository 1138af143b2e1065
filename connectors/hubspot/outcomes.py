"""Field-level provenance for contacts: an earlier call's outcome reaches the contact unless a newer
call set that same property (the shared rule is connectors/provenance.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC

from connectors.base import ConnectorContext
from connectors.hubspot.plan import CallPlan
from connectors.hubspot.properties import text_properties
from connectors.provenance import FieldProvenance, Origin, record_written

CONTACT = "hubspot-contact"


def origin(plan: CallPlan) -> Origin:
    call = plan.item.call
    return Origin((call.call.started_at or call.occurred_at).astimezone(UTC).isoformat(), plan.call_key)


def newest_sources(plans: Iterable[CallPlan]) -> dict[str, Origin]:
    """Per property: the call whose value the merged properties hold (the newest call giving one)."""
    sources: dict[str, Origin] = {}
    given = [(origin(plan), plan.contact) for plan in plans if plan.contact is not None]
    for call_origin, contact in sorted(given, key=lambda pair: (pair[0].at, pair[0].call)):
        for name in text_properties(contact.fields):
            sources[name] = call_origin
    return sources


class ContactOutcomes:
    """Decides what an update may write, and notes what was written, per contact id."""

    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        # Per thread: a connector may serve several worker threads, each with its own batch.
        self._local = threading.local()

    @property
    def pending(self) -> dict[str, tuple[FieldProvenance, dict[str, Origin]]]:
        if not hasattr(self._local, "pending"):
            self._local.pending = {}
        pending: dict[str, tuple[FieldProvenance, dict[str, Origin]]] = self._local.pending
        return pending

    @property
    def prefetched(self) -> dict[str, FieldProvenance]:
        if not hasattr(self._local, "prefetched"):
            self._local.prefetched = {}
        prefetched: dict[str, FieldProvenance] = self._local.prefetched
        return prefetched

    def begin(self) -> None:
        """A new batch: nothing carried over from one whose update failed."""
        self.pending.clear()
        self.prefetched.clear()

    def prefetch(self, contact_ids: Iterable[str]) -> None:
        """Read these contacts' provenance in one query, for the `admitted` or `created` about to
        follow; each is used once, so a contact met again reads what the batch wrote since."""
        self.prefetched.clear()
        self.prefetched.update(FieldProvenance.read_many(self.context, CONTACT, contact_ids))

    def _provenance(self, contact_id: str) -> FieldProvenance:
        provenance = self.prefetched.pop(contact_id, None)
        return provenance or FieldProvenance(self.context, CONTACT, contact_id)

    def admitted(
        self, contact_id: str, plans: Sequence[CallPlan], values: Mapping[str, str]
    ) -> dict[str, str]:
        """`values` minus the properties a newer call than the one giving them has set."""
        provenance, origins = self.pending.get(contact_id) or (self._provenance(contact_id), {})
        sources = newest_sources(plans)
        kept: dict[str, str] = {}
        for name, value in values.items():
            source = sources.get(name)
            if source is not None and not provenance.admits(name, source):
                continue
            kept[name] = value
            if source is not None:
                origins[name] = source
        self.pending[contact_id] = (provenance, origins)
        return kept

    def written(self, contact_id: str) -> None:
        """The update succeeded: remember which call each written property came from."""
        entry = self.pending.pop(contact_id, None)
        if entry is not None:
            record_written(*entry)

    def created(self, contact_id: str, plans: Sequence[CallPlan]) -> None:
        record_written(self._provenance(contact_id), newest_sources(plans))
