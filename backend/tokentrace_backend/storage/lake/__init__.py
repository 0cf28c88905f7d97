"""Lake mode: the tables in a DuckLake (Parquet data files plus a PostgreSQL catalog) that
several ``tokentrace serve`` nodes share (docs/production.md)."""

from tokentrace_backend.storage.opening import LakeUnavailable

from .database import LakeDatabase
from .location import LakeLocation

__all__ = ["LakeDatabase", "LakeLocation", "LakeUnavailable"]
