"""The provider driven by a definition file: auth recipe, body format, event list, field rules."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from hub.core import fields
from hub.core.errors import ParseError
from hub.core.events import CallEvent
from webhooks import auth
from webhooks.assemble import assemble, shown
from webhooks.base import InboundRequest, Provider, SourceSettings
from webhooks.generic import targets
from webhooks.generic.definition import Definition, load_definition
from webhooks.generic.rules import FieldRule


class GenericProvider(Provider):
    """A provider without code; each definition file becomes a subclass with its own slug."""

    definition: ClassVar[Definition]

    @classmethod
    def from_file(cls, path: Path, settings: SourceSettings) -> GenericProvider:
        """The provider for one source from a definition file (ConfigError lists its problems)."""
        return cls.for_definition(load_definition(path))(settings)

    @classmethod
    def for_definition(cls, definition: Definition) -> type[GenericProvider]:
        recipe = definition.auth
        attributes = {
            "slug": definition.slug,
            "name": definition.name,
            "auth": recipe.describe(),
            "definition": definition,
            # What the shared contract tests may exercise for this provider.
            "signs_body": recipe.signs_body,
            "signs_timestamp": recipe.signs_timestamp,
            "uses_token": recipe.uses_token,
            "insecure": isinstance(recipe, auth.NoAuth),
        }
        return type(f"Generic_{definition.slug}", (cls,), attributes)

    def __init__(self, settings: SourceSettings) -> None:
        super().__init__(settings)
        if isinstance(self.definition.auth, auth.NoAuth):
            auth.warn_insecure(settings.id)

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        self.definition.auth.verify(request, secrets, now)

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        return self.definition.auth.sign(request, secret, now)

    def credential_carriers(self) -> tuple[frozenset[str], frozenset[str]]:
        return auth.carriers(self.definition.auth)

    def parse_view(self, request: InboundRequest) -> InboundRequest:
        # A definition reads only the `$query.<name>` parameters it names: those are the ones
        # configured on the provider's URL.
        return request

    def receipt_key(self, request: InboundRequest) -> str:
        """A provider's own delivery id makes a redelivery (Marchex `Attempt: 2`) the same receipt."""
        if self.definition.delivery_id:
            try:
                body = self._body(request)
            except ParseError:
                # Called before the delivery is stored: an unreadable body is still kept, by its bytes.
                body = None
            delivery_id = fields.text(self._resolve(self.definition.delivery_id, {}, body, request))
            if delivery_id is not None:
                return hashlib.sha256(f"delivery-id:{delivery_id}".encode()).hexdigest()
        return super().receipt_key(request)

    def parse(self, request: InboundRequest) -> list[CallEvent]:
        body = self._body(request)
        items = self._items(body)
        return [self._event(item, body, request) for item in items]

    # --- internals -----------------------------------------------------------------------------

    def _body(self, request: InboundRequest) -> Any:
        if self.definition.body == "json":
            return request.json()
        if self.definition.body == "query":
            return _flat(request.query)
        return _flat(request.form)

    def _items(self, body: Any) -> list[Mapping[str, Any]]:
        found = body if self.definition.events is None else fields.dig(body, self.definition.events)
        if isinstance(found, Mapping):
            return [found]
        if isinstance(found, list):
            if not all(isinstance(item, Mapping) for item in found):
                raise ParseError(f"{self.definition.events}: every item must be an object")
            return list(found)
        where = self.definition.events or "the body"
        raise ParseError(f"no event object at {where} (found {type(found).__name__})")

    def _resolve(self, path: str, item: Mapping[str, Any], body: Any, request: InboundRequest) -> Any:
        root, _, rest = path.partition(".")
        if root == "$body":
            return fields.dig(body, rest)
        if root == "$query":
            return fields.dig(_flat(request.query), rest)
        return fields.dig(item, path)

    def _context(self, rule: FieldRule) -> targets.Context:
        zone_name = rule.time_zone or self.settings.options.get("time_zone") or self.definition.time_zone
        return targets.Context(
            region=self.definition.phone_region or self.settings.default_region,
            zone=fields.zone(zone_name),
            time_formats=rule.time_formats or self.definition.time_formats,
        )

    def _value(
        self,
        rule: FieldRule,
        item: Mapping[str, Any],
        body: Any,
        request: InboundRequest,
        warnings: list[str],
    ) -> Any:
        coerce = targets.coercion(rule.target)
        context = self._context(rule)
        raw: Any = rule.value
        unmapped: Any = None
        for index, path in enumerate(rule.paths):
            candidate = self._resolve(path, item, body, request)
            if fields.first(candidate) is None:
                continue
            if rule.vocabulary is not None:
                # With a value map the first value the map knows wins, so a status can fall back
                # from a detailed field to the event name. Only the first field is expected to
                # map: an event name the map does not know is no lost value.
                key = (fields.text(candidate) or "").lower()
                if key not in rule.vocabulary:
                    unmapped = candidate if index == 0 else unmapped
                    continue
                candidate = rule.vocabulary[key]
            raw = candidate
            break
        else:
            if unmapped is not None and raw is None and rule.default is None:
                warnings.append(f"{rule.target}: {shown(unmapped)} is not in the value map")
        try:
            value = coerce(raw, context) if raw is not None else None
        except ParseError as exc:
            if rule.target in ("provider_call_id", "kind"):
                raise
            # One unreadable field loses that field, not the call (a time falls back to receipt).
            warnings.append(f"{rule.target}: {exc.message}")
            value = None
        else:
            problem = targets.unreadable(rule.target, raw) if value is None and raw is not None else None
            if problem:
                warnings.append(f"{rule.target}: {problem}")
        if value is None and rule.default is not None:
            value = coerce(rule.default, context)
        if rule.negate and isinstance(value, bool):
            value = not value
        return value

    def _event(self, item: Mapping[str, Any], body: Any, request: InboundRequest) -> CallEvent:
        warnings: list[str] = []
        values = {
            rule.target: self._value(rule, item, body, request, warnings) for rule in self.definition.rules
        }
        call_id = values.get("provider_call_id")
        if not call_id:
            raise ParseError("no call id in the event (fields.provider_call_id found nothing)")
        return assemble(self.slug, values, received_at=request.received_at, warnings=warnings)


def _flat(params: Mapping[str, list[str]]) -> dict[str, str]:
    return {key: values[0] for key, values in params.items() if values}
