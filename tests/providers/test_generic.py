"""The YAML-defined provider: strict definition checks (file, line, key) and each auth recipe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.core.errors import ConfigError, NotACall, ParseError, SignatureError
from webhooks.auth import BasicAuth, HmacAuth, NoAuth, TokenAuth
from webhooks.base import FORM_CONTENT_TYPE, Headers, InboundRequest, SourceSettings
from webhooks.generic import GenericProvider, load_definition
from webhooks.registry import create

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
URL = "https://hub.example/webhooks/acme"

MINIMAL = """\
name: Acme Calls
auth:
  type: token
  header: X-Hub-Token
fields:
  provider_call_id: id
  kind:
    value: call.completed
"""


def write(tmp_path: Path, text: str, name: str = "acme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_definition(write(tmp_path, text))
    return caught.value.problems


def provider_for(tmp_path: Path, text: str, **options: object) -> GenericProvider:
    return GenericProvider.from_file(write(tmp_path, text), SourceSettings("acme", "US", options))


def post_json(data: object, url: str = URL) -> InboundRequest:
    body = json.dumps(data).encode()
    return InboundRequest("POST", url, Headers({"Content-Type": "application/json"}), body, NOW)


# --- definition checks ------------------------------------------------------------------------


def test_minimal_definition_loads(tmp_path: Path) -> None:
    definition = load_definition(write(tmp_path, MINIMAL))
    assert definition.slug == "acme"
    assert definition.auth == TokenAuth(header="X-Hub-Token")


def test_unknown_top_level_key_names_file_line_and_key(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "event: Notifications\n")
    assert found == [
        f"{tmp_path / 'acme.yaml'}:9: event: unknown key (did you mean 'events'?); "
        "allowed: version, name, auth, body, events, delivery_id, phone_region, time_zone, time_formats, fields"
    ]


def test_unknown_normalized_path_suggests_the_right_one(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "  caller.numbr: From\n")
    assert len(found) == 1
    assert ":9: fields.caller.numbr: unknown normalized path (did you mean 'caller.number'?)" in found[0]


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = """\
name: Acme
auth:
  type: hmac
  header: X-Sig
  algorithm: md5
  encoding: base32
  separator: "."
body: xml
time_zone: Mars/Olympus
fields:
  provider_call_id: id
  kind:
    from: type
    map:
      start: call.begun
  call.status:
    from: status
    default: rang
  outcome.value:
    value: lots
  custom.: x
