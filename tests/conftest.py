"""Hypothesis profiles (``dev``: default, random; ``ci``: derandomized, more examples) and a
PostgreSQL server for the tests of the PostgreSQL store."""

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=300,
    stateful_step_count=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("dev")


@attrs.frozen
class PostgresServer:
    """A PostgreSQL server the tests started: ``new_database()`` makes an empty database and
    returns its URL."""

    admin_url: str
    counter: Iterator[int] = attrs.field(factory=itertools.count, eq=False)

    def new_database(self) -> str:
        import psycopg  # noqa: PLC0415 - the postgres extra, only for these tests

        name = f"qsession_{next(self.counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"


def _postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    return None if on_path is None else Path(on_path).parent


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server on a free loopback port, in a temporary directory, run
    as the ``postgres`` user when the tests run as root (PostgreSQL refuses root). Skips when
    PostgreSQL is not installed, except under CI, where that fails."""
    bindir = _postgres_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL is not installed (no pg_ctl; Debian: apt-get install postgresql),"
            " so the PostgreSQL store tests cannot start a server"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    as_user: list[str] = []
    home = Path(tempfile.mkdtemp(prefix="qsession-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        entry = pwd.getpwnam("postgres")
        os.chown(home, entry.pw_uid, entry.pw_gid)
    data = home / "data"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {home}"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    run = partial(subprocess.run, check=True, capture_output=True)
    try:
        run([*as_user, bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-N"])
        pg_ctl = [*as_user, bindir / "pg_ctl", "-D", data]
        run([*pg_ctl, "-l", home / "log", "-o", options, "-w", "-t", "300", "start"])
        try:
            yield PostgresServer(f"postgresql://postgres@127.0.0.1:{port}/postgres")
        finally:
            run([*pg_ctl, "-m", "immediate", "stop"])
    finally:
        shutil.rmtree(home, ignore_errors=True)
