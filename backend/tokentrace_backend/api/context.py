"""Per-request access to the app's database and settings (FastAPI dependencies)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .database import ReadableDatabase
from .settings import ApiSettings


def database(request: Request) -> ReadableDatabase:
    db: ReadableDatabase = request.app.state.database
    return db


def settings(request: Request) -> ApiSettings:
    configured: ApiSettings = request.app.state.settings
    return configured


Db = Annotated[ReadableDatabase, Depends(database)]
Settings = Annotated[ApiSettings, Depends(settings)]
