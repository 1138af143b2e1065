"""`hubspot_owner_id` given as the agent's email becomes the owner id (owners API, remembered)."""

from __future__ import annotations

import hashlib
import time
from typing import Any, Final

from connectors.base import ConnectorContext
from connectors.hubspot.api import HubSpotApi

#: How long an agent without a HubSpot owner is remembered as such before asking again.
NO_OWNER_TTL_S: Final = 600.0


def owner_state_key(email: str) -> str:
    # Keyed by a digest: state rows never show an agent's email.
    return f"owner:{hashlib.sha256(email.encode()).hexdigest()[:24]}"


class Owners:
    """Resolves owners for one step of a batch.

    Each agent's remembered owner is read once, however many of its calls the step writes: one
    agent answers many of a batch's calls. Not kept longer than the step, so an owner found or
    forgotten by another worker counts from the next batch.
    """

    def __init__(self, api: HubSpotApi, context: ConnectorContext) -> None:
        self.api = api
        self.context = context
        #: State key -> the agent's owner state as this step last read or wrote it.
        self._known: dict[str, dict[str, Any]] = {}

    def resolve(self, properties: dict[str, str]) -> dict[str, str]:
        value = properties.get("hubspot_owner_id", "")
        if not value or value.isdigit():
            return properties
        if "@" not in value:
            # An agent known only by name cannot be matched to an owner: leave the record unowned.
            return {name: v for name, v in properties.items() if name != "hubspot_owner_id"}
        state = self._state(value.strip().lower())
        resolved = dict(properties)
        if state.get("id"):
            resolved["hubspot_owner_id"] = str(state["id"])
        else:
            # An agent without a HubSpot seat: the record is still worth writing, unowned.
            del resolved["hubspot_owner_id"]
        return resolved

    def _state(self, email: str) -> dict[str, Any]:
        key = owner_state_key(email)
        state = self._known.get(key)
        if state is None:
            state = self.context.get_state(key)
        # "No owner" is remembered for a while only: the agent may get a HubSpot seat later.
        if state is None or (
            not state.get("id") and time.time() - float(state.get("at", 0)) > NO_OWNER_TTL_S
        ):
            state = {"id": self.api.owner_id(email) or "", "at": time.time()}
            self.context.put_state(key, state)
        self._known[key] = state
        return state
