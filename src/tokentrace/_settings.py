"""Settings as data: every environment variable the library reads, the token sources, and
the resolved settings of a middleware.

Constructor arguments win; environment variables are the fallback; values are validated
when the middleware is built, so a bad setting fails at start-up, not on a request. The
options themselves are declared once, by :class:`tokentrace._middleware.TokenMiddleware`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, Literal, NamedTuple

from tokentrace.attributes import CREDENTIAL_HEADERS, CREDENTIAL_QUERY_PARAMS

ENV_HASH_KEY: Final = "TOKENTRACE_HASH_KEY"
"""The secret HMAC key for fingerprints (at least 32 bytes). Same value in every service."""
ENV_HASH_KEY_ID: Final = "TOKENTRACE_HASH_KEY_ID"
"""A non-secret name for the key, recorded as ``tokentrace.token.key_id`` (key rotation)."""
ENV_SOURCES: Final = "TOKENTRACE_SOURCES"
"""Comma-separated token sources, e.g. ``header:authorization,query:api_key,cookie:session``."""
ENV_PROPAGATE: Final = "TOKENTRACE_PROPAGATE"
"""``false`` stops the token id from travelling to downstream services in W3C baggage."""
ENV_SUBJECT_PLAIN: Final = "TOKENTRACE_SUBJECT_PLAIN"
"""``true`` records JWT ``sub`` / Basic user names in plain text instead of fingerprinted."""
ENV_RAISE_INTERNAL_ERRORS: Final = "TOKENTRACE_RAISE_INTERNAL_ERRORS"
"""``true`` lets the errors tokentrace swallows propagate instead (its own, and those of an
app's owner resolver): tokentrace's test suite sets it, so that a swallowed bug fails a
test; a developer may set it to debug. Never in production."""


class SettingsError(ValueError):
    """A tokentrace option or environment variable has an unusable value."""


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def env_flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """A boolean environment variable (true/false, yes/no, on/off, 1/0); unset → default."""
    raw = (environ if environ is not None else os.environ).get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r}: expected true or false")


# --- token sources -------------------------------------------------------------------------

Location = Literal["header", "query", "cookie"]
_LOCATIONS: Final = ("header", "query", "cookie")


@dataclass(frozen=True)
class TokenSource:
    """One place to look for a token, written ``location:name`` (``query:api_key``)."""

    location: Location
    name: str

    def __str__(self) -> str:
        return f"{self.location}:{self.name}"


DEFAULT_SOURCES: Final = (
    TokenSource("header", "authorization"),
    TokenSource("header", "x-api-key"),
    TokenSource("query", "api_key"),
    TokenSource("query", "access_token"),
    TokenSource("query", "token"),
    TokenSource("query", "key"),
)

SourcesOption = str | list[str] | tuple[str, ...] | None
"""The ``sources`` option: ``"header:authorization,query:api_key"`` or a list of items."""


def parse_sources(spec: str | Iterable[str]) -> tuple[TokenSource, ...]:
    """Parse ``"header:authorization,query:api_key"`` (or a list of such items).

    Raises SettingsError (a ValueError) naming the offending item.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    sources: list[TokenSource] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        location, sep, name = text.partition(":")
        location = location.strip().lower()
        name = name.strip()
        if not sep or not name or location not in _LOCATIONS:
            raise SettingsError(
                f"token source {text!r}: expected header:NAME, query:NAME or cookie:NAME"
            )
        if location == "header":
            name = name.lower()
        sources.append(TokenSource(location, name))  # type: ignore[arg-type]
    if not sources:
        raise SettingsError("no token sources given")
    return tuple(sources)


def resolve_sources(sources: SourcesOption) -> tuple[TokenSource, ...]:
    """The ``sources`` option, else ``TOKENTRACE_SOURCES``, else the defaults."""
    if sources is None:
        sources = os.environ.get(ENV_SOURCES) or None
    return DEFAULT_SOURCES if sources is None else parse_sources(sources)


# --- owners --------------------------------------------------------------------------------


class Owner(NamedTuple):
    """Who a token belongs to, as the application knows it."""

    owner: str
    owner_type: str | None = None  # user | service | automation
    name: str | None = None  # the token's human label


OwnerResolver = Callable[[str, Mapping[str, Any]], Owner | None]
"""Maps (token id, unverified JWT claims) to the token's owner, or None when unknown."""


# --- resolved settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """A middleware's options after the environment fallback, validated."""

    sources: tuple[TokenSource, ...] = DEFAULT_SOURCES
    propagate: bool = True
    accept_baggage: bool = True
    subject_plain: bool = False
    owner_resolver: OwnerResolver | None = None

    @cached_property
    def redact_query_params(self) -> frozenset[str]:
        """Query parameters to redact in URLs: the configured query sources and the usual
        credential parameters."""
        configured = {source.name for source in self.sources if source.location == "query"}
        return frozenset(configured | CREDENTIAL_QUERY_PARAMS)

    @cached_property
    def sensitive_headers(self) -> frozenset[str]:
        """Headers never exported: the configured header sources and the credential ones."""
        configured = {source.name for source in self.sources if source.location == "header"}
        return frozenset(configured | CREDENTIAL_HEADERS)
