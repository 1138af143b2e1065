"""The per-provider field table in docs/providers/README.md is the one the fixtures give."""

from __future__ import annotations

import re

from hub.cli import main
from hub.provider_fields import markdown, measure_all
from tests.providers.support import FIXTURES, MAPPINGS, ROOT

DOC = ROOT / "docs" / "providers" / "README.md"
SECTION = re.compile(r"<!-- provider-fields:start -->\n(.*?)<!-- provider-fields:end -->", re.S)


def test_docs_table_matches_the_fixtures() -> None:
    table = markdown(measure_all(FIXTURES, MAPPINGS))
    found = SECTION.search(DOC.read_text(encoding="utf-8"))
    assert found is not None, "docs/providers/README.md lost its provider-fields markers"
    assert found.group(1) == table, (
        "docs/providers/README.md is out of date: run `.venv/bin/python -m tests.providers.test_provider_fields`"
    )


def test_every_provider_with_fixtures_has_a_row() -> None:
    rows = measure_all(FIXTURES, MAPPINGS)
    assert {row.slug for row in rows} == {path.name for path in FIXTURES.iterdir() if path.is_dir()}
    assert all(row.calls and not row.failed for row in rows), "every fixture folder holds readable calls"


def test_hub_providers_prints_the_table(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["providers", "--fixtures", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert markdown(measure_all(FIXTURES, MAPPINGS)) in out


def write_docs_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = markdown(measure_all(FIXTURES, MAPPINGS))
    DOC.write_text(
        SECTION.sub(lambda _: f"<!-- provider-fields:start -->\n{table}<!-- provider-fields:end -->", text)
    )


if __name__ == "__main__":
    write_docs_table()
