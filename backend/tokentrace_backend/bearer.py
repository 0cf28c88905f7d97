"""``Authorization: Bearer <key>`` as the backend reads it, for the API key and the ingest
key alike: the presented bytes, and their constant-time comparison with a key."""

from __future__ import annotations

import hmac


def bearer_credentials(authorization: str | None) -> bytes | None:
    """The bytes of the credentials of ``Authorization: Bearer <credentials>``, or None.

    The scheme is case-insensitive and may be followed by any run of spaces and tabs (RFC
    9110 allows one or more); the credentials are the rest, without surrounding
    whitespace (HTTP strips it at the ends of a header value anyway, so a key cannot begin
    or end with whitespace), compared exactly inside. Header values reach the app decoded
    as latin-1, so encoding them back as latin-1 gives the bytes sent: a key sent as UTF-8
    bytes then equals the key's UTF-8.
    """
    scheme, _, credentials = (authorization or "").strip(" \t").partition(" ")
    credentials = credentials.strip(" \t")
    if scheme.lower() != "bearer" or not credentials:
        return None
    try:
        return credentials.encode("latin-1")
    except UnicodeEncodeError:  # not from a real header: no bytes were sent like this
        return None


def key_matches(presented: str | bytes, key: str) -> bool:
    """Constant-time comparison with the key's UTF-8 bytes (a non-ASCII key works).

    ``presented`` is text (a JSON body's, compared as UTF-8) or the bytes a header carried
    (:func:`bearer_credentials`).
    """
    given = presented.encode() if isinstance(presented, str) else presented
    return hmac.compare_digest(given, key.encode())
