"""Raw test tokens, and JWTs built by hand (unsigned content, fake signatures)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


JWT_SIGNATURE = "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1sZWFr"


def make_jwt(**claims: Any) -> str:
    return f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.{JWT_SIGNATURE}"


NOW = int(time.time())
BEARER = "opaque-bearer-Zr8Qp3vX9"
API_KEY = "ak_live_7Hq2Lm9Vx4"
QUERY_KEY = "qk_9f8e7d6c5b4a"
BASIC_USER = "alice"
BASIC_PASSWORD = "s3cret-Basic-pw"
BASIC_ENCODED = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
JWT_VALID = make_jwt(
    sub="user-42",
    iss="https://issuer.example",
    azp="web-app",
    exp=NOW + 3600,
    iat=NOW,
    scope="orders:read orders:write",
)
JWT_EXPIRED = make_jwt(sub="user-43", iss="https://issuer.example", exp=NOW - 60, iat=NOW - 3600)
COOKIE_TOKEN = "cookie-session-Kk81"

ALL_SECRETS = [
    BEARER,
    API_KEY,
    QUERY_KEY,
    BASIC_ENCODED,
    f"{BASIC_USER}:{BASIC_PASSWORD}",
    BASIC_PASSWORD,
    JWT_VALID,
    JWT_EXPIRED,
    JWT_SIGNATURE,
    COOKIE_TOKEN,
]
