"""The audit trail: an append-only, hash-chained record of what happened to tokens, with
Ed25519-signed checkpoints, its verification and exports, and the erasure of a token.

Owns ``audit_records``, ``audit_checkpoints`` and ``audit_state`` (migrations 4NN), the
record format and canonical encoding (``records``), the signing key and checkpoints
(``signing``), verification (``verification``), exports (``export``), the follower that
records what the other stages derived (``follower``, run by the background refresh after
the detectors), and erasure (``erasure``: the one list of per-token rows, ``TOKEN_ROWS``).
Administrative actions are appended by their callers in the action's own transaction
(``audit_transaction`` + ``append_record``). It must not answer HTTP; apart from erasure
(which deletes a token's rows everywhere, by design) it writes only its own tables.
docs/audit.md describes the format for third parties.
"""

from __future__ import annotations

from tokentrace_backend.audit.erasure import TOKEN_ROWS, Erasure, TokenRows, erase_token
from tokentrace_backend.audit.export import FORMATS, ExportError, read_export
from tokentrace_backend.audit.follower import DEFAULT_CHECKPOINT_SECONDS, AuditFollower
from tokentrace_backend.audit.kinds import RecordKind
from tokentrace_backend.audit.records import (
    APPEND_LOCK,
    AuditRecord,
    append_record,
    audit_transaction,
    record_hash,
)
from tokentrace_backend.audit.signing import (
    AuditKeyError,
    Checkpoint,
    load_or_create_private_key,
    load_private_key,
    load_public_key,
    public_key_hex,
    public_key_pem,
)
from tokentrace_backend.audit.verification import Verification, verify_database, verify_records

__all__ = [
    "APPEND_LOCK",
    "DEFAULT_CHECKPOINT_SECONDS",
    "FORMATS",
    "TOKEN_ROWS",
    "AuditFollower",
    "AuditKeyError",
    "AuditRecord",
    "Checkpoint",
    "Erasure",
    "ExportError",
    "RecordKind",
    "TokenRows",
    "Verification",
    "append_record",
    "audit_transaction",
    "erase_token",
    "load_or_create_private_key",
    "load_private_key",
    "load_public_key",
    "public_key_hex",
    "public_key_pem",
    "read_export",
    "record_hash",
    "verify_database",
    "verify_records",
]
