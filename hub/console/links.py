"""Links to the records a delivery wrote in a CRM, from the ids the connector stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Salesforce: a record opens at {instance URL}/{record id} (Lightning redirects classic ids).
# https://help.salesforce.com/s/articleView?id=sf.basics_understanding_url_hacking.htm
# HubSpot: https://app.hubspot.com/contacts/{portal id}/record/{object type id}/{object id}
# https://knowledge.hubspot.com/records/view-and-filter-records (object type ids: 0-1 contact,
# 0-48 call).
HUBSPOT_OBJECT_TYPES = {"contact": "0-1", "contacts": "0-1", "call": "0-48", "calls": "0-48"}


def record_links(destination_type: str, external_ids: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, URL) per record the delivery wrote, where the ids say enough to build one."""
    links: list[tuple[str, str]] = []
    if destination_type == "salesforce":
        instance = str(external_ids.get("instance_url") or "").rstrip("/")
        if instance.startswith("https://") or instance.startswith("http://127.0.0.1"):
            for key, value in external_ids.items():
                if key != "instance_url" and isinstance(value, str) and len(value) in (15, 18):
                    links.append((f"Salesforce {key}", f"{instance}/{value}"))
    elif destination_type == "hubspot":
        portal = external_ids.get("portal_id")
        if portal:
            for key, value in external_ids.items():
                type_id = HUBSPOT_OBJECT_TYPES.get(key.removesuffix("_id"))
                if type_id and value:
                    links.append(
                        (
                            f"HubSpot {key}",
                            f"https://app.hubspot.com/contacts/{portal}/record/{type_id}/{value}",
                        )
                    )
    return links
