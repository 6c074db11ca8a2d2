"""Both stores (SQLite and PostgreSQL) keep a schema version and check it on open; ``qsession
serve`` takes its store from ``--db`` or ``QSESSION_DB`` and reports a store it cannot use in
one line."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from qsession.adapters.emulator import open_store
from qsession.adapters.emulator.serve import main
from qsession.adapters.emulator.store import (
    SCHEMA_VERSION,
    SchemaError,
    SessionRow,
    StoreInUse,
)

ROW = SessionRow("alice", "s1", "ibm", "fake_manila", {"kind": "ibm_batch"}, {"n": 1}, 2.5)


def newer(location: str) -> None:
    """Leave the store at ``location`` as a newer qsession would: one schema version ahead."""
    store = open_store(location)
    store.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    store.close()


def test_a_new_store_records_the_current_schema_version(
    new_store_location: Callable[[], str],
) -> None:
    store = open_store(new_store_location())
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    store.close()


def test_a_store_from_a_newer_qsession_is_refused_and_left_as_it_was(
    new_store_location: Callable[[], str],
) -> None:
    location = new_store_location()
    newer(location)
    with pytest.raises(SchemaError, match=f"schema version {SCHEMA_VERSION + 1}.*newer") as info:
        open_store(location)
    assert f"reads up to version {SCHEMA_VERSION}" in str(info.value)
    with pytest.raises(SchemaError):  # the refusal wrote nothing: still the newer version
        open_store(location)


def test_a_store_with_an_unreadable_schema_version_is_refused(
    new_store_location: Callable[[], str],
) -> None:
    location = new_store_location()
    store = open_store(location)
    store.set_meta("schema_version", "two")
    store.close()
    with pytest.raises(SchemaError, match="unreadable schema version 'two'"):
        open_store(location)


def test_an_unversioned_store_from_before_versioning_is_migrated_with_its_rows(
    new_store_location: Callable[[], str],
) -> None:
    location = new_store_location()
    store = open_store(location)
    store.add_session(ROW)
    store.append_event("alice", "s1", {"type": "Close", "at": 3.0})
    with store.transaction():  # version 1 had these tables and no version row
        store._execute("DELETE FROM meta WHERE key = 'schema_version'")  # type: ignore[attr-defined]
    store.close()
    store = open_store(location)
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert store.load_sessions() == [(ROW, [{"type": "Close", "at": 3.0}])]
    store.close()


def test_serve_refuses_a_newer_schema_in_one_line(
    new_store_location: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    location = new_store_location()
    newer(location)
    assert main(["--port", "0", "--db", location]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("qsession serve: ") and f"schema version {SCHEMA_VERSION + 1}" in err


def test_serve_takes_its_store_from_the_environment(
    new_store_location: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    location = new_store_location()
    newer(location)
    monkeypatch.setenv("QSESSION_DB", location)
    assert main(["--port", "0"]) == 1
    assert "newer qsession" in capsys.readouterr().err


def test_serve_reports_an_unreachable_database_in_one_line_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    url = f"postgresql://alice:s3cret@127.0.0.1:{port}/team"
    assert main(["--port", "0", "--db", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"cannot connect to postgresql://alice:***@127.0.0.1:{port}/team" in err
    assert "s3cret" not in err


def test_one_postgresql_database_is_held_by_one_store_until_it_closes(postgres: Any) -> None:
    location = postgres.new_database()
    first = open_store(location)
    with pytest.raises(StoreInUse, match="in use by another qsession serve"):
        open_store(location)
    first.close()
    open_store(location).close()
