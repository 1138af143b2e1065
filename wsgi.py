"""WSGI entry point: `gunicorn 'wsgi:create()'` (hub run does this)."""

from __future__ import annotations

from flask import Flask

from hub.http import create_app
from hub.logs import configure
from hub.runtime import Runtime
from hub.settings import Settings


def create() -> Flask:
    settings = Settings.from_env()
    configure(settings.log_format, settings.log_level)
    return create_app(Runtime.from_settings(settings))
