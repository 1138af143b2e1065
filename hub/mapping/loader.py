"""Load mapping files: parse, validate every part, and report all problems at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import yaml

from hub.core.errors import ConfigError
from hub.core.events import KINDS
from hub.core.yamlsource import YamlList, YamlMap, error_line, error_text, load_yaml, to_plain
from hub.mapping.field_parser import parse_fields
from hub.mapping.model import DEFAULT_EVENTS, FieldRule, Mapping
from hub.mapping.problems import Problems, expect_text, shown, suggest, trap_hint
from hub.mapping.when_parser import parse_when

if TYPE_CHECKING:
    from connectors.base import Connector

TOP_KEYS: Final = ("version", "object", "event", "events", "when", "match", "options", "fields")
VERSION: Final = 1
#: `mappings/providers/` holds provider definitions, which are not destination mappings.
PROVIDERS_FOLDER: Final = "providers"

#: Finds the connector class whose `mapping_problems` checks a file (None: no connector checks).
ConnectorLookup = Callable[[Path], "type[Connector] | None"]


def load_mapping(
    path: Path, *, display_path: str | None = None, connector: type[Connector] | None = None
) -> Mapping:
    """Load and validate one mapping file; raises ConfigError listing every problem."""
    display = display_path if display_path is not None else str(path)
    problems = Problems(display)
    mapping = _load(path, problems, connector)
    if problems or mapping is None:
        raise ConfigError(problems.sorted())
    return mapping


def load_mappings(paths: Sequence[Path], *, connector_for: ConnectorLookup | None = None) -> list[Mapping]:
    """Load many files; one ConfigError carries the problems of all of them."""
    mappings: list[Mapping] = []
    problems: list[str] = []
    for path in paths:
        try:
            mappings.append(load_mapping(path, connector=connector_for(path) if connector_for else None))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return mappings


def mapping_files(root: Path) -> list[Path]:
    """Destination mapping files under `root` (the `mappings/` folder), provider definitions excluded."""
    return sorted(
        path for path in root.rglob("*.yaml") if path.relative_to(root).parts[0] != PROVIDERS_FOLDER
    )


def registered_connector(path: Path) -> type[Connector] | None:
    """The connector class for a file in `mappings/<type>/`, None when no connector has that type."""
    from connectors import registry

    type_name = path.parent.name
    return registry.connector_class(type_name) if type_name in registry.types() else None


def _load(path: Path, problems: Problems, connector: type[Connector] | None) -> Mapping | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(1, "file", f"cannot read: {exc}")
        return None
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        problems.add(error_line(exc), "yaml", error_text(exc))
        return None
    if not isinstance(document, YamlMap):
        problems.add(
            1, "file", f"expected a mapping with version, object or event, and fields; got {shown(document)}"
        )
        return None
    return _mapping(document, path, problems.display_path, problems, connector)


def _mapping(
    doc: YamlMap, path: Path, display: str, problems: Problems, connector: type[Connector] | None
) -> Mapping | None:
    for key in doc:
        if key not in TOP_KEYS:
            hint = trap_hint(key, doc.raw_keys.get(key))
            problems.add(
                doc.line_of(key),
                str(doc.raw_keys.get(key, key)),
                f"unknown key{suggest(str(key), TOP_KEYS)}{'; ' + hint if hint else ''}",
            )
    _check_version(doc, problems)
    target_key, target = _target(doc, problems)
    events = _events(doc, problems)
    when = parse_when(doc["when"], doc.line_of("when"), problems) if "when" in doc else ()
    if "fields" in doc:
        fields = parse_fields(doc["fields"], doc.line_of("fields"), problems)
    else:
        problems.add(doc.line, "fields", "missing: a mapping needs at least one field")
        fields = ()
    match = _match(doc, fields, problems)
    options = _options(doc, problems)
    if connector is not None and target is not None and options is not None:
        for message in connector.mapping_problems(target, options):
            _add_connector_problem(doc, target_key, message, problems)
        lines = {rule.name: rule.line for rule in fields}
        for name, message in connector.field_problems(target, [rule.name for rule in fields]):
            problems.add(lines.get(name, doc.line_of("fields")), f"fields.{name}", message)
    if problems or target is None or options is None:
        return None
    return Mapping(
        path=display,
        target=target,
        events=events,
        match=match,
        options=options,
        target_key=target_key,
        destination_type=path.parent.name,
        when=when,
        fields=fields,
        lines={str(key): doc.line_of(key) for key in doc},
    )


def _add_connector_problem(doc: YamlMap, target_key: str, message: str, problems: Problems) -> None:
    """Place a connector's message on the `options` line when it is about options, else on the target."""
    label, separator, rest = message.partition(": ")
    if label.startswith("options") and separator and " " not in label:
        problems.add(doc.line_of("options"), label, rest)
    elif "options" in doc and "option" in message:
        problems.add(doc.line_of("options"), "options", message)
    else:
        problems.add(doc.line_of(target_key), target_key, message)


