"""Bodies for delivery history with personal data masked: what every connector's exchanges share."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from connectors.base import excerpt


def masked_body(raw: Any, mask_data: Callable[[Any], Any], scrub_text: Callable[[str], str]) -> str:
    """A request or response body for history: JSON through `mask_data`, other text scrubbed."""
    if raw in (None, b"", ""):
        return ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        data = json.loads(text)
    except ValueError:
        return excerpt(scrub_text(text))
    try:
        return excerpt(json.dumps(mask_data(data), separators=(",", ":")))
    except (TypeError, ValueError, RecursionError):
        # A shape the masker does not know: better no body in history than a number in clear.
        return "[body not recorded]"
