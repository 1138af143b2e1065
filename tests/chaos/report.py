"""Print a chaos run's figures as a Markdown table (`HUB_CHAOS=1`: the full run's, else the smoke run's)."""

from __future__ import annotations

import json
import sys

from tests.chaos.harness import LEDGER_DIR


def table() -> str:
    lines = [
        "| scenario | calls | deliveries sent | posts | 2xx | 5xx | slowest answer s | lost | duplicates | recovery s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in sorted(LEDGER_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        if "calls" not in data:
            lines.append(
                f"| {data['scenario']} | {data.get('cases')} cases | | | | | | | {data.get('failures')} failures | |"
            )
            continue
        recovery = data["recovery_s"] if data["recovery_s"] is not None else "did not settle"
        lines.append(
            f"| {data['scenario']} | {data['calls']} | {data['deliveries_sent']} | {data['posts']} | "
            f"{data['answered_2xx']} | {data['answered_5xx']} | {data['max_answer_s']} | {data['lost']} | "
            f"{data['duplicates']} | {recovery} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(table() + "\n")
