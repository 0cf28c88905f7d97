"""Signed checkpoints: the Ed25519 key that signs them, and the checkpoints themselves.

A checkpoint states "the chain up to record ``seq`` ends in ``hash``". The signed message
is the UTF-8 of the canonical JSON (records.py) of
``{"at": AT, "hash": HASH, "seq": SEQ, "type": "tokentrace.audit.checkpoint"}``.

The key is a file: PEM (PKCS#8 ``PRIVATE KEY``, as ``openssl genpkey -algorithm ed25519``
writes it) or the 32 raw bytes of the private key. Without ``TOKENTRACE_AUDIT_KEY`` the
server generates one on first start beside the database (``<db>.audit-key``, PEM, mode
0600). Public keys are exported as PEM (``PUBLIC KEY``); a verifier also accepts the 32
raw bytes or their 64 hex digits.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .records import canonical_json, chain_head

CHECKPOINT_TYPE: Final = "tokentrace.audit.checkpoint"
_RAW_KEY_BYTES: Final = 32


class AuditKeyError(ValueError):
    """An audit key file that cannot be read as an Ed25519 key."""


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM or raw 32-byte file."""
    data = Path(path).read_bytes()
    if len(data) == _RAW_KEY_BYTES:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as error:
        raise AuditKeyError(f"{path}: not a PEM or raw Ed25519 private key") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"{path}: not an Ed25519 key")
    return key


def load_or_create_private_key(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The key at ``path``, generating it (PEM, mode 0600) when the file does not exist;
    returns the key and whether it was created."""
    path = Path(path)
    if path.exists():
        return load_private_key(path), False
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another node of a lake, starting at the same time, made it
        time.sleep(0.5)  # time for its one write
        return load_private_key(path), False
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return key, True


def public_key_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_from_hex(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM, raw 32-byte or 64-hex-digit file (or a private key file,
    whose public half is taken)."""
    data = Path(path).read_bytes()
    if len(data) == _RAW_KEY_BYTES:
        return Ed25519PublicKey.from_public_bytes(data)
    text = data.decode("ascii", errors="replace").strip()
    if len(text) == 2 * _RAW_KEY_BYTES:
        try:
            return public_key_from_hex(text)
        except ValueError:
            pass
    if "PRIVATE KEY" in text:
        return load_private_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as error:
        raise AuditKeyError(f"{path}: not a PEM, raw or hex Ed25519 public key") from error
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{path}: not an Ed25519 key")
    return key


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: int
    public_key: str
    signature: str

    def message(self) -> bytes:
        return checkpoint_message(self.seq, self.hash, self.at)

    def signed_by(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(bytes.fromhex(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "public_key": self.public_key,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            at=int(data["at"]),
            public_key=str(data["public_key"]),
            signature=str(data["signature"]),
        )


def checkpoint_message(seq: int, hash_hex: str, at: int) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return canonical_json({"type": CHECKPOINT_TYPE, "seq": seq, "hash": hash_hex, "at": at}).encode(
        "utf-8"
    )


def sign_checkpoint(
    cursor: duckdb.DuckDBPyConnection, key: Ed25519PrivateKey, *, at: int | None = None
) -> Checkpoint | None:
    """Sign the chain's head, unless the trail is empty or the head is signed already.
    Call holding ``APPEND_LOCK`` (the head must not move meanwhile)."""
    seq, head = chain_head(cursor)
    if seq == 0:
        return None
    signed = cursor.execute("SELECT 1 FROM audit_checkpoints WHERE seq = ?", [seq]).fetchone()
    if signed is not None:
        return None
    stamp = time.time_ns() if at is None else at
    checkpoint = Checkpoint(
        seq=seq,
        hash=head,
        at=stamp,
        public_key=public_key_hex(key.public_key()),
        signature=key.sign(checkpoint_message(seq, head, stamp)).hex(),
    )
    cursor.execute(
        "INSERT INTO audit_checkpoints (seq, hash, at_ns, public_key, signature)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            checkpoint.seq,
            checkpoint.hash,
            checkpoint.at,
            checkpoint.public_key,
            checkpoint.signature,
        ],
    )
    return checkpoint


def read_checkpoints(
    cursor: duckdb.DuckDBPyConnection, *, from_seq: int = 0, to_seq: int | None = None
) -> list[Checkpoint]:
    rows = cursor.execute(
        "SELECT seq, hash, at_ns, public_key, signature FROM audit_checkpoints"
        " WHERE seq >= $from AND ($to IS NULL OR seq <= $to) ORDER BY seq",
        {"from": from_seq, "to": to_seq},
    ).fetchall()
    return [
        Checkpoint(seq=int(seq), hash=digest, at=int(at), public_key=public, signature=signature)
        for seq, digest, at, public, signature in rows
    ]
