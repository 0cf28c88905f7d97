"""The audit trail's costs: recording, verifying, exporting and erasing, in process.

Stores N tokens' first use (``token_dim`` rows, as the refresh derives them), lets the
audit follower record them as the background refresh would (a first round over an
existing database), signs a checkpoint, then times ``verify_database``, a JSONL export
and the erasure of one token (its spans, derived rows and audit records).

    .venv/bin/python benchmarks/audit_trail.py                # 100,000 records
    .venv/bin/python benchmarks/audit_trail.py --records 20000
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from tokentrace_backend.audit import AuditFollower, erase_token, verify_database
from tokentrace_backend.audit.export import write_jsonl
from tokentrace_backend.audit.signing import load_or_create_private_key
from tokentrace_backend.storage import Database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    arguments = parser.parse_args()
    count = arguments.records
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "audit.duckdb"
        database = Database(path, memory_limit="640MB", threads=1)
        key, _ = load_or_create_private_key(path.with_name("audit.duckdb.audit-key"))
        follower = AuditFollower(key)
        with database.reader() as cursor:
            cursor.execute(
                "INSERT INTO token_dim (token_number, token_id, key_id, first_ns)"
                " SELECT i, lpad(printf('%x', i), 32, '0'), 'k1', i * 1000"
                " FROM range(1, $n + 1) AS t(i)",
                {"n": count},
            )
            started = time.perf_counter()
            follower.catch_up(cursor)
            recorded = time.perf_counter() - started
            started = time.perf_counter()
            result = verify_database(cursor, key.public_key())
            verified = time.perf_counter() - started
            assert result.ok, result.problem
            out = io.StringIO()
            started = time.perf_counter()
            write_jsonl(cursor, out, public_key=None)
            exported = time.perf_counter() - started
            started = time.perf_counter()
            erased = erase_token(cursor, f"{count // 2:x}".rjust(32, "0"))
            erasing = time.perf_counter() - started
            assert erased is not None
        database.close()
    print(f"{count:,} records")
    print(f"  recorded by the follower: {recorded:.2f} s ({recorded / count * 1e6:.0f} µs each)")
    print(f"  verified:                 {verified:.2f} s ({verified / count * 1e6:.1f} µs each)")
    print(
        f"  exported as JSONL:        {exported:.2f} s ({len(out.getvalue()) / count:.0f} B each)"
    )
    print(f"  one token erased:         {erasing:.2f} s")


if __name__ == "__main__":
    main()
