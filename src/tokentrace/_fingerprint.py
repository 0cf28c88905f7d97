"""Keyed token fingerprints: HMAC-SHA256 under a secret key, first 16 bytes as hex.

A plain hash of a token would let anyone holding a list of candidate tokens confirm them;
the HMAC key keeps fingerprints useless to whoever reads the traces without the key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
import threading
from typing import Final

from tokentrace._settings import ENV_HASH_KEY, ENV_HASH_KEY_ID

logger = logging.getLogger("tokentrace")

MIN_KEY_BYTES: Final = 32
FINGERPRINT_BYTES: Final = 16
_CACHE_ENTRIES: Final = 4096
_MAX_CACHED_TOKEN: Final = 1024


class Fingerprinter:
    """Fingerprints raw tokens under one key; repeated tokens come from an LRU cache."""

    def __init__(self, key: bytes, key_id: str) -> None:
        if not key:
            raise ValueError("the fingerprint key must not be empty")
        self.key_id = key_id
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)
        self._cached = functools.lru_cache(maxsize=_CACHE_ENTRIES)(self._compute)

    def fingerprint(self, raw: str) -> str:
        """The token id: 32 lowercase hex characters."""
        if len(raw) > _MAX_CACHED_TOKEN:
            return self._compute(raw)  # do not keep huge values in memory
        return self._cached(raw)

    def _compute(self, raw: str) -> str:
        mac = self._hmac.copy()
        mac.update(raw.encode("utf-8", "surrogateescape"))
        return mac.digest()[:FINGERPRINT_BYTES].hex()


def derive_key_id(key: bytes) -> str:
    """A non-secret name for a key: an HMAC of a fixed label, so it reveals nothing."""
    return hmac.new(key, b"tokentrace key id", hashlib.sha256).hexdigest()[:8]


def from_environment(environ: dict[str, str] | None = None) -> Fingerprinter:
    """Build the process-wide fingerprinter from ``TOKENTRACE_HASH_KEY``.

    Without a key, a random per-process key is generated and a warning says that
    fingerprints will not match across processes.
    """
    env = environ if environ is not None else os.environ
    raw_key = env.get(ENV_HASH_KEY, "")
    if not raw_key:
        logger.warning(
            "tokentrace: %s is not set; using a random key for this process only. "
            "Token fingerprints will not match across processes or restarts: set the "
            "same secret of at least %d bytes in every service.",
            ENV_HASH_KEY,
            MIN_KEY_BYTES,
        )
        key = secrets.token_bytes(MIN_KEY_BYTES)
        return Fingerprinter(key, "ephemeral-" + derive_key_id(key))
    key = raw_key.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        logger.warning(
            "tokentrace: %s is %d bytes long; use at least %d random bytes "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))').",
            ENV_HASH_KEY,
            len(key),
            MIN_KEY_BYTES,
        )
    return Fingerprinter(key, env.get(ENV_HASH_KEY_ID) or derive_key_id(key))


_default: Fingerprinter | None = None
_default_lock = threading.Lock()


def default_fingerprinter() -> Fingerprinter:
    """The process-wide fingerprinter, built from the environment on first use."""
    global _default  # noqa: PLW0603 - one key per process, created lazily
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = from_environment()
    return _default


def fingerprint(raw_token: str) -> str:
    """The token id of ``raw_token`` under this process's key (``tokentrace hash`` agrees)."""
    return default_fingerprinter().fingerprint(raw_token)
