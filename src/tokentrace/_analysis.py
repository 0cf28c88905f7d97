"""What a request's credential tells the trace: its fingerprint, the claims around it and
its owner.

Framework-neutral; the adapters call :meth:`TokenAnalyzer.analyze` with a header lookup
and the query string, and put the resulting attributes on the request's SERVER span.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, quote_plus

from opentelemetry.util.types import AttributeValue

from tokentrace import attributes as attr
from tokentrace._extract import Credential, HeaderLookup, extract_credential
from tokentrace._failsafe import failsafe
from tokentrace._fingerprint import Fingerprinter
from tokentrace._jwt import read_claims
from tokentrace._settings import Owner, OwnerResolver, Settings

_CACHE_ENTRIES: Final = 4096
_MAX_CACHED_VALUE: Final = 1024  # longer header values are analysed each time, not kept
_MIN_SECRET_FORM: Final = 4  # shorter strings would be cut out of unrelated text


def raw_forms(credential: Credential) -> tuple[str, ...]:
    """The forms in which a credential may show up in text: raw, percent-encoded, and for
    Basic the password alone and the base64 ``user:password`` of the header."""
    secret = credential.secret
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    if credential.scheme == "basic":
        user, _, password = secret.partition(":")
        # The password alone; for ``key:`` (an API key as the user name) the key alone.
        alone = password or user
        forms |= {alone, quote(alone, safe=""), quote_plus(alone)}
        forms.add(base64.b64encode(secret.encode("utf-8")).decode("ascii"))
    ordered = sorted(forms, key=len, reverse=True)  # longest first: cut whole forms
    return tuple(form for form in ordered if len(form) >= _MIN_SECRET_FORM)


@dataclass(frozen=True)
class TokenInfo:
    """A request's credential, reduced to what may leave the process (shared between
    requests with the same credential: never mutate it)."""

    token_id: str | None  # None: no token, or an unusable (malformed) credential
    malformed: bool
    expires_at: int | None
    claims: Mapping[str, Any]
    span_attributes: dict[str, AttributeValue] = field(default_factory=dict)
    secret: str = field(default="", repr=False)  # the raw token: in-process only
    raw_forms: tuple[str, ...] = field(default=(), repr=False)  # encodings of it, ditto

    def secrets(self) -> tuple[str, ...]:
        """Every form of the raw token to keep out of text tokentrace writes or exports:
        the token, its percent-encodings, and for Basic the password and the base64 pair."""
        return self.raw_forms

    @property
    def has_token(self) -> bool:
        return self.token_id is not None


NO_TOKEN = TokenInfo(token_id=None, malformed=False, expires_at=None, claims={})


class CachedOwnerResolver:
    """Calls the application's resolver once per token id; a resolver that raises is
    logged once and treated as 'unknown' (the request is not affected)."""

    def __init__(self, resolver: OwnerResolver, max_entries: int = 10_000) -> None:
        self._resolver = resolver
        self._max_entries = max_entries
        self._cache: dict[str, Owner | None] = {}

    def resolve(self, token_id: str, claims: Mapping[str, Any]) -> Owner | None:
        try:
            return self._cache[token_id]
        except KeyError:
            pass
        with failsafe("owner resolver") as guard:  # the app's own code: never break a request
            owner = self._resolver(token_id, claims)
        if guard.failed:
            return None
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[token_id] = owner
        return owner


class TokenAnalyzer:
    """Turns a request's credential into span attributes (fingerprints, never the token)."""

    def __init__(self, settings: Settings, fingerprinter: Fingerprinter) -> None:
        self.settings = settings
        self.fingerprinter = fingerprinter
        self._owners = (
            CachedOwnerResolver(settings.owner_resolver) if settings.owner_resolver else None
        )
        first = settings.sources[0] if settings.sources else None
        self._first_header = first.name if first and first.location == "header" else None
        self._first_label = str(first) if first else ""
        self._by_first_header: dict[str, TokenInfo] = {}

    def analyze(self, header: HeaderLookup, query_string: str) -> TokenInfo:
        # Fast path: the usual request carries its token in the first header source, and
        # the same few tokens repeat, so the raw header value is the cache key.
        if self._first_header is not None:
            value = header(self._first_header)
            if value is not None:
                cached = self._by_first_header.get(value)
                if cached is not None:
                    return cached
        credential = extract_credential(self.settings.sources, header, query_string)
        if credential is None:
            return NO_TOKEN
        info = self.describe(credential)
        if len(self._by_first_header) >= _CACHE_ENTRIES:
            self._by_first_header.clear()  # crude but bounded; repeated tokens refill it
        if self._first_header is not None and credential.source == self._first_label:
            value = header(self._first_header) or ""
            if len(value) <= _MAX_CACHED_VALUE:
                self._by_first_header[value] = info
        return info

    def describe(self, credential: Credential) -> TokenInfo:
        values: dict[str, AttributeValue] = {attr.TOKEN_SOURCE: credential.source}
        if credential.scheme:
            values[attr.TOKEN_SCHEME] = credential.scheme
        if credential.malformed:
            return TokenInfo(None, True, None, {}, values)
        token_id = self.fingerprinter.fingerprint(credential.secret)
        values[attr.TOKEN_ID] = token_id
        values[attr.TOKEN_KEY_ID] = self.fingerprinter.key_id
        claims = read_claims(credential.secret)
        expires_at = None
        raw_claims: Mapping[str, Any] = {}
        if claims is None:
            values[attr.TOKEN_KIND] = "opaque"
            subject = credential.basic_user
        else:
            values[attr.TOKEN_KIND] = "jwt"
            raw_claims = claims.raw
            expires_at = claims.expires_at
            subject = claims.subject
            if claims.client_id:
                values[attr.TOKEN_CLIENT_ID] = claims.client_id
            if claims.issuer:
                values[attr.TOKEN_ISSUER] = claims.issuer
            if claims.expires_at is not None:
                values[attr.TOKEN_EXPIRES_AT] = claims.expires_at
            if claims.issued_at is not None:
                values[attr.TOKEN_ISSUED_AT] = claims.issued_at
            if claims.scopes:
                values[attr.TOKEN_SCOPES] = list(claims.scopes)
        if subject:
            values[attr.TOKEN_SUBJECT] = (
                subject if self.settings.subject_plain else self.fingerprinter.fingerprint(subject)
            )
        if self._owners is not None:
            owner = self._owners.resolve(token_id, raw_claims)
            if owner is not None:
                values[attr.TOKEN_OWNER] = owner.owner
                if owner.owner_type:
                    values[attr.TOKEN_OWNER_TYPE] = owner.owner_type
                if owner.name:
                    values[attr.TOKEN_NAME] = owner.name
        return TokenInfo(
            token_id, False, expires_at, raw_claims, values, credential.secret,
            raw_forms(credential),
        )  # fmt: skip
