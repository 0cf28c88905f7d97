"""The correlation API (``/api/*``) over the spans database."""

from __future__ import annotations

from .app import create_api_app
from .database import ReadableDatabase

__all__ = ["ReadableDatabase", "create_api_app"]
