"""Lake mode: the tables in a DuckLake (Parquet data files plus a PostgreSQL catalog) that
several ``tokentrace serve`` nodes share (docs/production.md)."""

from .database import LakeDatabase, LakeUnavailable
from .location import LakeLocation

__all__ = ["LakeDatabase", "LakeLocation", "LakeUnavailable"]
