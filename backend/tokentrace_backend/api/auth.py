"""API-key protection of ``/api``: ``Authorization: Bearer <key>``, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import Request

from tokentrace_backend.settings import ApiSettings

from .errors import Unauthorized


def require_api_key(request: Request) -> None:
    """FastAPI dependency: passes when no key is configured or the request presents it."""
    settings: ApiSettings = request.app.state.settings
    if settings.api_key is None:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized("this API needs Authorization: Bearer <TOKENTRACE_API_KEY>")
    if not hmac.compare_digest(presented.strip().encode(), settings.api_key.encode()):
        raise Unauthorized("wrong API key")
