"""Locks and roles that hold across the nodes sharing one lake, and degrade to this
process alone for the embedded database.

A :class:`ClusterLock` is always a re-entrant lock of this process; bound to a
:class:`RemoteLock` (lake mode: a PostgreSQL advisory lock, ``storage.lake.locks``), its
outermost holder also holds that lock, so one thread of one node at a time is inside.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Protocol


class RemoteLock(Protocol):
    """A lock shared by every node (blocking; released when its holder's process dies)."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...


class ClusterLock:
    """A re-entrant lock of this process that also takes ``remote`` (when bound) while
    held, outermost level only."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._local = threading.RLock()
        self._depth = 0  # levels held by the owning thread (read and written under _local)
        self._remote: RemoteLock | None = None

    def bind(self, remote: RemoteLock | None) -> None:
        """Share the lock with the other nodes through ``remote`` (None: this process only)."""
        with self._local:
            self._remote = remote

    def __enter__(self) -> None:
        self._local.acquire()
        try:
            if self._depth == 0 and self._remote is not None:
                self._remote.acquire()
        except BaseException:
            self._local.release()
            raise
        self._depth += 1

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._remote is not None:
                self._remote.release()
        finally:
            self._local.release()