"""
    found = problems(tmp_path, text)
    expected = [
        ":5: auth.algorithm: 'md5' is not one of sha1, sha256, sha512",
        ":6: auth.encoding: 'base32' is not one of hex, base64",
        ":7: auth.separator: only means something with a timestamp_header",
        ":8: body: 'xml' is not one of json, form, query",
        ":9: time_zone: unknown time zone 'Mars/Olympus'",
        ":15: fields.kind.map.start: 'call.begun' is not one of call.started, call.completed",
        ":18: fields.call.status.default: 'rang' is not one of ringing",
        ":20: fields.outcome.value.value: 'lots' is not a value this field can hold",
        ":21: fields.custom.: unknown normalized path",
    ]
    assert len(found) == len(expected), found
    for fragment, problem in zip(expected, found, strict=True):
        assert fragment in problem


def test_auth_is_required_and_none_needs_insecure(tmp_path: Path) -> None:
    no_auth = MINIMAL.replace("auth:\n  type: token\n  header: X-Hub-Token\n", "")
    assert "auth: is required" in problems(tmp_path, no_auth)[0]
    unflagged = MINIMAL.replace("type: token\n  header: X-Hub-Token", "type: none")
    assert "it needs insecure: true" in problems(tmp_path, unflagged)[0]
    # `insecure: yes` is YAML 1.1's true; here it stays the word "yes" and is not enough.
    wordy = MINIMAL.replace("type: token\n  header: X-Hub-Token", "type: none\n  insecure: yes")
    assert "it needs insecure: true" in problems(tmp_path, wordy)[0]
    flagged = MINIMAL.replace("type: token\n  header: X-Hub-Token", "type: none\n  insecure: true")
    assert load_definition(write(tmp_path, flagged)).auth == NoAuth()


def test_token_without_place_and_hmac_on_query_string_are_refused(tmp_path: Path) -> None:
    nowhere = MINIMAL.replace("  header: X-Hub-Token\n", "")
    assert "needs a header or a query parameter" in problems(tmp_path, nowhere)[0]
    hmac_query = (
        MINIMAL.replace("type: token", "type: hmac").replace("X-Hub-Token", "X-Sig") + "body: query\n"
    )
    assert "a query-string provider needs token or basic" in problems(tmp_path, hmac_query)[0]


def test_required_fields_and_rule_shape(tmp_path: Path) -> None:
    text = "name: Acme\nauth: {type: basic}\nfields:\n  caller.number:\n    frm: From\n"
    found = problems(tmp_path, text)
    assert any(":5: fields.caller.number.frm: unknown key (did you mean 'from'?)" in p for p in found)
    assert any("fields.caller.number: needs `from`" in p for p in found)
    assert any("fields: provider_call_id is required" in p for p in found)
    assert any("fields: kind is required" in p for p in found)


def test_yaml_problems_carry_their_line(tmp_path: Path) -> None:
    duplicate = MINIMAL + "  caller.number: From\n  caller.number: Caller\n"
    assert problems(tmp_path, duplicate) == [f"{tmp_path / 'acme.yaml'}:10: duplicate key 'caller.number'"]
    broken = MINIMAL + "  caller.name: [From\n"
    assert problems(tmp_path, broken)[0].startswith(f"{tmp_path / 'acme.yaml'}:10: ")


def test_yaml_11_words_stay_words(tmp_path: Path) -> None:
    text = MINIMAL + "  call.status:\n    from: answered\n    map:\n      no: missed\n      on: in_progress\n"
    provider = provider_for(tmp_path, text)
    for word, status in (("no", "missed"), ("ON", "in_progress")):
        [event] = provider.parse(post_json({"id": "c1", "answered": word}))
        assert event.call.status == status


def test_shipped_definitions_are_valid() -> None:
    for name in ("marchex", "callscaler"):
        definition = load_definition(MAPPINGS / "providers" / f"{name}.yaml")
        assert definition.slug == name


def test_registry_builds_yaml_providers() -> None:
    provider = create("marchex", SourceSettings("mx-east"), MAPPINGS)
    assert isinstance(provider, GenericProvider)
    assert provider.slug == "marchex"
    assert provider.uses_token
    assert not provider.signs_body


# --- parsing ----------------------------------------------------------------------------------

ENVELOPE = """\
name: Acme
auth: {type: token, query: token}
events: data.calls
delivery_id: $body.delivery
phone_region: GB
time_zone: Europe/London
fields:
  provider_call_id: [ref, legacy_ref]
  kind:
    from: [$query.event, stage]
    map: {begin: call.started, end: call.completed}
  occurred_at:
    from: $body.sent
    format: epoch_ms
  call.started_at:
    from: start
    format: ["%d/%m/%Y %H:%M"]
  call.first_call:
    from: repeat
    negate: true
  caller.number: from
  outcome.value: amount
  outcome.tags: labels
  attribution.landing_page: page
  custom.attempt: $body.attempt
