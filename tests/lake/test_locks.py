"""The cluster-wide locks and roles of lake mode (``storage.lake.locks``) against a real
PostgreSQL: each lock object has a session of its own, as each node does, so two objects
stand for two nodes."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import duckdb
import psycopg
import pytest

from tokentrace_backend.storage.cluster import ClusterLock
from tokentrace_backend.storage.lake.locks import AdvisoryLock, Leadership, SequencedBatches

WAIT = 0.4  # how long a blocked acquirer is given to (wrongly) get through


@pytest.fixture
def locks(catalog: str) -> Iterator[list[AdvisoryLock]]:
    """Collects the test's locks and closes them all at the end."""
    made: list[AdvisoryLock] = []
    yield made
    for lock in made:
        lock.close()


def terminate(catalog: str, lock: AdvisoryLock) -> None:
    """Kill the session behind ``lock`` from another session, as PostgreSQL does when a
    node's process dies (its connection ends)."""
    pid = lock.connection().info.backend_pid
    with psycopg.connect(catalog, autocommit=True) as admin:
        row = admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
        assert row == (True,)
        # pg_terminate_backend only signals: wait until the session (and its locks) is gone.
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "the terminated session lingers"
            time.sleep(0.05)


def acquire_then_set(lock: AdvisoryLock, got: threading.Event) -> None:
    lock.acquire()
    got.set()


def test_an_advisory_lock_excludes_another_session_until_released(
    catalog: str, locks: list[AdvisoryLock]
) -> None:
    first, second = AdvisoryLock(catalog, "schema"), AdvisoryLock(catalog, "schema")
    other_key = AdvisoryLock(catalog, "batches")
    locks += [first, second, other_key]
    first.acquire()
    assert not second.try_acquire()
    assert other_key.try_acquire()  # each name is a lock of its own

    got = threading.Event()
    waiter = threading.Thread(target=acquire_then_set, args=(second, got))
    waiter.start()
    try:
        assert not got.wait(WAIT), "acquire() went through while another session held the lock"
        first.release()
        assert got.wait(10), "acquire() still waits after the holder released"
    finally:
        if not got.is_set():
            first.release()
        waiter.join(10)
    assert not first.try_acquire()  # now the second session has it
    second.release()
    assert first.try_acquire()


def test_an_advisory_lock_is_freed_when_its_holders_connection_is_killed(
    catalog: str, locks: list[AdvisoryLock]
) -> None:
    holder, other = AdvisoryLock(catalog, "leader"), AdvisoryLock(catalog, "leader")
    locks += [holder, other]
    holder.acquire()
    assert holder.still_held()
    assert not other.try_acquire()

    got = threading.Event()
    waiter = threading.Thread(target=acquire_then_set, args=(other, got))
    waiter.start()
    try:
        assert not got.wait(WAIT)
        terminate(catalog, holder)
        assert got.wait(10), "the lock was not freed when its holder's session died"
    finally:
        if not got.is_set():
            holder.close()
        waiter.join(10)
    assert not holder.still_held()  # the dead session no longer counts as holding it
    assert not holder.try_acquire()  # a new session of the old holder: the other node has it


def test_exactly_one_leadership_leads_and_the_other_takes_over(
    catalog: str, locks: list[AdvisoryLock], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Leadership, "CHECK_SECONDS", 0.05)
    node_locks = [AdvisoryLock(catalog, "leader") for _ in range(3)]
    locks += node_locks
    nodes = [Leadership(lock) for lock in node_locks[:2]]

    def leaders(among: list[Leadership]) -> list[int]:
        time.sleep(0.1)  # past CHECK_SECONDS: each asks PostgreSQL again
        return [index for index, node in enumerate(among) if node.leads()]

    assert leaders(nodes) == [0]  # the first to ask leads
    for _ in range(3):
        assert leaders(nodes) == [0]  # and keeps leading; the other stays an observer

    nodes[0].close()  # the leader stops: the other takes over when it asks next
    assert leaders(nodes[1:]) == [0]
    assert leaders(nodes[:1]) == []  # a closed one never leads again, even when free

    third = Leadership(node_locks[2])
    assert leaders([nodes[1], third]) == [0]
    terminate(catalog, node_locks[1])  # the leader's process dies
    assert leaders([nodes[1], third]) == [1]
    assert leaders([nodes[1], third]) == [1]  # the old one does not take it back
    third.close()


def _draw_and_commit(
    catalog: str, locks: list[AdvisoryLock], rounds: int, committed: list[int], seed: int
) -> None:
    """One node's writer: draw a number, 'commit' (append to ``committed``) after a random
    pause, as the writer commits inside ``next_batch``."""
    rng = random.Random(seed)
    lock = AdvisoryLock(catalog, "batches")
    locks.append(lock)
    batches = SequencedBatches(lock)
    with duckdb.connect(":memory:") as connection:
        connection.execute("CREATE TABLE spans (batch_id UBIGINT)")
        connection.execute("INSERT INTO spans VALUES (41)")  # the lake already holds 41 batches
        batches.start(connection)
    for _ in range(rounds):
        with batches.next_batch() as batch_id:
            time.sleep(rng.uniform(0.0, 0.01))
            committed.append(batch_id)


def test_batch_numbers_from_two_nodes_follow_commit_order(
    catalog: str, locks: list[AdvisoryLock]
) -> None:
    committed: list[int] = []
    rounds = 40
    nodes = [
        threading.Thread(target=_draw_and_commit, args=(catalog, locks, rounds, committed, seed))
        for seed in (1, 2)
    ]
    for node in nodes:
        node.start()
    for node in nodes:
        node.join(60)
    assert len(committed) == 2 * rounds
    # Every number visible was drawn before every number that became visible after it:
    # the numbers increase in commit order, one by one from where the lake left off.
    assert committed == list(range(42, 42 + 2 * rounds))


def test_a_cluster_lock_bound_to_an_advisory_lock_excludes_across_nodes(
    catalog: str, locks: list[AdvisoryLock]
) -> None:
    remotes = [AdvisoryLock(catalog, "audit-append") for _ in range(3)]
    locks += remotes
    nodes = [ClusterLock("audit-append") for _ in range(2)]
    for node, remote in zip(nodes, remotes, strict=False):
        node.bind(remote)
    probe = remotes[2]

    # Held (re-entered) on node 0: the remote lock is held until the outermost exit.
    with nodes[0]:
        with nodes[0]:
            assert not probe.try_acquire()
        assert not probe.try_acquire()
    assert probe.try_acquire()
    probe.release()

    # Read-modify-write of a shared value by both nodes, two threads each: never two
    # inside at once, no update lost.
    state = {"value": 0, "inside": 0, "most": 0}

    def work(node: ClusterLock) -> None:
        for _ in range(15):
            with node:
                state["inside"] += 1
                state["most"] = max(state["most"], state["inside"])
                value = state["value"]
                time.sleep(0.002)
                state["value"] = value + 1
                state["inside"] -= 1

    threads = [threading.Thread(target=work, args=(node,)) for node in nodes for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert state == {"value": 60, "inside": 0, "most": 1}
