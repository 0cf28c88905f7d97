"""Find the credential a request carries, from the configured sources, in order.

Framework-neutral: the ASGI and WSGI adapters hand over header values, the raw query
string and the Cookie header; this module knows the Authorization schemes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Final
from urllib.parse import parse_qsl

from tokentrace._settings import TokenSource

# Authorization schemes that carry an API key (compared lowercase).
_API_KEY_SCHEMES: Final = frozenset({"apikey", "api-key", "api_key", "x-api-key", "key"})
_PLAIN_SCHEMES: Final = frozenset({"bearer", "token"})


@dataclass(frozen=True)
class Credential:
    """What a request presented. ``secret`` is the raw token (never leaves the process).

    ``secret`` is empty when the request presented a credential that cannot be used
    (``Bearer `` with nothing after it, Basic that does not decode): it is malformed.
    """

    secret: str
    source: str  # header:authorization, query:api_key, cookie:session, ...
    scheme: str  # bearer, basic, token, apikey, ... ("" when the source has no scheme)
    basic_user: str | None = None

    @property
    def malformed(self) -> bool:
        return not self.secret


HeaderLookup = Callable[[str], str | None]


def parse_authorization(value: str, source: str) -> Credential:
    """Split an Authorization-style header into scheme and secret."""
    stripped = value.strip()
    scheme, sep, rest = stripped.partition(" ")
    lowered = scheme.lower()
    secret = rest.strip()
    if lowered == "basic":
        return _parse_basic(secret, source)
    if lowered in _PLAIN_SCHEMES:
        return Credential(secret=secret, source=source, scheme=lowered)
    if lowered in _API_KEY_SCHEMES:
        return Credential(secret=secret, source=source, scheme="apikey")
    if not sep:
        # A bare value with no scheme: the whole value is the token.
        return Credential(secret=stripped, source=source, scheme="")
    return Credential(secret=secret, source=source, scheme=lowered)


def _parse_basic(encoded: str, source: str) -> Credential:
    """Basic: the fingerprint covers the whole ``user:password``; the subject is the user.
    An empty password (``key:``) is a credential too; an empty pair (``:``), no colon, or
    bytes that do not decode are malformed."""
    try:
        decoded = base64.b64decode(encoded.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError):
        return Credential(secret="", source=source, scheme="basic")
    user, sep, password = decoded.partition(":")
    if not sep or not (user or password):
        return Credential(secret="", source=source, scheme="basic", basic_user=user or None)
    if not password:
        # ``sk_live_...:``: an API key sent as the user name (Stripe's style). A real
        # credential; the user *is* the secret, so it is no subject.
        return Credential(secret=decoded, source=source, scheme="basic")
    return Credential(secret=decoded, source=source, scheme="basic", basic_user=user or None)


def _query_value(query_string: str, name: str) -> str | None:
    """The parameter's value; "" (unusable) when it is repeated with different values,
    because frameworks disagree on which one wins (Flask the first, Starlette the last)
    and a decoy first value must not be recorded as the token that was used."""
    if name not in query_string and "%" not in query_string:
        return None  # cheap pre-check: most requests carry no token there
    values = {
        value for key, value in parse_qsl(query_string, keep_blank_values=True) if key == name
    }
    if not values:
        return None
    return values.pop() if len(values) == 1 else ""


def _cookie_value(cookie_header: str | None, name: str) -> str | None:
    if not cookie_header or name not in cookie_header:
        return None
    try:
        morsel = SimpleCookie(cookie_header).get(name)
    except CookieError:
        return None
    return morsel.value if morsel is not None else None


def extract_credential(
    sources: tuple[TokenSource, ...],
    header: HeaderLookup,
    query_string: str,
) -> Credential | None:
    """The first credential found in ``sources``, or None when the request has none."""
    for source in sources:
        label = str(source)
        if source.location == "header":
            value = header(source.name)
            if value is None:
                continue
            if source.name in ("authorization", "proxy-authorization"):
                return parse_authorization(value, label)
            return Credential(secret=value.strip(), source=label, scheme="apikey")
        if source.location == "query":
            value = _query_value(query_string, source.name)
            if value is not None:
                return Credential(secret=value, source=label, scheme="apikey")
        else:
            value = _cookie_value(header("cookie"), source.name)
            if value is not None:
                return Credential(secret=value, source=label, scheme="cookie")
    return None
