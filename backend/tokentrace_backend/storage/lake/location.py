"""Where a lake is: its PostgreSQL catalog and the directory of its data files."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

CATALOG_SCHEMES = ("postgresql", "postgres")


class LakeLocationError(ValueError):
    """A catalog URL or data path that lake mode cannot use."""


@dataclass(frozen=True)
class LakeLocation:
    """``catalog``: a PostgreSQL URL (``postgresql://USER[:PASSWORD]@HOST:PORT/DB``, libpq
    syntax, query parameters such as ``sslmode`` included); ``data_path``: a directory
    every node reaches (a shared file system), where the Parquet files go."""

    catalog: str
    data_path: str

    @classmethod
    def parse(cls, catalog: str, data_path: str) -> LakeLocation:
        parts = urlsplit(catalog)
        if parts.scheme not in CATALOG_SCHEMES or not parts.hostname or not parts.path.strip("/"):
            raise LakeLocationError(
                "the catalog must be a PostgreSQL URL such as postgresql://USER@HOST:PORT/DATABASE"
            )
        if "'" in catalog or "'" in data_path:
            raise LakeLocationError("the catalog URL and the data path may not contain quotes")
        if not data_path.strip():
            raise LakeLocationError("the data path is empty")
        if "://" in data_path:
            raise LakeLocationError(
                "the data path must be a directory (object storage URLs are not supported "
                "by this build; docs/production.md)"
            )
        return cls(catalog=catalog, data_path=data_path)

    def shown(self) -> str:
        """The location for logs and messages: the catalog without its password."""
        parts = urlsplit(self.catalog)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            host = netloc.rsplit("@", 1)[1]
            netloc = f"{user}:***@{host}"
        catalog = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return f"lake {catalog}, data {self.data_path}"
