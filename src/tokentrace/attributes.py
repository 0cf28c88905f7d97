"""The vocabulary shared by the tokentrace library and its backend: span attribute names,
the values they take, and the markers and header names of redaction.

OpenTelemetry has no semantic convention for credentials or authentication outcomes, so
tokentrace uses its own ``tokentrace.`` namespace. Each attribute is described in
docs/library.md#span-attributes. The backend's code imports its names and values from here;
the few its SQL spells out are checked against these by ``tests/test_layout.py``.
"""

from __future__ import annotations

import enum
from typing import Final

TOKEN_ID: Final = "tokentrace.token.id"
TOKEN_KEY_ID: Final = "tokentrace.token.key_id"
TOKEN_SOURCE: Final = "tokentrace.token.source"
TOKEN_SCHEME: Final = "tokentrace.token.scheme"
TOKEN_KIND: Final = "tokentrace.token.kind"
TOKEN_CLIENT_ID: Final = "tokentrace.token.client_id"
TOKEN_SUBJECT: Final = "tokentrace.token.subject"
TOKEN_ISSUER: Final = "tokentrace.token.issuer"
TOKEN_ISSUED_AT: Final = "tokentrace.token.issued_at"
TOKEN_EXPIRES_AT: Final = "tokentrace.token.expires_at"
TOKEN_SCOPES: Final = "tokentrace.token.scopes"
TOKEN_OWNER: Final = "tokentrace.token.owner"
TOKEN_OWNER_TYPE: Final = "tokentrace.token.owner_type"
TOKEN_NAME: Final = "tokentrace.token.name"

AUTH_OUTCOME: Final = "tokentrace.auth.outcome"
AUTH_OUTCOME_SOURCE: Final = "tokentrace.auth.outcome_source"
AUTH_REASON: Final = "tokentrace.auth.reason"
AUTH_REQUIRED_SCOPES: Final = "tokentrace.auth.required_scopes"


class AuthOutcome(enum.StrEnum):
    """The values of ``tokentrace.auth.outcome``."""

    SUCCESS = "success"
    MISSING = "missing"
    MALFORMED = "malformed"
    INVALID = "invalid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    ERROR = "error"


# Lifecycle events (record_lifecycle) are short INTERNAL spans with these attributes.
LIFECYCLE_EVENT_NAME: Final = "tokentrace.lifecycle"
LIFECYCLE_EVENT: Final = "tokentrace.lifecycle.event"
LIFECYCLE_NEW_TOKEN_ID: Final = "tokentrace.lifecycle.new_token_id"
LIFECYCLE_ACTOR: Final = "tokentrace.lifecycle.actor"
LIFECYCLE_EVENTS: Final = ("created", "rotated", "revoked", "renewed", "expired")
"""The values of ``tokentrace.lifecycle.event``."""

# The W3C baggage member that carries the token id to downstream services.
BAGGAGE_TOKEN_ID: Final = TOKEN_ID

# --- redaction ----------------------------------------------------------------------------
REDACTED: Final = "REDACTED"
"""What replaces a token-bearing value in a URL (``?api_key=REDACTED``), as the HTTP
semantic conventions ask for ``url.query``; also what replaces a raw token cut out of text."""
REDACTED_HEADER: Final = "[REDACTED]"
"""What replaces a credential header's captured value: the marker OpenTelemetry's own
header sanitizer writes, so that a header looks the same whoever sanitized it."""

CREDENTIAL_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
"""Headers whose values are credentials, whatever token sources are configured: their
captured values never leave the library, nor are they stored by the backend."""
CREDENTIAL_QUERY_PARAMS: Final = frozenset({"api_key", "access_token", "token", "key"})
"""Query parameters redacted in every URL attribute, whatever token sources are configured."""
HEADER_ATTRIBUTE_PREFIXES: Final = ("http.request.header.", "http.response.header.")
"""The prefixes of OpenTelemetry's opt-in captured-header attributes."""

# --- client addresses -----------------------------------------------------------------------
CLIENT_ADDRESS_ATTRIBUTES: Final = frozenset(
    {
        "client.address",
        "net.peer.ip",
        "http.client_ip",
        "network.peer.address",
        "net.sock.peer.addr",
        "http.request.header.x-forwarded-for",
        "http.request.header.x_forwarded_for",
        "http.request.header.forwarded",
        "http.request.header.x-real-ip",
        "http.request.header.x_real_ip",
    }
)
"""Span and resource attributes that carry a client's network address (a header capture
may hold several, ``"203.0.113.7, 10.0.0.1"`` or ``for=203.0.113.7;proto=https``): what the
backend's ``--client-ip truncate|drop`` rewrites before anything is stored."""


def captured_header_name(attribute_key: str) -> str | None:
    """The header a captured-header attribute holds, lowercase and with ``-``
    (``http.request.header.x_api_key`` → ``x-api-key``); None for any other attribute."""
    lowered = attribute_key.lower()
    for prefix in HEADER_ATTRIBUTE_PREFIXES:
        if lowered.startswith(prefix):
            return lowered[len(prefix) :].replace("_", "-")
    return None
