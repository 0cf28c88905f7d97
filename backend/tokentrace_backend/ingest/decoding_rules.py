"""The rules both span decoders apply (the Python one and the compiled one read them from
here): which OTLP attribute fills which ``spans`` column, how an odd value is made to fit,
which captured headers are redacted, which URL query parameters are redacted, and how
much a request may expand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import orjson

from tokentrace._redact import URL_ATTRIBUTES, redact_query, redact_url
from tokentrace.attributes import (
    AUTH_OUTCOME,
    AUTH_OUTCOME_SOURCE,
    CREDENTIAL_QUERY_PARAMS,
    TOKEN_ID,
    TOKEN_KEY_ID,
    TOKEN_NAME,
    TOKEN_OWNER,
)
from tokentrace_backend.storage.span_rows import SPAN_SCHEMA

COLUMN: Final = {field.name: index for index, field in enumerate(SPAN_SCHEMA)}
URL_PATH: Final = COLUMN["url_path"]
HTTP_STATUS: Final = COLUMN["http_status"]
ERROR_TYPE: Final = COLUMN["error_type"]
ERROR_MESSAGE: Final = COLUMN["error_message"]

# Attribute key → (column, primary). A primary name always wins; a fallback (an older
# semantic-convention name) only fills a column that is still empty, whatever the order.
PROMOTED: Final[dict[str, tuple[int, bool]]] = {
    "http.request.method": (COLUMN["http_method"], True),
    "http.method": (COLUMN["http_method"], False),
    "http.route": (COLUMN["http_route"], True),
    "http.response.status_code": (HTTP_STATUS, True),
    "http.status_code": (HTTP_STATUS, False),
    "url.path": (URL_PATH, True),
    "http.target": (URL_PATH, False),  # path part only, see path_only
    "client.address": (COLUMN["client_address"], True),
    "net.peer.ip": (COLUMN["client_address"], False),
    "http.client_ip": (COLUMN["client_address"], False),
    "user_agent.original": (COLUMN["user_agent"], True),
    "http.user_agent": (COLUMN["user_agent"], False),
    "peer.service": (COLUMN["peer_service"], True),
    "db.system.name": (COLUMN["db_system"], True),
    "db.system": (COLUMN["db_system"], False),
    "server.address": (COLUMN["server_address"], True),
    "net.peer.name": (COLUMN["server_address"], False),
    "messaging.system": (COLUMN["messaging_system"], True),
    TOKEN_ID: (COLUMN["token_id"], True),
    TOKEN_KEY_ID: (COLUMN["token_key_id"], True),
    AUTH_OUTCOME: (COLUMN["auth_outcome"], True),
    AUTH_OUTCOME_SOURCE: (COLUMN["auth_outcome_source"], True),
    TOKEN_OWNER: (COLUMN["token_owner"], True),
    TOKEN_NAME: (COLUMN["token_name"], True),
    "error.type": (ERROR_TYPE, False),  # an exception event's type wins
}

ATTRIBUTES: Final = COLUMN["attributes"]
EVENTS: Final = COLUMN["events"]


# Every span row carries its resource's service name and version, so a small body with a
# huge service.name and many spans would expand into a huge table: a request may repeat at
# most this many bytes of them into its rows (a real one repeats a few hundred KiB).
MAX_REPEATED_RESOURCE_BYTES: Final = 64 * 1024 * 1024


def repeated_resource_problem(repeated: int) -> str | None:
    """Why a request whose resources repeat ``repeated`` bytes into its rows is refused."""
    if repeated <= MAX_REPEATED_RESOURCE_BYTES:
        return None
    return (
        f"the service names and versions of this request would fill {repeated} bytes of "
        f"rows (limit {MAX_REPEATED_RESOURCE_BYTES}): send fewer spans per request or "
        "shorter names"
    )


# --- URLs: the library's query rule (tokentrace._redact), for apps that run without it ----

QUERY_ATTRIBUTES: Final = ("url.query",)
"""URL attributes whose whole value is a query (``a=1&api_key=...``)."""
URL_VALUED_ATTRIBUTES: Final = tuple(key for key in URL_ATTRIBUTES if key not in QUERY_ATTRIBUTES)
"""URL attributes whose value is a URL or a target, with the query after ``?``."""
URL_HEADERS: Final = frozenset({"referer", "location"})
"""Captured headers (``http.request.header.referer``, ...) whose values are URLs."""
QUERY_PARAMS: Final = CREDENTIAL_QUERY_PARAMS
"""Query parameters whose value is stored as ``REDACTED`` (the key is kept)."""

URL_KEYS: Final = frozenset(URL_ATTRIBUTES)
_QUERY_KEYS: Final = frozenset(QUERY_ATTRIBUTES)
_URL_KEYS: Final = frozenset(URL_VALUED_ATTRIBUTES)


def redact_url_attribute(key: str, value: Any) -> Any:
    """An attribute value without the values of credential query parameters: a string
    value of a URL attribute (``url.query``, ``url.full``, ``http.target``, ``http.url``),
    as the library's ``redact_query`` / ``redact_url`` give it; anything else unchanged."""
    if not isinstance(value, str):
        return value
    if key in _QUERY_KEYS:
        return redact_query(value, QUERY_PARAMS)
    if key in _URL_KEYS:
        return redact_url(value, QUERY_PARAMS)
    return value


def redact_header_urls(value: Any) -> Any:
    """A captured ``Referer`` / ``Location`` value (a string, or a list whose strings are
    the values) with its URLs' credential query parameters redacted."""
    if isinstance(value, str):
        return redact_url(value, QUERY_PARAMS)
    if isinstance(value, list):
        return [redact_url(item, QUERY_PARAMS) if isinstance(item, str) else item for item in value]
    return value


def path_only(value: str | None) -> str | None:
    """``http.target`` carries the query too; keep only the path (queries may hold secrets)."""
    if value is not None and "?" in value:
        return value.partition("?")[0]
    return value


def as_text(value: Any) -> str | None:
    """A promoted value as text (non-strings as their JSON). NaN and the infinities, whose
    JSON is null, are None like an empty value, not the text "null"."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return orjson.dumps(value).decode("utf-8")


def as_status(value: Any) -> int | None:
    """An HTTP status code: a whole number (or a string of ASCII digits) that fits
    USMALLINT, else None. Booleans are not numbers here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    elif isinstance(value, str):
        digits = value.strip(_ASCII_WHITESPACE)
        if not (0 < len(digits) <= 5 and digits.isascii() and digits.isdigit()):
            return None
        value = int(digits)
    elif not isinstance(value, int):
        return None
    return value if 0 <= value <= 0xFFFF else None


_ASCII_WHITESPACE: Final = " \t\n\r\x0b\x0c"


def as_path(value: Any) -> str | None:
    """The path part of ``url.path`` / ``http.target``."""
    return path_only(as_text(value))


# Column → how a promoted value of an unexpected type is made to fit (default: as_text).
COERCE: Final[dict[int, Callable[[Any], Any]]] = {HTTP_STATUS: as_status, URL_PATH: as_path}