"""


def test_events_list_fallbacks_formats_and_landing_page(tmp_path: Path) -> None:
    provider = provider_for(tmp_path, ENVELOPE)
    body = {
        "delivery": "d-1",
        "attempt": 1,
        "sent": 1710267738000,
        "data": {
            "calls": [
                {
                    "legacy_ref": 7,
                    "stage": "END",
                    "start": "12/03/2024 14:22",
                    "repeat": "no",
                    "from": "020 7946 0321",
                    "amount": "£1,204.50",
                    "labels": "vip, booked",
                    "page": "https://x.example/?utm_source=bing&gclid=G1",
                },
                {"ref": "r2", "stage": "begin"},
            ]
        },
    }
    first, second = provider.normalize(post_json(body))
    assert first.provider_call_id == "7"
    assert first.kind == "call.completed"
    assert first.occurred_at == datetime(2024, 3, 12, 18, 22, 18, tzinfo=UTC)
    assert first.call.started_at == datetime(2024, 3, 12, 14, 22, tzinfo=UTC)  # GMT in March
    assert first.call.first_call is True
    assert first.caller.number == "+442079460321"
    assert str(first.outcome.value) == "1204.50"
    assert first.outcome.tags == ("vip", "booked")
    assert (first.attribution.utm_source, first.attribution.gclid) == ("bing", "G1")
    assert first.custom == {"attempt": 1}
    assert (second.provider_call_id, second.kind) == ("r2", "call.started")


def test_query_parameter_overrides_and_unknown_kind(tmp_path: Path) -> None:
    provider = provider_for(tmp_path, ENVELOPE)
    call = {"ref": "r1", "stage": "end"}
    [event] = provider.parse(post_json({"data": {"calls": [call]}}, URL + "?event=begin"))
    assert event.kind == "call.started"
    [event] = provider.parse(post_json({"data": {"calls": [{"ref": "r1", "stage": "paused"}]}}))
    assert event.kind == "unknown"
    assert event.occurred_at == NOW  # no time in the payload: the receipt time


def test_missing_events_or_call_id_is_a_parse_error(tmp_path: Path) -> None:
    provider = provider_for(tmp_path, ENVELOPE)
    with pytest.raises(ParseError, match=r"no event object at data\.calls"):
        provider.normalize(post_json({"data": {}}))
    with pytest.raises(ParseError, match="no call id"):
        provider.normalize(post_json({"data": {"calls": [{"stage": "end"}]}}))
    # An empty batch is not dropped silently: it is recorded as ignored, with why.
    with pytest.raises(NotACall, match="holds no call"):
        provider.normalize(post_json({"data": {"calls": []}}))


def test_delivery_id_makes_a_redelivery_the_same_receipt(tmp_path: Path) -> None:
    provider = provider_for(tmp_path, ENVELOPE)
    first = post_json({"delivery": "d-9", "attempt": 1, "data": {"calls": []}})
    again = post_json({"delivery": "d-9", "attempt": 2, "data": {"calls": []}})
    other = post_json({"delivery": "d-10", "attempt": 1, "data": {"calls": []}})
    assert provider.receipt_key(first) == provider.receipt_key(again) != provider.receipt_key(other)


def test_source_time_zone_option_wins(tmp_path: Path) -> None:
    provider = provider_for(tmp_path, ENVELOPE, time_zone="America/Chicago")
    [event] = provider.parse(post_json({"data": {"calls": [{"ref": "r", "start": "12/03/2024 14:22"}]}}))
    assert event.call.started_at == datetime(2024, 3, 12, 19, 22, tzinfo=UTC)


def test_form_and_query_bodies(tmp_path: Path) -> None:
    form = MINIMAL + "body: form\n  \n".replace("  \n", "") + ""
    form_provider = provider_for(tmp_path, form.replace("fields:", "fields:\n  caller.name: name"))
    body = b"id=c7&name=Jos%C3%A9+M%C3%BCller"
    request = InboundRequest("POST", URL, Headers({"Content-Type": FORM_CONTENT_TYPE}), body, NOW)
    [event] = form_provider.parse(request)
    assert (event.provider_call_id, event.caller.name) == ("c7", "José Müller")
    query = MINIMAL.replace("header: X-Hub-Token", "query: token") + "body: query\n"
    query_provider = provider_for(tmp_path, query)
    get = InboundRequest("GET", URL + "?id=c8&token=s3cret", Headers(), b"", NOW)
    [event] = query_provider.parse(get)
    assert event.provider_call_id == "c8"
    unsigned = InboundRequest("GET", URL + "?id=c8&token=rotated", Headers(), b"", NOW)
    assert query_provider.receipt_key(get) == query_provider.receipt_key(unsigned)


# --- auth recipes -----------------------------------------------------------------------------

RECIPES = [
    HmacAuth(header="X-Signature"),
    HmacAuth(header="X-Signature", algorithm="sha1", encoding="base64", prefix="sha1="),
    HmacAuth(header="X-Sig", timestamp_header="X-Sig-Time", separator=".", tolerance_s=60),
    TokenAuth(header="X-Hub-Token"),
    TokenAuth(header="Authorization", prefix="Bearer "),
    TokenAuth(query="token"),
    BasicAuth(),
    BasicAuth(username="acme"),
]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda recipe: recipe.describe())
def test_recipe_accepts_its_own_signature_with_rotation(recipe: object) -> None:
    assert isinstance(recipe, HmacAuth | TokenAuth | BasicAuth)
    request = post_json({"id": "c1"})
    signed = recipe.sign(request, "old-secret", NOW)
    recipe.verify(signed, ["new-secret", "old-secret"], NOW)
    with pytest.raises(SignatureError):
        recipe.verify(signed, ["new-secret"], NOW)
    with pytest.raises(SignatureError):
        recipe.verify(request, ["old-secret"], NOW)


@pytest.mark.parametrize("recipe", RECIPES[:3], ids=lambda recipe: recipe.describe())
def test_hmac_refuses_tampered_body_and_trailing_newline(recipe: HmacAuth) -> None:
    signed = recipe.sign(post_json({"id": "c1"}), "k", NOW)
    for body in (b'{"id": "c2"}', signed.body + b"\n"):
        tampered = InboundRequest(signed.method, signed.url, signed.headers, body, NOW)
        with pytest.raises(SignatureError):
            recipe.verify(tampered, ["k"], NOW)


def test_hmac_timestamp_recipe_and_stale_refusal() -> None:
    recipe = HmacAuth(header="X-Sig", timestamp_header="X-Sig-Time", separator=".", tolerance_s=60)
    request = post_json({"id": "c1"})
    signed = recipe.sign(request, "k", NOW)
    stamp = signed.headers["X-Sig-Time"]
    assert stamp == str(int(NOW.timestamp()))
    expected = HmacAuth(header="X-Sig")._signature("k", None, stamp.encode() + b"." + request.body)
    assert signed.headers["X-Sig"] == expected
    recipe.verify(signed, ["k"], NOW + timedelta(seconds=59))
    with pytest.raises(SignatureError) as caught:
        recipe.verify(signed, ["k"], NOW + timedelta(seconds=61))
    assert caught.value.reason == "stale_signature"


def test_hex_signatures_compare_case_insensitively() -> None:
    recipe = HmacAuth(header="X-Signature", prefix="sha256=")
    signed = recipe.sign(post_json({"id": "c1"}), "k", NOW)
    upper = "sha256=" + signed.headers["X-Signature"].removeprefix("sha256=").upper()
    recipe.verify(InboundRequest("POST", URL, Headers({"X-Signature": upper}), signed.body, NOW), ["k"], NOW)


def test_basic_auth_checks_a_configured_user_name() -> None:
    signed = BasicAuth().sign(post_json({}), "pw", NOW)  # user "callhub"
    with pytest.raises(SignatureError):
        BasicAuth(username="acme").verify(signed, ["pw"], NOW)
    garbage = InboundRequest("POST", URL, Headers({"Authorization": "Basic !!!"}), b"", NOW)
    with pytest.raises(SignatureError, match="unreadable"):
        BasicAuth().verify(garbage, ["pw"], NOW)


def test_insecure_definition_accepts_anything_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = MINIMAL.replace("type: token\n  header: X-Hub-Token", "type: none\n  insecure: true")
    provider = provider_for(tmp_path, text)
    provider.verify(post_json({"id": "c1"}), [], NOW)
    assert "accepts unauthenticated deliveries" in caplog.text
    assert getattr(provider, "insecure", False) is True


def test_worked_example_in_the_docs_does_what_the_docs_say(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "providers" / "generic.md").read_text()
    payload = doc.split("```json\n", 1)[1].split("```", 1)[0]
    definition = doc.split("`mappings/providers/acme.yaml`:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    provider = provider_for(tmp_path, definition)
    request = InboundRequest(
        "POST", URL, Headers({"Content-Type": "application/json"}), payload.encode(), NOW
    )
    [event] = provider.normalize(request)
    assert (event.provider_call_id, event.kind, event.call.status) == ("AC-1042", "call.completed", "missed")
    assert (event.caller.number, event.tracking_number) == ("+14705550183", "+14045550199")
    assert event.call.started_at == datetime(2024, 3, 12, 18, 22, tzinfo=UTC)
    assert (event.call.duration_s, event.call.first_call) == (24, True)
    assert event.outcome.tags == ("new lead", "plumbing")
    assert (event.attribution.utm_source, event.attribution.utm_medium) == ("google", "cpc")
    assert event.attribution.gclid == "Cj0K"
    signed = provider.sign(request, "s", NOW)
    assert signed.headers["X-Hub-Token"] == "s"
