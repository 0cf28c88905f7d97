"""``tokentrace audit verify|export|public-key`` and ``tokentrace erase``: the audit trail
of a stopped server's database (DuckDB lets one process open the file) or of a lake (its
nodes may run meanwhile: ``--catalog`` and ``--data-path``), and an export verified with
the public key alone (docs/audit.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tokentrace import SettingsError
from tokentrace.cli import Subparsers
from tokentrace_backend.audit import (
    APPEND_LOCK,
    FORMATS,
    AuditKeyError,
    ExportError,
    erase_token,
    load_private_key,
    load_public_key,
    public_key_hex,
    public_key_pem,
    read_export,
    verify_database,
    verify_records,
)
from tokentrace_backend.audit.export import write_jsonl, write_parquet
from tokentrace_backend.audit.signing import sign_checkpoint
from tokentrace_backend.settings import (
    TOKENTRACE_CATALOG,
    TOKENTRACE_DATA_PATH,
    AuditSettings,
    LakeSettings,
    default_db_path,
    duckdb_memory_limit,
)
from tokentrace_backend.storage import Database, LakeUnavailable, open_database
from tokentrace_backend.storage.journal import IngestJournal, journal_path
from tokentrace_backend.storage.writer import SpanWriter

_DB_HELP = "DuckDB file (default: $TOKENTRACE_DB or ./tokentrace.duckdb)"
_ID_CHARS = 32


def add_commands(subparsers: Subparsers) -> None:
    """Register ``audit`` (with its subcommands) and ``erase``."""
    audit = subparsers.add_parser(
        "audit",
        help="verify, export or show the key of the audit trail",
        description="The audit trail of a database (stop `tokentrace serve` first).",
    )
    commands = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    verify = commands.add_parser(
        "verify",
        help="check every record's hash and link and every checkpoint's signature",
        description=(
            "Verify the trail in a database (--db), or an export with the public key alone "
            "(--export FILE --public-key KEY). Exits 1 naming the first bad record."
        ),
    )
    _add_location(verify)
    verify.add_argument("--export", type=Path, default=None, metavar="FILE", help="an export")
    verify.add_argument(
        "--public-key",
        type=Path,
        default=None,
        metavar="KEY",
        help="the public key file (PEM, raw or hex; default: the database's key)",
    )
    verify.set_defaults(func=run_verify)
    export = commands.add_parser(
        "export",
        help="export the trail with its hashes and signed checkpoints",
        description=(
            "Export a whole-chain range of records with the checkpoints inside it; the head "
            "is signed first when it is not yet, so the export ends at a checkpoint."
        ),
    )
    export.add_argument("--format", choices=FORMATS, default="jsonl")
    _add_location(export)
    export.add_argument(
        "--output", type=Path, default=None, metavar="FILE", help="default: stdout (jsonl)"
    )
    export.add_argument("--from-seq", type=int, default=1, metavar="SEQ")
    export.add_argument("--to-seq", type=int, default=None, metavar="SEQ")
    export.set_defaults(func=run_export)
    public = commands.add_parser(
        "public-key",
        help="print the public key that verifies the checkpoints (PEM)",
        description="Print the public half of the database's audit key, as PEM.",
    )
    _add_location(public)
    public.add_argument("--hex", action="store_true", help="the 32 raw bytes as hex instead")
    public.set_defaults(func=run_public_key)
    erase = subparsers.add_parser(
        "erase",
        help="delete every stored row about a token; the audit trail keeps only hashes",
        description=(
            "Erase a token: its spans, derived rows, detector profiles and findings "
            "(docs/audit.md#erasure). Stop `tokentrace serve` first: what its ingest journal "
            "holds is committed before the erasure."
        ),
    )
    erase.add_argument("token_id", metavar="TOKEN_ID", help="32 hex characters")
    _add_location(erase)
    erase.add_argument("--actor", default=None, help="who asked for it (recorded)")
    erase.set_defaults(func=run_erase)


def _add_location(parser: argparse.ArgumentParser) -> None:
    """``--db``, or a lake's ``--catalog`` and ``--data-path`` (as ``tokentrace serve``)."""
    parser.add_argument("--db", type=Path, default=None, help=_DB_HELP)
    parser.add_argument(
        "--catalog",
        default=None,
        metavar="URL",
        help=f"a lake's PostgreSQL catalog (default: ${TOKENTRACE_CATALOG}; tokentrace[lake])",
    )
    parser.add_argument(
        "--data-path",
        default=None,
        metavar="DIR",
        help=f"the lake's data path (default: ${TOKENTRACE_DATA_PATH})",
    )


def _lake(arguments: argparse.Namespace) -> LakeSettings | None:
    return LakeSettings.resolve(arguments.catalog, arguments.data_path)


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"tokentrace {command}: {message}", file=sys.stderr)
    return code


def _open(command: str, arguments: argparse.Namespace) -> Database | int:
    try:
        lake = _lake(arguments)
    except SettingsError as error:
        return _fail(command, str(error))
    path: Path = arguments.db or default_db_path()
    if lake is None and not path.is_file():
        return _fail(command, f"no database at {path}")
    try:
        database = open_database(
            path,
            lake=None if lake is None else (lake.catalog, lake.data_path),
            memory_limit=duckdb_memory_limit(),
        )
    except duckdb.IOException as error:  # typically: tokentrace serve holds the file's lock
        return _fail(command, f"cannot open {path}: {error}", 1)
    except LakeUnavailable as error:
        return _fail(command, str(error), 1)
    APPEND_LOCK.bind(database.cluster_lock("audit-append"))  # a lake's nodes append too
    return database


