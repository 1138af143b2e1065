"""The database the sandbox fakes keep their records in: lookups, all-or-none, restarts, reset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.fake_store import BY_ID, HIDDEN, FakeRecords, replay_journal


def test_lookups_follow_a_changed_record_and_a_deleted_one() -> None:
    records = FakeRecords()
    records.put("Lead", "1", {"Phone": "415-555-0100"}, [("phone7", "5550100")])
    records.put("Lead", "2", {"Phone": "212-555-0100"}, [("phone7", "5550100")])

    records.put("Lead", "1", {"Phone": "415-555-0199"}, [("phone7", "5550199")])
    records.delete("Lead", "2")

    assert records.find("Lead", [("phone7", "5550100")]) == []
    assert records.find("Lead", [("phone7", "5550199"), (BY_ID, "1")]) == [("1", {"Phone": "415-555-0199"})]


def test_records_keep_the_order_they_were_first_written_in() -> None:
    records = FakeRecords()
    for record_id in ("b", "a", "c"):
        records.put("Lead", record_id, {"n": 1}, [("k", "v")])
    records.put("Lead", "b", {"n": 2}, [("k", "v")])

    assert [record_id for record_id, _ in records.scan("Lead")] == ["b", "a", "c"]
    assert [record_id for record_id, _ in records.find("Lead", [("k", "v")])] == ["b", "a", "c"]


def test_a_failed_transaction_undoes_exactly_what_it_wrote_and_nests() -> None:
    records = FakeRecords()
    records.put("Lead", "1", {"n": 1}, [("k", "1")])
    records.set_meta("ids", 1)

    def refused(*writes: Callable[[], object]) -> None:
        with records.transaction():
            for write in writes:
                write()
            raise RuntimeError("the batch is refused")

    with records.transaction():
        records.put("Lead", "2", {"n": 2})
        with pytest.raises(RuntimeError):
            refused(
                lambda: records.put("Lead", "1", {"n": 10}, [("k", "10")]),
                lambda: records.delete("Lead", "2"),
                lambda: records.set_meta("ids", 3),
            )
    with pytest.raises(RuntimeError):
        refused(lambda: records.delete("Lead", "1"))

    assert records.scan("Lead") == [("1", {"n": 1}), ("2", {"n": 2})]
    assert records.find("Lead", [("k", "1")]) == [("1", {"n": 1})]
    assert records.meta("ids") == 1


def test_hidden_records_stay_out_of_searches_until_shown() -> None:
    records = FakeRecords()
    records.put("Lead", "1", {}, [("k", "v")], hidden_until=HIDDEN)
    records.put("Lead", "1", {"changed": True}, [("k", "v")])  # an update keeps it hidden

    assert records.find("Lead", [("k", "v")], visible_at=0.0) == []
    assert records.scan("Lead", visible_at=0.0) == []
    assert records.find("Lead", [("k", "v")]) == [("1", {"changed": True})], "lookups still see it"
    records.show()
    assert records.scan("Lead", visible_at=0.0) == [("1", {"changed": True})]


def test_a_file_keeps_everything_across_a_restart_and_clear_empties_it(tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "crm.sqlite"
    records = FakeRecords(path)
    assert records.is_empty()
    records.put("Lead", "1", {"n": 1}, [("k", "v")], hidden_until=HIDDEN)
    records.append("hits", {"n": 1})
    records.set_meta("ids", 1)
    records.close()

    again = FakeRecords(path)
    assert not again.is_empty()
    assert again.find("Lead", [("k", "v")], visible_at=0.0) == [("1", {"n": 1})], "searchable after a restart"
    assert [body for _, body in again.scan("hits")] == [{"n": 1}]
    assert again.meta("ids") == 1
    again.clear()
    again.close()

    assert FakeRecords(path).is_empty()


def test_an_earlier_json_file_is_handed_over_once_and_a_torn_line_ignored(tmp_path: Path) -> None:
    earlier = tmp_path / "crm.json"
    earlier.write_text(
        '{"journal":"callhub-fake","version":1}\n{"k":["Lead","1"],"v":{"n":1}}\n{"meta":{"ids":1}}\n{"k":["Le',
        encoding="utf-8",
    )
    records = FakeRecords(tmp_path / "crm.sqlite")

    replayed = replay_journal(records.earlier or "")
    assert (replayed.records, replayed.meta, replayed.snapshot) == (
        {("Lead", "1"): {"n": 1}},
        {"ids": 1},
        None,
    )
    records.imported_earlier()
    assert FakeRecords(tmp_path / "crm.sqlite").earlier is None
    assert replay_journal('{"records": {}}').snapshot == {"records": {}}


def test_an_earlier_file_whose_import_failed_is_handed_over_again(tmp_path: Path) -> None:
    earlier = tmp_path / "crm.json"
    earlier.write_text('{"records": {}}', encoding="utf-8")

    assert FakeRecords(tmp_path / "crm.sqlite").earlier == '{"records": {}}'
    # The fake never said it imported the file (its import raised): the next start tries again.
    assert FakeRecords(tmp_path / "crm.sqlite").earlier == '{"records": {}}'
    assert earlier.is_file()
