"""Opening the database a command names: the embedded DuckDB file, or a lake (imported only
then: it needs the ``tokentrace[lake]`` extra)."""

from __future__ import annotations

from pathlib import Path

from tokentrace_backend.storage.database import Database


class LakeUnavailable(RuntimeError):
    """Lake mode cannot start: the lake extra or an extension is missing, or the catalog is
    unreachable."""


def open_database(
    db_path: Path,
    *,
    lake: tuple[str, str] | None = None,
    memory_limit: str | None = None,
    checkpoint_threshold: str | None = None,
    threads: int | None = None,
) -> Database:
    """The DuckDB file at ``db_path``, or with ``lake`` = (catalog URL, data path) the lake
    there (``db_path`` unused). Raises :class:`LakeUnavailable` for a lake that cannot be
    opened, with a message that shows no password."""
    if lake is None:
        return Database(
            db_path,
            memory_limit=memory_limit,
            checkpoint_threshold=checkpoint_threshold,
            threads=threads,
        )
    try:
        from tokentrace_backend.storage.lake import LakeDatabase, LakeLocation
    except ImportError as error:
        raise LakeUnavailable(f"lake mode needs tokentrace[lake] ({error})") from None
    return LakeDatabase(LakeLocation(*lake), memory_limit=memory_limit, threads=threads)