def _key_path(arguments: argparse.Namespace) -> Path:
    lake = _lake(arguments)
    base = lake.audit_key_base if lake is not None else arguments.db or default_db_path()
    return AuditSettings.resolve(base).key_path


def _signing_key(arguments: argparse.Namespace) -> Ed25519PrivateKey | None:
    """The audit trail's private key, when its file exists: what signs a checkpoint."""
    key_file = _key_path(arguments)
    return load_private_key(key_file) if key_file.is_file() else None


def run_verify(arguments: argparse.Namespace) -> int:
    command = "audit verify"
    try:
        key_file = arguments.public_key or (None if arguments.export else _key_path(arguments))
        if key_file is None:
            return _fail(command, "--export needs --public-key")
        if not key_file.is_file():
            return _fail(command, f"no key at {key_file}")
        public_key = load_public_key(key_file)
        if arguments.export is not None:
            exported = read_export(arguments.export)
            result = verify_records(
                exported.records,
                exported.checkpoints,
                public_key,
                from_genesis=exported.from_seq <= 1,
            )
        else:
            database = _open(command, arguments)
            if isinstance(database, int):
                return database
            try:
                with database.reader() as cursor:
                    result = verify_database(cursor, public_key)
            finally:
                database.close()
    except (SettingsError, AuditKeyError, ExportError, OSError) as error:
        return _fail(command, str(error))
    print(result.describe())
    return 0 if result.ok else 1


def run_export(arguments: argparse.Namespace) -> int:
    command = "audit export"
    if arguments.format == "parquet" and arguments.output is None:
        return _fail(command, "--format parquet needs --output FILE")
    try:
        key = _signing_key(arguments)
    except (SettingsError, AuditKeyError) as error:
        return _fail(command, str(error))
    database = _open(command, arguments)
    if isinstance(database, int):
        return database
    public = None if key is None else public_key_hex(key.public_key())
    try:
        with database.reader() as cursor:
            if key is not None:
                with APPEND_LOCK:
                    sign_checkpoint(cursor, key)
            options = {"public_key": public, "from_seq": arguments.from_seq}
            if arguments.format == "parquet":
                written = write_parquet(
                    cursor, arguments.output, **options, to_seq=arguments.to_seq
                )
            elif arguments.output is None:
                written = write_jsonl(cursor, sys.stdout, **options, to_seq=arguments.to_seq)
            else:
                with arguments.output.open("w", encoding="utf-8") as out:
                    written = write_jsonl(cursor, out, **options, to_seq=arguments.to_seq)
    finally:
        database.close()
    if arguments.output is not None:
        print(f"exported {written} audit records to {arguments.output}")
    return 0


def run_public_key(arguments: argparse.Namespace) -> int:
    command = "audit public-key"
    try:
        key_file = _key_path(arguments)
        if not key_file.is_file():
            return _fail(command, f"no audit key at {key_file} (tokentrace serve creates it)")
        public_key = load_public_key(key_file)
    except (SettingsError, AuditKeyError) as error:
        return _fail(command, str(error))
    print(public_key_hex(public_key) if arguments.hex else public_key_pem(public_key), end="")
    if arguments.hex:
        print()
    return 0


def run_erase(arguments: argparse.Namespace) -> int:
    command = "erase"
    token_id = arguments.token_id.strip().lower()
    if len(token_id) != _ID_CHARS or any(char not in "0123456789abcdef" for char in token_id):
        return _fail(command, "TOKEN_ID must be 32 hex characters (tokentrace hash)")
    try:
        key = _signing_key(arguments)
    except (SettingsError, AuditKeyError) as error:
        return _fail(command, str(error))
    database = _open(command, arguments)
    if isinstance(database, int):
        return database
    try:
        journal = journal_path(database.path)
        if journal.is_dir():  # commit what a stopped server's journal still holds
            writer = SpanWriter(database, journal=IngestJournal(journal))
            writer.start()
            writer.close()
        with database.reader() as cursor:
            erased = erase_token(cursor, token_id, actor=arguments.actor)
            if erased is not None:
                database.purge_deleted(cursor)  # a lake's older snapshots hold the rows
            if erased is not None and key is not None:
                with APPEND_LOCK:
                    sign_checkpoint(cursor, key)
        database.checkpoint()
    finally:
        database.close()
    if erased is None:
        return _fail(command, f"nothing stored names token id {token_id}", 1)
    rows = ", ".join(f"{table} {count}" for table, count in erased.rows.items()) or "none"
    print(f"erased token {token_id}: rows deleted: {rows}")
    if erased.mentions:
        mentions = ", ".join(f"{column} {count}" for column, count in erased.mentions.items())
        print(f"mentions redacted: {mentions}")
    print(
        f"audit records redacted: {erased.redacted_records}; "
        f"recorded as audit record {erased.record.seq}"
    )
    return 0
