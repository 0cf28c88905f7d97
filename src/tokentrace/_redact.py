"""Keep raw tokens out of URL and header span attributes, and out of free text.

The official instrumentation records ``url.query``, ``url.full``, ``http.target`` and
``http.url`` and, on request, raw header values. tokentrace redacts token-bearing query
parameters (the key stays, the value becomes ``REDACTED``, as the semantic conventions do)
and sensitive headers, before the attributes are made where it can, and by rewriting
the attributes of a span it does not own.

The process-wide lists of what to redact live here too: every middleware adds the sources
it was configured with, so that the span processor (one per tracer provider) scrubs what
any of them would treat as a token.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, unquote_plus

from opentelemetry.trace import Span

from tokentrace.attributes import (
    CREDENTIAL_HEADERS,
    CREDENTIAL_QUERY_PARAMS,
    REDACTED,
    REDACTED_HEADER,
    captured_header_name,
)

URL_ATTRIBUTES: Final = ("url.query", "url.full", "http.target", "http.url")

# --- what the process redacts (copy-on-write: lock-free reads on the hot path) ------------

_lock = threading.Lock()
_params: frozenset[str] = CREDENTIAL_QUERY_PARAMS
_headers: frozenset[str] = CREDENTIAL_HEADERS

_HEADER_CAPTURE_VARIABLES: Final = tuple(
    f"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_{side}_{direction}"
    for side in ("SERVER", "CLIENT")
    for direction in ("REQUEST", "RESPONSE")
)


def headers_captured_by_environment() -> bool:
    """Whether the OTel instrumentations are asked (by their environment variables) to
    record header values."""
    return any(os.environ.get(name) for name in _HEADER_CAPTURE_VARIABLES)


_headers_captured = headers_captured_by_environment()


def register(
    params: Iterable[str], headers: Iterable[str], *, captures_headers: bool = False
) -> None:
    """Add a middleware's sources; re-read whether any instrumentation captures headers
    (the OTel instrumentations take that from these environment variables, or from their
    arguments: ``captures_headers`` says a middleware was configured to capture some)."""
    global _params, _headers, _headers_captured, _captured_by_arguments, current_config  # noqa: PLW0603 - copy-on-write, lock-free reads
    with _lock:
        _params = _params | frozenset(params)
        _headers = _headers | frozenset(name.lower() for name in headers)
        _captured_by_arguments = _captured_by_arguments or captures_headers
        _headers_captured = _captured_by_arguments or headers_captured_by_environment()
        current_config = (_params, _headers, _headers_captured, redaction_hint(_params))


_captured_by_arguments = False


def headers_may_be_captured() -> bool:
    """Whether captured-header span attributes can exist (so must be scrubbed)."""
    return _headers_captured


def sensitive_query_params() -> frozenset[str]:
    return _params


def sensitive_headers() -> frozenset[str]:
    return _headers


ScrubConfig = tuple[frozenset[str], frozenset[str], bool, re.Pattern[str]]


def scrub_config() -> ScrubConfig:
    """(query parameters, headers, whether headers may be captured, the parameters'
    :func:`redaction_hint`): the span processor's view, which reads it as each span ends
    (as the module attribute ``current_config``, without a call)."""
    return current_config


# --- URLs and headers ----------------------------------------------------------------------


def _param_key(pair: str) -> str:
    return unquote_plus(pair.partition("=")[0])


_hint_patterns: dict[frozenset[str], re.Pattern[str]] = {}


def redaction_hint(params: Collection[str]) -> re.Pattern[str]:
    """A pattern found in every query that may hold one of ``params``: one of the names, or
    an encoded character (``%``, ``+``) that could spell one. Compiled once per set."""
    key = params if isinstance(params, frozenset) else frozenset(params)
    pattern = _hint_patterns.get(key)
    if pattern is None:
        names = sorted((re.escape(name) for name in key if name), key=len, reverse=True)
        pattern = re.compile("|".join(["%", r"\+", *names]))
        if len(_hint_patterns) < 64:  # one per distinct set of sources: a handful
            _hint_patterns[key] = pattern
    return pattern


def needs_redaction(query: str, params: Collection[str]) -> bool:
    """Whether ``query`` holds a value for one of ``params`` (cheap, no allocation-heavy parse)."""
    if "=" not in query or redaction_hint(params).search(query) is None:
        return False  # the common case, decided by one substring search
    return any(_param_key(pair) in params for pair in query.split("&"))


def redact_query(query: str, params: Collection[str]) -> str:
    """``a=1&api_key=s3cr3t`` → ``a=1&api_key=REDACTED``; order and other pairs kept."""
    if not needs_redaction(query, params):
        return query
    pairs = []
    for pair in query.split("&"):
        key, sep, _ = pair.partition("=")
        if sep and unquote_plus(key) in params:
            pairs.append(f"{key}={REDACTED}")
        else:
            pairs.append(pair)
    return "&".join(pairs)


def redact_url(url: str, params: Collection[str]) -> str:
    """Redact the token-bearing parameters of the query part of a URL or a target."""
    base, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hash_sep, fragment = rest.partition("#")
    return base + "?" + redact_query(query, params) + hash_sep + fragment


def redact_query_bytes(query: bytes, params: Collection[str]) -> bytes:
    """The ASGI form (``scope["query_string"]`` is bytes, latin-1)."""
    text = query.decode("latin-1")
    redacted = redact_query(text, params)
    return query if redacted is text else redacted.encode("latin-1")


def scrub_url_attributes(
    attributes: Mapping[str, Any],
    params: Collection[str],
    hint: re.Pattern[str] | None = None,
) -> dict[str, Any]:
    """Replacement values for URL attributes that carry a token; empty if none. ``hint``:
    ``redaction_hint(params)``, when the caller has it at hand."""
    changes: dict[str, Any] = {}
    if hint is None:
        hint = redaction_hint(params)
    for key in URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and "=" in value and hint.search(value) is not None:
            if key == "url.query":
                cleaned = redact_query(value, params)
            else:
                cleaned = redact_url(value, params)
            if cleaned != value:
                changes[key] = cleaned
    return changes


def scrub_header_attributes(
    attributes: Mapping[str, Any], params: Collection[str], headers: Collection[str]
) -> dict[str, Any]:
    """Replacements for captured headers: sensitive ones become ``[REDACTED]``; any other
    value that holds a URL (``Location``, ``Referer``) loses its token-bearing parameters."""
    changes: dict[str, Any] = {}
    for key, value in attributes.items():
        name = captured_header_name(key)
        if name is None:
            continue
        if name in headers:
            if value != (REDACTED_HEADER,):
                changes[key] = (REDACTED_HEADER,)
        elif isinstance(value, tuple | list):
            cleaned = tuple(
                redact_url(item, params) if isinstance(item, str) and "=" in item else item
                for item in value
            )
            if cleaned != tuple(value):
                changes[key] = cleaned
    return changes


def scrub_attributes(
    attributes: Mapping[str, Any],
    params: Collection[str],
    headers: Collection[str],
) -> dict[str, Any]:
    """Replacement values for every attribute that would carry a token; empty if none."""
    plain = dict(attributes)  # one copy: Mapping access on span attributes is slow
    changes = scrub_url_attributes(plain, params)
    changes.update(scrub_header_attributes(plain, params, headers))
    return changes


def scrub_span(span: Span, params: Collection[str], headers: Collection[str]) -> None:
    """Rewrite the token-bearing attributes of a live span (one it did not create)."""
    attributes = getattr(span, "attributes", None)
    if not attributes or not span.is_recording():
        return
    changes = scrub_attributes(attributes, params, headers)
    if changes:
        span.set_attributes(changes)


current_config: ScrubConfig = (_params, _headers, _headers_captured, redaction_hint(_params))

# --- free text -----------------------------------------------------------------------------


def query_param_pattern(params: Collection[str]) -> re.Pattern[str]:
    """Matches ``name=value`` pairs of ``params`` inside free text (a log line, a reason),
    percent-encoded names and any letter case included; group 1 is ``name=``."""
    names = set()
    for name in params:
        names.add(re.escape(name))
        names.add(re.escape(quote(name, safe="")).replace("_", "%5F"))
    alternatives = "|".join(sorted(names, key=len, reverse=True))
    return re.compile(rf"([?&;](?:{alternatives})=)[^&\s\"'#]*", re.IGNORECASE)


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """Cut any of the request's raw secrets out of ``text`` (an app-written reason, say)."""
    for value in secrets:
        if len(value) >= 4 and value in text:
            text = text.replace(value, REDACTED)
    return text
