"""The correlation API (``/api/*``) over the spans database."""

from __future__ import annotations

from .app import create_api_app
from .database import ReadableDatabase
from .settings import API_KEY_ENV, JAEGER_URL_ENV

__all__ = ["API_KEY_ENV", "JAEGER_URL_ENV", "ReadableDatabase", "create_api_app"]
