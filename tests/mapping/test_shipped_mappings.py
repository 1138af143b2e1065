"""Every shipped mapping loads and renders every fixture event it matches.

Events come from the provider fixtures' `*.expected.json` (what each provider's parser must
produce). Provider definitions under `mappings/providers/` are not destination mappings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.core.events import CallEvent, load_event
from hub.core.records import RenderedRecord
from hub.mapping import Mapping, RenderError, load_mapping, mapping_files, registered_connector

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = mapping_files(ROOT / "mappings")
EXPECTED = sorted((ROOT / "tests" / "fixtures" / "providers").glob("**/*.expected.json"))


def _events(path: Path) -> list[CallEvent]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "ignored" in data:
        return []  # a payload that is not a call: no event to render
    return [load_event(item) for item in (data if isinstance(data, list) else [data])]


def _load(path: Path) -> Mapping:
    return load_mapping(path, display_path=str(path.relative_to(ROOT)), connector=registered_connector(path))


def _ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(ROOT)) for path in paths]


@pytest.mark.skipif(not MAPPINGS, reason="no shipped mappings yet")
@pytest.mark.parametrize("mapping_path", MAPPINGS, ids=_ids(MAPPINGS))
def test_shipped_mapping_loads(mapping_path):
    _load(mapping_path)


@pytest.mark.skipif(not MAPPINGS or not EXPECTED, reason="no shipped mappings or expected fixture events yet")
@pytest.mark.parametrize("mapping_path", MAPPINGS, ids=_ids(MAPPINGS))
def test_shipped_mapping_renders_every_fixture_event(mapping_path):
    mapping = _load(mapping_path)
    for expected in EXPECTED:
        for index, event in enumerate(_events(expected)):
            try:
                result = mapping.render(event)
            except RenderError as exc:
                pytest.fail(f"{expected.relative_to(ROOT)} event {index}: {exc}")
            if isinstance(result, RenderedRecord):
                # What connectors receive must survive JSON (the queue, the history, the API).
                assert json.loads(json.dumps(dict(result.fields))) == dict(result.fields), expected.name
                assert set(result.match) <= set(result.fields)
