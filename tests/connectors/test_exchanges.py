"""The connectors' shared exchange recorder: what history keeps of a request, masked."""

from __future__ import annotations

import json
import logging
import re
import threading

import pytest

from connectors.exchanges import ExchangeRecorder, Masking, scrub_numbers, without_query


def test_phone_fields_and_names_are_masked_and_other_values_kept() -> None:
    body = ExchangeRecorder().body(
        '{"records":[{"Phone":"+14705550183","LastName":"Vega","Tracking_Number__c":"+18005550199",'
        '"Id":"00Q000000000001AAA","Status":"Open"}]}'
    )

    assert "4705550183" not in body
    assert "8005550199" not in body
    assert '"Phone":"***83"' in body
    assert "Vega" not in body
    assert '"LastName":"V***"' in body
    assert "00Q000000000001AAA" in body
    assert "Open" in body


def test_numbers_inside_text_are_masked_but_ids_paths_and_times_are_not() -> None:
    text = (
        "Caller (415) 555-0100 or +442071234567 at 2024-05-01T12:00:00Z on /services/data/v59.0/x/4155550100"
    )

    scrubbed = scrub_numbers(text)

    assert "555-0100" not in scrubbed
    assert "2071234567" not in scrubbed
    assert "2024-05-01T12:00:00Z" in scrubbed
    assert scrubbed.endswith("/x/4155550100")
    assert scrub_numbers("client 1197596843.1673515099", national=False) == "client 1197596843.1673515099"
    assert scrub_numbers("to +14155550100", national=False) == "to ***00"


def test_secrets_are_replaced_by_value_and_by_field_name() -> None:
    recorder = ExchangeRecorder(secrets=["s3cr3t-value-123", "short"])
    exchange = recorder.exchange(
        "POST",
        "https://example.com/hook?key=s3cr3t-value-123",
        401,
        json.dumps({"api_secret": "anything", "note": "sent s3cr3t-value-123"}),
        "bad token s3cr3t-value-123 (short)",
    )

    assert "s3cr3t-value-123" not in exchange.url + exchange.request_body + exchange.response_body
    assert '"api_secret":"[secret]"' in exchange.request_body
    # Values too short to be a credential would blank out ordinary words.
    assert "(short)" in exchange.response_body


def test_a_body_that_is_not_json_is_scrubbed_as_text_and_trimmed() -> None:
    body = ExchangeRecorder().body(b"<soap>call +14155550100</soap>" + b"x" * 5000)

    assert "4155550100" not in body
    assert "more chars]" in body


def test_a_query_string_is_left_out() -> None:
    assert without_query(
        "https://x.my.salesforce.com/services/data/v59.0/search/?q=FIND+%7B4705550183%7D"
    ) == ("https://x.my.salesforce.com/services/data/v59.0/search/?[query omitted]")


def test_vendor_structures_are_masked_through_reshape() -> None:
    def reshape(node: dict[str, object], masking: Masking) -> dict[str, object]:
        if node.get("field") == "Caller":
            return {**node, "value": masking.masked_value(node["value"])}
        return node

    body = ExchangeRecorder(Masking(reshape=reshape)).body('{"field":"Caller","value":"5550100"}')

    assert "5550100" not in body


def test_exchanges_are_collected_per_thread_and_only_inside_collecting() -> None:
    recorder = ExchangeRecorder()
    recorder.record("GET", "/outside", 200)
    elsewhere: list[int] = []
    with recorder.collecting() as exchanges:
        recorder.record("GET", "/inside", 200)
        other = threading.Thread(target=lambda: elsewhere.append(len(recorder.record("GET", "/t", 200).url)))
        other.start()
        other.join()

    assert [exchange.url for exchange in exchanges] == ["/inside"]
    assert elsewhere == [2]


