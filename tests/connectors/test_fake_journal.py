"""The append-only file that keeps sandbox records across `hub run` restarts."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.fake_journal import Journal


def test_replay_applies_changes_in_order_and_deletions(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "sandbox" / "crm.json")
    journal.append({"next": 2}, [(("Lead", "1"), {"Name": "A"}), (("Lead", "2"), {"Name": "B"})])
    journal.append({"next": 3}, [(("Lead", "1"), {"Name": "A2"}), (("Lead", "2"), None)])

    replayed = Journal(journal.path).replay()

    assert replayed.records == {("Lead", "1"): {"Name": "A2"}}
    assert replayed.meta == {"next": 3}
    assert replayed.legacy is None


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "crm.json")
    journal.append({"next": 2}, [(("Lead", "1"), {"Name": "A"})])
    with journal.path.open("a", encoding="utf-8") as file:
        file.write('{"k":["Lead","2"],"v":{"Na')  # the process died mid-write

    assert Journal(journal.path).replay().records == {("Lead", "1"): {"Name": "A"}}


def test_a_snapshot_from_before_the_journal_is_handed_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "crm.json"
    snapshot = {"records": {"Lead": {"1": {"Name": "A"}}}, "ids": 1}
    path.write_text(json.dumps(snapshot), encoding="utf-8")

    assert Journal(path).replay().legacy == snapshot


def test_rewrite_keeps_only_the_live_records_and_asks_for_it_once_the_file_has_grown(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "crm.json")
    for round_ in range(12_000):
        journal.append({"round": round_}, [(("Lead", "1"), {"Name": f"A{round_}"})])
    assert journal.wants_compaction(live_records=1)

    journal.rewrite({"round": 11_999}, [(("Lead", "1"), {"Name": "A11999"})])

    assert not journal.wants_compaction(live_records=1)
    assert len(journal.path.read_text(encoding="utf-8").splitlines()) == 3
    assert Journal(journal.path).replay().records == {("Lead", "1"): {"Name": "A11999"}}
