"""Build an `InboundRequest` from a payload file, as tests, `hub normalize` and `hub send-samples` do.

File conventions (the fixture folders follow them):
- `*.json`: a JSON body POSTed with `Content-Type: application/json`.
- `*.form`: an urlencoded string; sent as the query string of a GET when the file name contains
  `get_query`, else as a form-encoded POST body.
The bytes are used exactly as stored: signatures are computed over them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from webhooks.base import FORM_CONTENT_TYPE, Headers, InboundRequest


def is_query_file(path: Path) -> bool:
    return path.suffix == ".form" and "get_query" in path.stem


def request_from_bytes(
    name: str, payload: bytes, url: str, received_at: datetime | None = None
) -> InboundRequest:
    when = received_at or datetime.now(UTC)
    path = Path(name)
    if path.suffix == ".form":
        body = payload.strip()
        if is_query_file(path):
            separator = "&" if "?" in url else "?"
            return InboundRequest("GET", f"{url}{separator}{body.decode()}", Headers(), b"", when)
        return InboundRequest("POST", url, Headers({"Content-Type": FORM_CONTENT_TYPE}), body, when)
    return InboundRequest("POST", url, Headers({"Content-Type": "application/json"}), payload, when)


def request_from_file(path: Path, url: str, received_at: datetime | None = None) -> InboundRequest:
    return request_from_bytes(path.name, path.read_bytes(), url, received_at)


def payload_files(folder: Path) -> list[Path]:
    """Payload fixtures in a provider folder (expected outputs and READMEs excluded)."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix in (".json", ".form") and not path.name.endswith(".expected.json")
    )