def test_a_body_the_masker_cannot_handle_is_left_out_with_its_cause_never_its_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(node: dict[str, object], masking: Masking) -> dict[str, object]:
        raise KeyError(str(node["phone"]))  # the message quotes the value it choked on

    raw = '{"phone":"+14155550100"}'
    with caplog.at_level(logging.WARNING, logger="connectors.exchanges"):
        body = ExchangeRecorder(Masking(reshape=broken)).body(raw)

    assert body == f"[body not recorded: masking failed (KeyError) on {len(raw)} bytes of JSON]"
    (record,) = caplog.records
    assert getattr(record, "detail", None) == "KeyError"
    assert "4155550100" not in f"{body}{record.__dict__}"
    deep = "[" * 5000 + "]" * 5000
    assert "RecursionError: nested too deep" in ExchangeRecorder().body(deep)


def test_what_a_field_name_means_depends_on_each_maskings_own_keys() -> None:
    # Field names are classified once per name and set of keys, so two connectors naming
    # different phone fields never see each other's answer, however often the name repeats.
    plain = Masking()
    vendor = Masking(phone_keys=frozenset({"ani"}), secret_keys=frozenset({"ani_token"}))
    body = {"ANI": "line 12", "Ani_Token": "abc", "api_key": "k1", "firstname": "Ana"}
    for _ in range(3):
        assert plain.data(body) == {
            "ANI": "line 12",
            "Ani_Token": "abc",
            "api_key": "[secret]",
            "firstname": "A***",
        }
        assert vendor.data(body) == {
            "ANI": "***12",
            "Ani_Token": "[secret]",
            "api_key": "k1",
            "firstname": "A***",
        }
        assert plain.is_phone_key("Caller_Number")
        assert not plain.is_phone_key("ANI")
        assert vendor.is_phone_key("ANI")
        assert not vendor.is_phone_key(7)
    # A secret field left empty is kept as it is, and a non-text key has no meaning.
    assert plain.data({"password": "", 3: "4705550183"}) == {"password": "", 3: "***83"}


def _batch(records: int, seed: int = 7) -> dict[str, object]:
    import random

    rng = random.Random(seed)
    return {
        "inputs": [
            {
                "properties": {
                    "phone": f"+1415555{rng.randrange(10_000):04d}",
                    "firstname": rng.choice(["Al", "Maria", "Jo"]),
                    "note": f"called back on ({rng.randrange(200, 999)}) 555-{rng.randrange(10_000):04d}",
                    "tags": [f"t{n}" for n in range(rng.randrange(4))],
                },
                "associations": [{"to": {"id": str(rng.randrange(10**9))}, "types": []}],
            }
            for _ in range(records)
        ],
        "after": "cursor-1",
    }


@pytest.mark.parametrize("records", [1, 5, 30, 100, 400])
def test_a_large_body_keeps_the_same_masked_excerpt_as_masking_it_whole(records: int) -> None:
    """Only as much of a batch as its excerpt can show is masked; what history shows is the same
    as masking the whole body, and no number or name of the left-out records is in it."""
    recorder = ExchangeRecorder(secrets=["s3cr3t-value-123"])
    raw = json.dumps(_batch(records))
    whole = recorder.text(json.dumps(recorder.masking.data(json.loads(raw)), separators=(",", ":")))

    body = recorder.body(raw)

    if len(whole) <= 2000:
        assert body == whole
    else:
        assert body.startswith(whole[:2000])
        assert body.endswith(f"... [cut; the whole body has {len(raw)} chars]")
    assert not re.search(r"\+1415555\d{4}|555-\d{4}", body)
    assert '"firstname":"Maria"' not in body


def test_a_body_of_phone_numbers_only_is_masked_whole_rather_than_shown_short() -> None:
    """Masking halves a list of numbers: the excerpt must still be full and masked."""
    raw = json.dumps({"phone": [f"+1415555{n:04d}" for n in range(600)]})
    body = ExchangeRecorder().body(raw)

    assert body.startswith('{"phone":["***00","***01"')
    assert len(body) > 2000
    assert not re.search(r"\d{5}", body)
