"""Where a request may carry its token: headers, query parameters, cookies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

Location = Literal["header", "query", "cookie"]


class SettingsError(ValueError):
    """A tokentrace option or environment variable has an unusable value."""


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
