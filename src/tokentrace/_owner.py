"""Owner resolution: an application callable mapping a token to who owns it, cached."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from tokentrace._failsafe import log_internal_error


class Owner(NamedTuple):
    """Who a token belongs to, as the application knows it."""

    owner: str
    owner_type: str | None = None  # user | service | automation
    name: str | None = None  # the token's human label


class CachedOwnerResolver:
    """Calls the application's resolver once per token id; a resolver that raises is
    logged once and treated as 'unknown' (the request is not affected)."""

    def __init__(
        self,
        resolver: Callable[[str, Mapping[str, Any]], Owner | None],
        max_entries: int = 10_000,
    ) -> None:
        self._resolver = resolver
        self._max_entries = max_entries
        self._cache: dict[str, Owner | None] = {}

    def resolve(self, token_id: str, claims: Mapping[str, Any]) -> Owner | None:
        try:
            return self._cache[token_id]
        except KeyError:
            pass
        try:
            owner = self._resolver(token_id, claims)
        except Exception as error:  # the app's resolver must never break a request
            log_internal_error("owner resolver", error)
            return None
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[token_id] = owner
        return owner
