"""The admin API fuzzed from its own OpenAPI document with schemathesis: every check, authenticated.

Runs the schemathesis command line against a real hub (gunicorn and a worker), so what is
checked is what a client gets: no 5xx, no status code the document does not list, no
schema-valid request refused and no schema-violating one accepted, exact Allow headers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chaos.harness import ADMIN_TOKEN, LEDGER_DIR, all_bodies, plan_calls, running

FULL = os.environ.get("HUB_CHAOS") == "1"
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1200)]


def test_admin_api_matches_its_openapi_document(tmp_path: Path) -> None:
    examples = 100 if FULL else 15
    with running(tmp_path, destinations=("webhook",), workers=1) as hub:
        hub.post_all(all_bodies(plan_calls(4)))
        hub.wait_settled(120)
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--no-color",
                "--config-file",
                str(Path(__file__).with_name("schemathesis.toml")),
                "run",
                f"{hub.base}/api/openapi.json",
                "-H",
                f"Authorization: Bearer {ADMIN_TOKEN}",
                "--checks",
                "all",
                "-n",
                str(examples),
                "--seed",
                "20261202",
            ],
            capture_output=True,
            text=True,
            timeout=1100,
            check=False,
        )
    output = done.stdout + done.stderr
    generated = re.search(r"(\d+) generated", output)
    failures = re.search(r"(\d+) unique failures", output)
    LEDGER_DIR.mkdir(parents=True, exist_ok=True)
    (LEDGER_DIR / "api_fuzz.json").write_text(
        json.dumps(
            {
                "scenario": "api_fuzz",
                "cases": int(generated.group(1)) if generated else None,
                "failures": int(failures.group(1)) if failures else 0,
                "exit_code": done.returncode,
            },
            indent=2,
        )
        + "\n"
    )
    assert done.returncode == 0, output[-6000:]
    assert generated, output[-2000:]
