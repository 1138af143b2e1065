"""WSGI entry point: `gunicorn 'wsgi:create()'` (hub run does this)."""

from __future__ import annotations

import sys

from flask import Flask

from hub import metrics_dir
from hub.core.errors import ConfigError
from hub.http import create_app
from hub.logs import configure
from hub.runtime import Runtime
from hub.settings import Settings


def create() -> Flask:
    settings = Settings.from_env()
    # Before the app imports prometheus_client: every worker writes where /metrics reads.
    metrics_dir.configure(settings.data_dir)
    configure(settings.log_format, settings.log_level)
    try:
        runtime = Runtime.from_settings(settings)
    except ConfigError as exc:
        # Said plainly before gunicorn's own "worker failed to boot" traceback.
        print("hub web: refusing to start:\n  " + "\n  ".join(exc.problems), file=sys.stderr, flush=True)
        raise
    return create_app(runtime)
