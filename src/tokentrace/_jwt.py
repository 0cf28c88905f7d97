"""Read a JWT's claims without verifying it: to inform the trace, never to decide.

Anything that does not decode cleanly is simply not a JWT (the token is then opaque).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_MAX_JWT_CHARS: Final = 16_384


@dataclass(frozen=True)
class Claims:
    """The JWT claims tokentrace reports (all optional)."""

    raw: Mapping[str, Any]
    expires_at: int | None
    issued_at: int | None
    issuer: str | None
    client_id: str | None
    subject: str | None
    scopes: tuple[str, ...]


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


_INT64_MAX: Final = 2**63 - 1


def _int_claim(value: Any) -> int | None:
    """A NumericDate claim as int, or None if it is not a finite int64 (``1e999``, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    number = int(value)
    return number if -_INT64_MAX <= number <= _INT64_MAX else None


def _str_claim(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _scopes(payload: Mapping[str, Any]) -> tuple[str, ...]:
    value = payload.get("scope", payload.get("scp"))
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def read_claims(token: str) -> Claims | None:
    """Claims of ``token`` if it is a well-formed JWS compact JWT, else None. Never raises."""
    if len(token) > _MAX_JWT_CHARS or token.count(".") != 2:
        return None
    header_b64, payload_b64, _ = token.split(".")
    try:
        header = _b64url_json(header_b64)
        payload = _b64url_json(payload_b64)
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        return None
    if not isinstance(header, dict) or "alg" not in header or not isinstance(payload, dict):
        return None
    return Claims(
        raw=payload,
        expires_at=_int_claim(payload.get("exp")),
        issued_at=_int_claim(payload.get("iat")),
        issuer=_str_claim(payload.get("iss")),
        client_id=_str_claim(payload.get("azp")) or _str_claim(payload.get("client_id")),
        subject=_str_claim(payload.get("sub")),
        scopes=_scopes(payload),
    )
