"""Settings as data: every environment variable tokentrace reads, and how options resolve.

Constructor arguments win; environment variables are the fallback; values are validated
when the middleware is built, so a bad setting fails at start-up, not on a request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from tokentrace._owner import Owner
from tokentrace._sources import DEFAULT_SOURCES, SettingsError, TokenSource, parse_sources

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

OwnerResolver = Callable[[str, Mapping[str, Any]], Owner | None]
"""Maps (token id, unverified JWT claims) to the token's owner, or None when unknown."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    """Resolved middleware settings (see :func:`resolve_settings`)."""

    sources: tuple[TokenSource, ...] = DEFAULT_SOURCES
    propagate: bool = True
    accept_baggage: bool = True
    subject_plain: bool = False
    owner_resolver: OwnerResolver | None = None
    redact_query_params: frozenset[str] = field(default_factory=frozenset)
    sensitive_headers: frozenset[str] = field(default_factory=frozenset)


def env_flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    raw = (environ if environ is not None else os.environ).get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r}: expected true or false")


# Always treated as secret when captured as span attributes, whatever the sources say.
ALWAYS_SENSITIVE_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"}
)
ALWAYS_REDACTED_QUERY_PARAMS: Final = frozenset({"api_key", "access_token", "token", "key"})


def resolve_settings(
    *,
    sources: str | list[str] | tuple[str, ...] | None = None,
    propagate: bool | None = None,
    accept_baggage: bool = True,
    subject_plain: bool | None = None,
    owner_resolver: OwnerResolver | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge constructor options with the environment into validated :class:`Settings`."""
    env = environ if environ is not None else os.environ
    if sources is None:
        sources = env.get(ENV_SOURCES) or None
    parsed = DEFAULT_SOURCES if sources is None else parse_sources(sources)
    query_params = {s.name for s in parsed if s.location == "query"}
    headers = {s.name for s in parsed if s.location == "header"}
    return Settings(
        sources=parsed,
        propagate=env_flag(ENV_PROPAGATE, True, env) if propagate is None else propagate,
        accept_baggage=accept_baggage,
        subject_plain=(
            env_flag(ENV_SUBJECT_PLAIN, False, env) if subject_plain is None else subject_plain
        ),
        owner_resolver=owner_resolver,
        redact_query_params=frozenset(query_params | ALWAYS_REDACTED_QUERY_PARAMS),
        sensitive_headers=frozenset(headers | ALWAYS_SENSITIVE_HEADERS),
    )
