"""The reference scenario's API tokens (docs/architecture.md#the-reference-scenario), shared
by the gateway and the traffic.

Every raw token is derived from a seed (``TOKENTRACE_SCENARIO_SEED``), so the gateway
process and the traffic process agree on them without a secret in the source, and tests can
search exported bytes for each raw value. The gateway's "token store" is this table: the
scenario decides validity the way a real app would, and tokentrace only records it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Final, Literal

SEED_ENV: Final = "TOKENTRACE_SCENARIO_SEED"
DEFAULT_SEED: Final = "tokentrace-reference-scenario"

READ: Final = "orders:read"
WRITE: Final = "orders:write"

# How the client sends the token.
Placement = Literal["bearer", "basic", "x-api-key", "query"]
# What the gateway's own auth decides for the token.
Verdict = Literal["valid", "expired", "revoked", "rotated"]


@dataclass(frozen=True)
class ScenarioToken:
    """One client of the gateway: its raw token, how it sends it, and what it should see."""

    name: str
    raw: str
    placement: Placement
    owner: str
    owner_type: str
    scopes: tuple[str, ...]
    verdict: Verdict
    # What the gateway answers this client, and the outcome the backend should report.
    expected_status: int
    expected_outcome: str
    # The requests the traffic makes with it: (method, path).
    requests: tuple[tuple[str, str], ...] = field(default=(("GET", "/api/orders"),))

    @property
    def authorization(self) -> str | None:
        """The Authorization header value the client sends, if it sends one."""
        if self.placement == "bearer":
            return f"Bearer {self.raw}"
        if self.placement == "basic":
            return "Basic " + base64.b64encode(self.raw.encode()).decode()
        return None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must appear in no exported byte: the token; for a JWT also its
        signature; for Basic (raw = ``user:password``) the password and the encoded pair."""
        if self.placement == "basic":
            password = self.raw.partition(":")[2]
            return (self.raw, password, base64.b64encode(self.raw.encode()).decode())
        parts = self.raw.split(".")
        return (self.raw, parts[2]) if len(parts) == 3 else (self.raw,)


def _seed() -> bytes:
    return os.environ.get(SEED_ENV, DEFAULT_SEED).encode()


def _derive(seed: bytes, label: str, length: int = 32) -> str:
    digest = hmac.new(seed, label.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]


# 2023-11-14T22:13:20Z: well in the past.
_EXPIRED_AT: Final = 1_700_000_000


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _expired_jwt(seed: bytes) -> str:
    """An HS256 JWT (signed with a derived key) that expired long ago.

    Its claims are fixed, so every process of the scenario derives the same token.
    """
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    expired_at = _EXPIRED_AT
    claims = {
        "iss": "https://auth.example.test",
        "sub": "bob@example.test",
        "azp": "mobile-app",
        "scope": f"{READ} {WRITE}",
        "iat": expired_at - 3600,
        "exp": expired_at,
    }
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_key = _derive(seed, "jwt-signing-key").encode()
    signature = hmac.new(signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


# The owner whose orders live in a shard table that does not exist: its requests make the
# orders service fail with a real sqlite3.OperationalError.
FAULTY_OWNER: Final = "svc:legacy-importer"


def scenario_tokens() -> tuple[ScenarioToken, ...]:
    """Every token of the reference scenario, in the order the traffic uses them."""
    return _tokens_for_seed(_seed())


# Cached: the gateway looks a token up on every request, and the table costs a dozen HMACs.
@functools.cache
def _tokens_for_seed(seed: bytes) -> tuple[ScenarioToken, ...]:
    both = (("GET", "/api/orders"), ("POST", "/api/orders"))
    return (
        ScenarioToken(
            name="healthy-user",
            raw="ttu_" + _derive(seed, "healthy-user"),
            placement="bearer",
            owner="alice@example.test",
            owner_type="user",
            scopes=(READ, WRITE),
            verdict="valid",
            expected_status=200,
            expected_outcome="success",
            requests=both,
        ),
        ScenarioToken(
            name="ci-service",
            raw="tts_" + _derive(seed, "ci-service"),
            placement="x-api-key",
            owner="svc:ci",
            owner_type="service",
            scopes=(READ,),
            verdict="valid",
            expected_status=200,
            expected_outcome="success",
        ),
        ScenarioToken(
            name="expired-jwt",
            raw=_expired_jwt(seed),
            placement="bearer",
            owner="bob@example.test",
            owner_type="user",
            scopes=(READ, WRITE),
            verdict="expired",
            expected_status=401,
            expected_outcome="expired",
        ),
        ScenarioToken(
            name="revoked",
            raw="ttu_" + _derive(seed, "revoked"),
            placement="bearer",
            owner="carol@example.test",
            owner_type="user",
            scopes=(READ,),
            verdict="revoked",
            expected_status=401,
            expected_outcome="revoked",
        ),
        ScenarioToken(
            name="read-only",
            raw="ttu_" + _derive(seed, "read-only"),
            placement="bearer",
            owner="dave@example.test",
            owner_type="user",
            scopes=(READ,),
            verdict="valid",
            expected_status=403,
            expected_outcome="insufficient_scope",
            requests=(("POST", "/api/orders"),),
        ),
        ScenarioToken(
            name="faulty",
            raw="tts_" + _derive(seed, "faulty"),
            placement="bearer",
            owner=FAULTY_OWNER,
            owner_type="automation",
            scopes=(READ,),
            verdict="valid",
            expected_status=502,
            expected_outcome="success",
        ),
        ScenarioToken(
            name="legacy-basic",
            raw="report-bot:" + _derive(seed, "legacy-basic-password", 24),
            placement="basic",
            owner="svc:nightly-report",
            owner_type="automation",
            scopes=(READ,),
            verdict="valid",
            expected_status=200,
            expected_outcome="success",
        ),
        ScenarioToken(
            name="query-api-key",
            raw="ttp_" + _derive(seed, "query-api-key"),
            placement="query",
            owner="partner:acme",
            owner_type="service",
            scopes=(READ,),
            verdict="valid",
            expected_status=200,
            expected_outcome="success",
        ),
        ScenarioToken(
            name="rotated-old",
            raw="ttu_" + _derive(seed, "rotated-old"),
            placement="bearer",
            owner="erin@example.test",
            owner_type="user",
            scopes=(READ,),
            verdict="rotated",
            expected_status=200,
            expected_outcome="success",
        ),
        ScenarioToken(
            name="rotated-new",
            raw="ttu_" + _derive(seed, "rotated-new"),
            placement="bearer",
            owner="erin@example.test",
            owner_type="user",
            scopes=(READ,),
            verdict="valid",
            expected_status=200,
            expected_outcome="success",
        ),
    )


def token_by_name(name: str) -> ScenarioToken:
    """The scenario token called ``name`` (KeyError if there is none)."""
    for token in scenario_tokens():
        if token.name == name:
            return token
    raise KeyError(name)


def lookup(raw: str) -> ScenarioToken | None:
    """The gateway's token store: the scenario token with this raw value, if any."""
    for token in scenario_tokens():
        if hmac.compare_digest(token.raw, raw):
            return token
    return None
