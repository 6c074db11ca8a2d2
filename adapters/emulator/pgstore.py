"""``PostgresStore``: the emulator's store in a PostgreSQL database, through psycopg 3.

The same SQL as ``SQLiteStore`` (``qsession.adapters.emulator.store.SQLStore``) on one
connection in autocommit mode, each ``transaction()`` an explicit ``BEGIN`` ... ``COMMIT``.
Needs the ``postgres`` extra (``pip install 'qsession[postgres]'``).

One leading server process per database: the emulator keeps its sessions and scheduler in
memory and writes through to the store, so a second process running the same cloud would run
the same jobs again. The store therefore holds a session-level advisory lock on its database
for as long as its connection lives (``pg_try_advisory_lock``,
https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS); a second store
on that database is refused with ``StoreInUse``. PostgreSQL releases the lock when the
connection ends, also when the process holding it is killed, so a restarted server or a
standby (``qsession.adapters.emulator.team``) takes over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import psycopg

from .store import SQLStore, StoreInUse, StoreUnavailable, redacted


def read_meta(url: str, key: str) -> str | None:
    """One meta value of the store at ``url``, read without taking its lock (``None`` if it
    is not there or the database cannot be read)."""
    try:
        with psycopg.connect(url, autocommit=True) as db:
            row = db.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
    except psycopg.Error:
        return None
    return None if row is None else str(row[0])


class PostgresStore(SQLStore):
    """``Store`` in the PostgreSQL database at ``url`` (``postgresql://USER@HOST:PORT/DB``)."""

    TYPES: Mapping[str, str] = {
        "serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "real": "DOUBLE PRECISION",
        "blob": "BYTEA",
    }
    TABLE_EXISTS = (
        "SELECT 1 FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = ?"
    )

    #: The advisory lock key a serving process holds on its database ("qsess" in ASCII).
    LOCK_KEY = 0x7173657373

    def __init__(self, url: str) -> None:
        self.location = redacted(url)
        try:
            db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(f"cannot connect to {self.location}: {reason}") from None
        try:
            held = db.execute("SELECT pg_try_advisory_lock(%s)", (self.LOCK_KEY,)).fetchone()
            if not (held and held[0]):
                raise StoreInUse(f"{self.location} is in use by another qsession serve process")
            super().__init__(db)
        except BaseException:
            self._release(db)
            raise

    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self._db.execute(sql.replace("?", "%s"), args)

    def close(self) -> None:
        with self._lock:
            self._release(self._db)

    @staticmethod
    def _release(db: psycopg.Connection[Any]) -> None:
        """Give the lock back, then close: once this returns another process can take the
        store (closing alone frees the lock only when the server notices, a moment later)."""
        with contextlib.suppress(psycopg.Error):
            db.execute("SELECT pg_advisory_unlock_all()")
        db.close()
