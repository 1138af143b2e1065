"""Production code never imports a fake, and fakes import nothing of their connector."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_fake_imports.py"


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_fake_imports", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_fake_imports", module)
    spec.loader.exec_module(module)
    return module


def test_the_project_keeps_fakes_apart(checker: ModuleType) -> None:
    assert checker.all_problems() == []


def test_production_code_importing_a_fake_is_reported(checker: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "connectors" / "ga4" / "fake").mkdir(parents=True)
    (tmp_path / "hub").mkdir()
    (tmp_path / "webhooks").mkdir()
    (tmp_path / "hub" / "run.py").write_text("from connectors.ga4 import fake\n")
    (tmp_path / "connectors" / "ga4" / "fake" / "mp.py").write_text(
        "from connectors.base import FAKE_CONTROL_PREFIX\nfrom connectors.ga4.fake import state\n"
        "from connectors.ga4 import limits\n"
    )
    problems = checker.all_problems(tmp_path)
    assert "hub/run.py:1: production code imports the fake connectors.ga4.fake" in problems
    assert any(
        p.startswith("connectors/ga4/fake/mp.py:3: the fake imports connectors.ga4.limits") for p in problems
    )
    assert not any(":1:" in p or ":2:" in p for p in problems if p.startswith("connectors/ga4/fake/mp.py"))
