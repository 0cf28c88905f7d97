"""Dashboard sessions: a sign-in that keeps ``TOKENTRACE_API_KEY`` out of URLs.

A browser cannot put ``Authorization: Bearer`` on an ``EventSource`` or a link, and a key
in a query string ends in access logs and history. So the dashboard posts the key once to
``POST /api/session`` and gets back a cookie holding a session, not the key:
``<expires>.<nonce>.<mac>``, where ``mac`` is HMAC-SHA256 keyed by the API key over the
expiry and the nonce. A session is valid until it expires (``SESSION_SECONDS``) or the API
key changes; there is no server-side session store.

The cookie is ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict`` (no cross-site
request carries it), scoped to ``/api`` and ``Secure`` on HTTPS. A request authenticated by
the cookie alone that changes something (any method but GET and HEAD) must also carry
``X-Tokentrace-Dashboard: 1``: another origin cannot add that header without a CORS
preflight, which this API never grants.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from tokentrace_backend.bearer import key_matches
from tokentrace_backend.settings import ApiSettings

from .errors import Unauthorized

logger = logging.getLogger(__name__)

SESSION_COOKIE: Final = "tokentrace_session"
SESSION_SECONDS: Final = 12 * 3600
DASHBOARD_HEADER: Final = "x-tokentrace-dashboard"
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
_CONTEXT: Final = b"tokentrace-session:"

router = APIRouter(prefix="/session", tags=["session"])


def _mac(api_key: str, expires: int, nonce: str) -> str:
    message = _CONTEXT + f"{expires}.{nonce}".encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()


def new_session(api_key: str, now_s: float) -> tuple[str, int]:
    """A session value for ``api_key``, and when it expires (unix seconds)."""
    expires = int(now_s) + SESSION_SECONDS
    nonce = secrets.token_hex(16)
    return f"{expires}.{nonce}.{_mac(api_key, expires, nonce)}", expires


def session_is_valid(value: str, api_key: str, now_s: float) -> bool:
    """Whether ``value`` is a session made with ``api_key`` that has not expired."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(value) > 200:
        return False
    expires, nonce, mac = int(parts[0]), parts[1], parts[2]
    if expires <= now_s:
        return False
    return hmac.compare_digest(mac.encode(), _mac(api_key, expires, nonce).encode())


def authenticated_by_session(request: Request, api_key: str) -> bool:
    """Whether the request's session cookie is valid, raising :class:`Unauthorized` when
    a cookie-only request that changes something lacks the dashboard header."""
    value = request.cookies.get(SESSION_COOKIE)
    if value is None or not session_is_valid(value, api_key, time.time()):
        return False
    if request.method not in SAFE_METHODS and request.headers.get(DASHBOARD_HEADER) != "1":
        raise Unauthorized(f"a session-authenticated change needs the {DASHBOARD_HEADER} header")
    return True


class SignIn(BaseModel):
    """The body of ``POST /api/session``."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=1024, description="the TOKENTRACE_API_KEY")


class SessionState(BaseModel):
    key_required: bool = Field(description="whether this API has a key (TOKENTRACE_API_KEY)")
    signed_in: bool = Field(description="whether this request may read the API")
    expires_at: datetime | None = Field(description="when the session ends, when there is one")


def _settings(request: Request) -> ApiSettings:
    configured: ApiSettings = request.app.state.settings
    return configured


@router.get("", response_model=SessionState)
def session_state(request: Request) -> SessionState:
    """Whether a key is needed and whether this browser is signed in (always open)."""
    api_key = _settings(request).api_key
    if api_key is None:
        return SessionState(key_required=False, signed_in=True, expires_at=None)
    value = request.cookies.get(SESSION_COOKIE, "")
    valid = session_is_valid(value, api_key, time.time())
    expires = datetime.fromtimestamp(int(value.split(".")[0]), UTC) if valid else None
    return SessionState(key_required=True, signed_in=valid, expires_at=expires)


@router.post("", response_model=SessionState, max_body_size=4096)
def sign_in(
    request: Request, response: Response, sign_in: Annotated[SignIn, Body()]
) -> SessionState:
    """Exchange the API key for a session cookie (the key is never stored or echoed)."""
    api_key = _settings(request).api_key
    if api_key is None:
        return SessionState(key_required=False, signed_in=True, expires_at=None)
    if not key_matches(sign_in.key, api_key):
        client = request.client.host if request.client else "?"
        logger.warning("dashboard sign-in with a wrong API key from %s", client)
        raise Unauthorized("wrong API key")
    value, expires = new_session(api_key, time.time())
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_SECONDS,
        path="/api",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return SessionState(
        key_required=True, signed_in=True, expires_at=datetime.fromtimestamp(expires, UTC)
    )


@router.delete("", response_model=SessionState)
def sign_out(request: Request, response: Response) -> SessionState:
    """Forget this browser's session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/api", httponly=True, samesite="strict")
    required = _settings(request).api_key is not None
    return SessionState(key_required=required, signed_in=not required, expires_at=None)
