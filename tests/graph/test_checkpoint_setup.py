"""The Postgres checkpoint tables' set-up lock: polled, so a waiting worker holds no transaction open (a worker
blocked inside `pg_advisory_lock` deadlocked with the lock holder's CREATE INDEX CONCURRENTLY)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from tests.helpers import require_postgres
from webgen.graph import checkpoints


def test_setup_waits_for_the_lock_without_an_open_transaction() -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    url = require_postgres().replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as holder, PostgresSaver.from_conn_string(url) as saver:
        holder.execute("SELECT pg_advisory_lock(%s)", (checkpoints._SETUP_LOCK_KEY,))
        with pytest.raises(TimeoutError, match="set-up lock"):
            checkpoints._setup_postgres(saver, timeout_s=0.3)
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (checkpoints._setup_postgres(saver), done.set()), daemon=True)
        waiter.start()
        time.sleep(0.5)
        # while it waits, the waiter runs no statement that stays open (CREATE INDEX CONCURRENTLY would wait on it)
        busy = holder.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%advisory_lock%%' AND state = 'active' "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchone()
        assert busy is not None and busy[0] == 0 and not done.is_set()
        holder.execute("SELECT pg_advisory_unlock(%s)", (checkpoints._SETUP_LOCK_KEY,))
        assert done.wait(30), "the set-up did not go on once the lock was free"
        tables = holder.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'checkpoints'").fetchone()
        assert tables is not None and tables[0] == 1