def _check_version(doc: YamlMap, problems: Problems) -> None:
    if "version" not in doc:
        problems.add(doc.line, "version", f"missing: write `version: {VERSION}` first")
        return
    version = doc["version"]
    if isinstance(version, bool) or version != VERSION or not isinstance(version, int):
        problems.add(doc.line_of("version"), "version", f"expected {VERSION}, got {shown(version)}")


def _target(doc: YamlMap, problems: Problems) -> tuple[Literal["object", "event"], str | None]:
    present = [key for key in ("object", "event") if key in doc]
    if len(present) != 1:
        message = "missing: say what it writes with `object:` (CRM) or `event:` (GA4)"
        if present:
            message = "has both `object` and `event`; a file writes one thing"
        problems.add(doc.line_of("event") if present else doc.line, "object", message)
        return "object", None
    key: Literal["object", "event"] = "object" if present[0] == "object" else "event"
    problem = expect_text(doc[key], doc.raw.get(key))
    if problem:
        problems.add(doc.line_of(key), key, problem)
        return key, None
    return key, str(doc[key])


def _events(doc: YamlMap, problems: Problems) -> frozenset[str]:
    if "events" not in doc:
        return DEFAULT_EVENTS
    node = doc["events"]
    if not isinstance(node, YamlList) or not node:
        problems.add(
            doc.line_of("events"), "events", f"expected a non-empty list of kinds ({', '.join(KINDS)})"
        )
        return DEFAULT_EVENTS
    kinds = []
    for index, kind in enumerate(node):
        if kind in KINDS:
            kinds.append(kind)
            continue
        problem = (
            expect_text(kind, node.raw[index])
            or f"unknown kind {kind!r}{suggest(kind, KINDS)}; known: {', '.join(KINDS)}"
        )
        problems.add(node.line_of(index), f"events[{index}]", problem)
    return frozenset(kinds)


def _match(doc: YamlMap, fields: tuple[FieldRule, ...], problems: Problems) -> tuple[str, ...]:
    if "match" not in doc:
        return ()
    node = doc["match"]
    if not isinstance(node, YamlList) or not node:
        problems.add(doc.line_of("match"), "match", f"expected a list of field names, got {shown(node)}")
        return ()
    # Names as written, not only rules that validated: a broken rule should not also break `match`.
    declared = doc.get("fields")
    names = (
        {str(name) for name in declared} if isinstance(declared, YamlMap) else {rule.name for rule in fields}
    )
    seen: list[str] = []
    for index, name in enumerate(node):
        problem = expect_text(name, node.raw[index])
        if problem is None and name in seen:
            problem = f"{name!r} is listed twice"
        if problem is None and names and name not in names:
            problem = f"{name!r} is not among fields{suggest(name, names)}"
        if problem:
            problems.add(node.line_of(index), f"match[{index}]", problem)
        else:
            seen.append(name)
    return tuple(seen)


def _options(doc: YamlMap, problems: Problems) -> dict[str, Any] | None:
    if "options" not in doc:
        return {}
    node = doc["options"]
    if node is None:
        return {}
    if not isinstance(node, YamlMap):
        problems.add(doc.line_of("options"), "options", f"expected a mapping, got {shown(node)}")
        return None
    plain = to_plain(node)
    bad_keys = [key for key in node if not isinstance(key, str)]
    for key in bad_keys:
        problems.add(
            node.line_of(key),
            f"options.{node.raw_keys.get(key, key)}",
            expect_text(key, node.raw_keys.get(key)) or "",
        )
    return None if bad_keys else plain
