"""Keep raw tokens out of URL and header span attributes.

The official instrumentation records ``url.query``, ``url.full``, ``http.target`` and
``http.url`` and, on request, raw header values. tokentrace redacts token-bearing query
parameters (the key stays, the value becomes ``REDACTED``, as the semantic conventions do)
and sensitive headers, before the attributes are made where it can, and by rewriting
the attributes of a span it does not own.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, unquote_plus

from opentelemetry.trace import Span

REDACTED: Final = "REDACTED"
REDACTED_HEADER: Final = "[REDACTED]"  # what the OTel header sanitizer writes

URL_ATTRIBUTES: Final = ("url.query", "url.full", "http.target", "http.url")
_HEADER_PREFIXES: Final = ("http.request.header.", "http.response.header.")


def _param_key(pair: str) -> str:
    return unquote_plus(pair.partition("=")[0])


def needs_redaction(query: str, params: Collection[str]) -> bool:
    """Whether ``query`` holds a value for one of ``params`` (cheap, no allocation-heavy parse)."""
    if "=" not in query:
        return False
    if "%" not in query and "+" not in query and not any(param in query for param in params):
        return False  # the common case, decided by substring search alone
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


def _is_sensitive_header_attribute(key: str, headers: Collection[str]) -> bool:
    if not key.startswith(_HEADER_PREFIXES):
        return False
    name = key.split(".", 3)[3].replace("_", "-")
    return name in headers


def scrub_url_attributes(attributes: Mapping[str, Any], params: Collection[str]) -> dict[str, Any]:
    """Replacement values for URL attributes that carry a token; empty if none."""
    changes: dict[str, Any] = {}
    for key in URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and "=" in value:
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
        if not key.startswith(_HEADER_PREFIXES):
            continue
        if _is_sensitive_header_attribute(key, headers):
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
