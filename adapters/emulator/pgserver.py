"""A throwaway PostgreSQL server for tests and benchmarks: Debian's ``postgresql`` binaries
(``initdb``, ``pg_ctl``) on a temporary directory and a free loopback port.

``throwaway()`` starts one and yields its admin URL; ``new_database(url)`` makes an empty
database there and returns its URL, for ``qsession serve --db``. PostgreSQL refuses to run as
root, so under root the server runs as the ``postgres`` user the Debian package creates. The
server trades durability for speed (``fsync=off``): it is for data that is thrown away.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries (``pg_ctl``) are installed."""


def bindir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are (the newest Debian install, else ``PATH``)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path is None:
        raise PostgresMissing(
            "PostgreSQL is not installed (no pg_ctl; Debian: apt-get install postgresql)"
        )
    return Path(on_path).parent


def _run(command: list[str | Path]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name if command else ''} failed: {done.stderr}")


@contextlib.contextmanager
def throwaway() -> Iterator[str]:
    """Start a PostgreSQL server; yield its admin URL; stop it and delete its files on exit."""
    binaries = bindir()
    as_user: list[str | Path] = []
    home = Path(tempfile.mkdtemp(prefix="qsession-pg-"))
    try:
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
        _run([*as_user, binaries / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-N"])
        pg_ctl = [*as_user, binaries / "pg_ctl", "-D", data]
        _run([*pg_ctl, "-l", home / "log", "-o", options, "-w", "-t", "300", "start"])
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run([*pg_ctl, "-m", "immediate", "stop"])
    finally:
        shutil.rmtree(home, ignore_errors=True)


def new_database(url: str, name: str) -> str:
    """Create the empty database ``name`` on the server at ``url``; return its URL."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"
