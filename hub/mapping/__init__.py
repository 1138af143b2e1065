"""The YAML mapping engine: files in `mappings/<destination>/` turned into records for connectors.

`load_mapping(s)` validates files (every problem, each with file, line and field);
`Mapping.render(event)` gives the `RenderedRecord` a connector sends or the `Skip` saying why not;
`lint_against_schema` checks a mapping against the live destination schema (`hub check --online`);
`diff_records` compares two renderings (`hub preview --mapping`).
"""

from hub.mapping.conditions import OPERATORS
from hub.mapping.lint import lint_against_schema
from hub.mapping.loader import load_mapping, load_mappings, mapping_files, registered_connector
from hub.mapping.model import FieldRule, Mapping, RenderError
from hub.mapping.preview import diff_records
from hub.mapping.transforms import TRANSFORMS

__all__ = [
    "OPERATORS",
    "TRANSFORMS",
    "FieldRule",
    "Mapping",
    "RenderError",
    "diff_records",
    "lint_against_schema",
    "load_mapping",
    "load_mappings",
    "mapping_files",
    "registered_connector",
]
