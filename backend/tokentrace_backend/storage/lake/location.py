"""Where a lake is: its PostgreSQL catalog and the directory of its data files."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit


@dataclass(frozen=True)
class LakeLocation:
    """``catalog``: a PostgreSQL URL (``postgresql://USER[:PASSWORD]@HOST:PORT/DB``, libpq
    syntax, query parameters such as ``sslmode`` included); ``data_path``: a directory
    every node reaches (a shared file system), where the Parquet files go. Both are checked
    for the user by ``settings.LakeSettings``; here only what keeps them out of the SQL
    text they are spliced into (ATTACH takes no parameters)."""

    catalog: str
    data_path: str

    def __post_init__(self) -> None:
        if "'" in self.catalog or "'" in self.data_path:
            raise ValueError("a lake's catalog URL and data path may not contain quotes")

    def shown(self) -> str:
        """The location for logs and messages: the catalog without its password."""
        parts = urlsplit(self.catalog)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
        catalog = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return f"lake {catalog}, data {self.data_path}"

    def scrubbed(self, text: str) -> str:
        """``text`` (an error of libpq, psycopg or DuckDB) with the catalog's password, as
        written and percent-decoded, replaced by ``***``."""
        written = urlsplit(self.catalog).password  # as written: urlsplit does not decode
        if not written:
            return text
        for secret in sorted({written, unquote(written)}, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text
