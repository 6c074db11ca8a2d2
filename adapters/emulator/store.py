"""Durable state of the emulator: a small ``Store`` interface and its SQL implementation.

Everything the emulator acknowledges is written before the HTTP answer leaves: sessions with
the core event trace each one was fed (a restart rebuilds every ``qsession.core.Session`` by
replaying it; the core is deterministic, so the replay is exact), jobs with their state and
times, job results, and the blobs of the Azure storage emulation. Writes are grouped by
``transaction()``, so one request's changes land together or not at all.

``SQLStore`` is that interface in SQL that SQLite and PostgreSQL both run. ``SQLiteStore``
(the embedded default) is one file in WAL mode (``synchronous=NORMAL``: a killed process loses
nothing it committed); ``PostgresStore`` (``qsession.adapters.emulator.pgstore``, the
``postgres`` extra) is a PostgreSQL database. ``open_store`` picks one by its location.

Every store records its layout's ``schema_version`` in its meta table and checks it on open:
a store written by a newer qsession is refused with ``SchemaError`` before anything is
written; an older one is migrated in the same transaction.

The SQLite files are private: the database is created (or tightened to) mode 0600, and SQLite
gives its ``-wal`` and ``-shm`` files the database's mode. Its signing secret is not a row:
``secret()`` keeps it in a 0600 key file beside the database (``<db>.key``), so a copy of the
database alone cannot forge tokens or storage signatures. A PostgreSQL store keeps the secret
in its meta table, because every server process on the database must sign alike: the
database's own access control guards it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import attrs


@attrs.frozen
class SessionRow:
    """A session as stored: who owns it, how to rebuild its policy, and when it opened."""

    tenant: str
    id: str
    provider: str
    backend: str
    policy: dict[str, Any]
    attrs: dict[str, Any]
    opened_at: float


@attrs.frozen
class JobRow:
    """A job as submitted: owner, placement and input (``params``: IBM's request params, an
    Azure job's input blob). Written once; ``JobProgress`` holds what changes."""

    tenant: str
    id: str
    provider: str
    backend: str
    session_id: str | None
    program: str
    attrs: dict[str, Any]
    params: bytes | None
    submitted_at: float


@attrs.frozen
class JobProgress:
    """How far a stored job got: its state, start and end times, its reason if it failed."""

    state: str = "queued"
    started_at: float | None = None
    ended_at: float | None = None
    due_at: float | None = None
    reason: str | None = None


@attrs.frozen
class BlobRow:
    """One blob of the storage emulation (``account/container/name``)."""

    account: str
    container: str
    name: str
    data: bytes
    content_type: str | None
    content_encoding: str | None
    etag: str
    modified: float


class Store(Protocol):
    """What the emulator needs from durable storage."""

    #: Where the store is, for messages (a path, or a URL without its password).
    location: str

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Group the writes made inside into one atomic commit (re-entrant)."""
        ...

    def secret(self) -> bytes:
        """The server's signing secret (created once, kept outside the rows)."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def add_session(self, row: SessionRow) -> None: ...

    def append_event(self, tenant: str, session_id: str, event: dict[str, Any]) -> None:
        """Append one core event to a session's trace."""
        ...

    def add_job(self, row: JobRow) -> None:
        """Store a job just submitted (queued)."""
        ...

    def update_job(self, tenant: str, job_id: str, **fields: Any) -> None:
        """Set ``state``, ``started_at``, ``ended_at``, ``due_at``, ``reason`` or ``attrs`` of
        a job."""
        ...

    def get_params(self, tenant: str, job_id: str) -> bytes | None:
        """A job's input, which only the store keeps once the job has run."""
        ...

    def put_result(self, tenant: str, job_id: str, data: bytes) -> None: ...

    def get_result(self, tenant: str, job_id: str) -> bytes | None: ...

    def put_blob(self, row: BlobRow) -> None: ...

    def get_blob(self, account: str, container: str, name: str) -> BlobRow | None: ...

    def load_sessions(self) -> list[tuple[SessionRow, list[dict[str, Any]]]]:
        """Every session with its event trace, in the order they were opened."""
        ...

    def load_jobs(self) -> list[tuple[JobRow, JobProgress]]:
        """Every job with its progress, in submission order."""
        ...

    def close(self) -> None: ...


#: The layout this code writes, in the meta table under ``schema_version``. Version 1 is the
#: layout of stores written before the version was recorded (the same tables); opening one
#: migrates it by recording the version.
SCHEMA_VERSION = 2
#: Statements that take a store from the version it is keyed under to the next one.
_MIGRATIONS: Mapping[int, tuple[str, ...]] = {1: ()}
_TABLES = """
CREATE TABLE IF NOT EXISTS sessions (
    seq {serial},
    tenant TEXT NOT NULL, id TEXT NOT NULL, provider TEXT NOT NULL, backend TEXT NOT NULL,
    policy TEXT NOT NULL, attrs TEXT NOT NULL, opened_at {real} NOT NULL,
    UNIQUE (tenant, id));
CREATE TABLE IF NOT EXISTS session_events (
    seq {serial},
    tenant TEXT NOT NULL, session_id TEXT NOT NULL, event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS session_events_by_session ON session_events (tenant, session_id);
CREATE TABLE IF NOT EXISTS jobs (
    seq {serial},
    tenant TEXT NOT NULL, id TEXT NOT NULL, provider TEXT NOT NULL, backend TEXT NOT NULL,
    session_id TEXT, program TEXT NOT NULL, attrs TEXT NOT NULL, params {blob},
    state TEXT NOT NULL, submitted_at {real} NOT NULL, started_at {real}, ended_at {real},
    due_at {real}, reason TEXT,
    UNIQUE (tenant, id));
CREATE TABLE IF NOT EXISTS results (
    tenant TEXT NOT NULL, job_id TEXT NOT NULL, data {blob} NOT NULL,
    PRIMARY KEY (tenant, job_id));
CREATE TABLE IF NOT EXISTS blobs (
    account TEXT NOT NULL, container TEXT NOT NULL, name TEXT NOT NULL, data {blob} NOT NULL,
    content_type TEXT, content_encoding TEXT, etag TEXT NOT NULL, modified {real} NOT NULL,
    PRIMARY KEY (account, container, name))
"""
_JOB_FIELDS = frozenset({"state", "started_at", "ended_at", "due_at", "reason", "attrs"})


def _private(path: str) -> None:
    """Create ``path`` with mode 0600, or make an existing file 0600."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


def _key_file(path: str, fresh: bytes) -> bytes:
    """The secret in ``path``; writes ``fresh`` there (mode 0600) if there is none yet."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        with open(path, "rb") as handle:
            secret = handle.read().strip()
        if len(secret) < 32:
            raise ValueError(f"the key file {path} holds no valid secret; delete it") from None
        return secret
    with os.fdopen(fd, "wb") as handle:
        handle.write(fresh)
    return fresh


class SchemaError(Exception):
    """The store was written by a newer qsession, whose layout this one cannot read."""


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the connection (an SQLite file that cannot
    be opened raises ``sqlite3.Error``)."""


class StoreInUse(StoreUnavailable):
    """Another server process holds the store (see ``qsession.adapters.emulator.team``)."""


class SQLStore:
    """``Store`` in SQL that SQLite and PostgreSQL both run: one connection, used under a
    lock, with ``?`` parameters. A subclass connects and names its column types."""

    #: The column types of the schema: ``serial`` (an ordering key), ``real``, ``blob``.
    TYPES: Mapping[str, str]
    #: The statement that opens a write transaction.
    BEGIN = "BEGIN"
    #: A query with one row if the table named by its parameter exists.
    TABLE_EXISTS: str
    location: str

    def __init__(self, db: Any) -> None:
        self._db = db
        self._lock = threading.RLock()
        self._depth = 0
        self._open_schema()

    def _open_schema(self) -> None:
        """Check the stored layout's version and migrate an older one, then create what is
        missing (``SchemaError`` for a newer or unreadable version, before anything is
        written)."""
        with self.transaction():
            self._execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            stored = self.get_meta("schema_version")
            if stored is None:
                old = self._execute(self.TABLE_EXISTS, ("sessions",)).fetchone() is not None
                version = 1 if old else SCHEMA_VERSION
            elif stored.isdigit():
                version = int(stored)
            else:
                raise SchemaError(f"{self.location} has an unreadable schema version {stored!r}")
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"{self.location} has schema version {version}, written by a newer"
                    f" qsession; this one reads up to version {SCHEMA_VERSION}: upgrade qsession"
                    " or use another store"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    self._execute(statement)
            for statement in _TABLES.format(**self.TYPES).split(";"):
                self._execute(statement)
            self.set_meta("schema_version", str(SCHEMA_VERSION))

    def secret(self) -> bytes:
        """The signing secret, kept in the meta table (created on first use, once for every
        process on the store)."""
        with self.transaction():
            self._run(
                "INSERT INTO meta (key, value) VALUES ('secret', ?) ON CONFLICT (key) DO NOTHING",
                (secrets.token_hex(32),),
            )
            stored = self.get_meta("secret")
        assert stored is not None
        return stored.encode()

    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self._db.execute(sql, args)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute(self.BEGIN)
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        with self.transaction():
            self._execute(sql, args)

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._run(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def add_session(self, row: SessionRow) -> None:
        self._run(
            "INSERT INTO sessions (tenant, id, provider, backend, policy, attrs, opened_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                row.tenant,
                row.id,
                row.provider,
                row.backend,
                json.dumps(row.policy),
                json.dumps(row.attrs),
                row.opened_at,
            ),
        )

    def append_event(self, tenant: str, session_id: str, event: dict[str, Any]) -> None:
        self._run(
            "INSERT INTO session_events (tenant, session_id, event) VALUES (?, ?, ?)",
            (tenant, session_id, json.dumps(event)),
        )

    def add_job(self, row: JobRow) -> None:
        self._run(
            "INSERT INTO jobs (tenant, id, provider, backend, session_id, program, attrs, params,"
            " state, submitted_at, started_at, ended_at, due_at, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.tenant,
                row.id,
                row.provider,
                row.backend,
                row.session_id,
                row.program,
                json.dumps(row.attrs),
                row.params,
                "queued",
                row.submitted_at,
                None,
                None,
                None,
                None,
            ),
        )

    def update_job(self, tenant: str, job_id: str, **fields: Any) -> None:
        unknown = set(fields) - _JOB_FIELDS
        if unknown or not fields:
            raise ValueError(f"update_job sets {sorted(_JOB_FIELDS)}; got {sorted(fields)}")
        columns = ", ".join(f"{name} = ?" for name in fields)
        values = [json.dumps(v) if name == "attrs" else v for name, v in fields.items()]
        self._run(
            f"UPDATE jobs SET {columns} WHERE tenant = ? AND id = ?",
            (*values, tenant, job_id),
        )

    def get_params(self, tenant: str, job_id: str) -> bytes | None:
        with self._lock:
            row = self._execute(
                "SELECT params FROM jobs WHERE tenant = ? AND id = ?", (tenant, job_id)
            ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def put_result(self, tenant: str, job_id: str, data: bytes) -> None:
        self._run(
            "INSERT INTO results (tenant, job_id, data) VALUES (?, ?, ?)"
            " ON CONFLICT (tenant, job_id) DO UPDATE SET data = excluded.data",
            (tenant, job_id, data),
        )

    def get_result(self, tenant: str, job_id: str) -> bytes | None:
        with self._lock:
            row = self._execute(
                "SELECT data FROM results WHERE tenant = ? AND job_id = ?", (tenant, job_id)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def put_blob(self, row: BlobRow) -> None:
        self._run(
            "INSERT INTO blobs (account, container, name, data, content_type,"
            " content_encoding, etag, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (account, container, name) DO UPDATE SET data = excluded.data,"
            " content_type = excluded.content_type,"
            " content_encoding = excluded.content_encoding, etag = excluded.etag,"
            " modified = excluded.modified",
            attrs.astuple(row),
        )

    def get_blob(self, account: str, container: str, name: str) -> BlobRow | None:
        with self._lock:
            row = self._execute(
                "SELECT account, container, name, data, content_type, content_encoding, etag,"
                " modified FROM blobs WHERE account = ? AND container = ? AND name = ?",
                (account, container, name),
            ).fetchone()
        if row is None:
            return None
        return BlobRow(row[0], row[1], row[2], bytes(row[3]), *row[4:])

    def load_sessions(self) -> list[tuple[SessionRow, list[dict[str, Any]]]]:
        with self._lock:
            sessions = self._execute(
                "SELECT tenant, id, provider, backend, policy, attrs, opened_at FROM sessions"
                " ORDER BY seq"
            ).fetchall()
            events: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for tenant, session_id, event in self._execute(
                "SELECT tenant, session_id, event FROM session_events ORDER BY seq"
            ):
                events.setdefault((tenant, session_id), []).append(json.loads(event))
        return [
            (
                SessionRow(t, i, p, b, json.loads(pol), json.loads(att), at),
                events.get((t, i), []),
            )
            for t, i, p, b, pol, att, at in sessions
        ]

    def load_jobs(self) -> list[tuple[JobRow, JobProgress]]:
        with self._lock:
            rows = self._execute(
                "SELECT tenant, id, provider, backend, session_id, program, attrs, params,"
                " submitted_at, state, started_at, ended_at, due_at, reason FROM jobs ORDER BY seq"
            ).fetchall()
        return [
            (
                JobRow(
                    *r[0:6],
                    json.loads(r[6]),
                    None if r[7] is None else bytes(r[7]),
                    r[8],
                ),
                JobProgress(*r[9:]),
            )
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SQLiteStore(SQLStore):
    """``Store`` on one SQLite file (WAL). ``":memory:"`` keeps everything in memory."""

    TYPES: Mapping[str, str] = {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "real": "REAL",
        "blob": "BLOB",
    }
    BEGIN = "BEGIN IMMEDIATE"
    TABLE_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._memory = self.path == ":memory:"
        self.location = self.path if self._memory else str(Path(path).resolve())
        self._secret: bytes | None = None
        if not self._memory:
            _private(self.path)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.chmod(self.path + suffix, 0o600)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            super().__init__(db)
        except BaseException:
            db.close()
            raise

    def secret(self) -> bytes:
        """The signing secret from ``<db>.key`` (created 0600 on first use; a secret an older
        version kept in the ``meta`` table moves there and leaves the database)."""
        with self._lock:
            if self._secret is None:
                legacy = self.get_meta("secret")
                fresh = (legacy or secrets.token_hex(32)).encode()
                self._secret = fresh if self._memory else _key_file(self.path + ".key", fresh)
                if legacy is not None:
                    self._run("DELETE FROM meta WHERE key = 'secret'")
            return self._secret


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(location: str) -> Store:
    """The store at ``location``: a ``postgresql://`` URL (``PostgresStore``) or an SQLite
    file path (``":memory:"`` keeps nothing)."""
    if location.startswith(("postgresql://", "postgres://")):
        from .pgstore import PostgresStore  # noqa: PLC0415 - postgres extra

        return PostgresStore(location)
    return SQLiteStore(location)
