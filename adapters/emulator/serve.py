"""``qsession serve``: run the emulator on 127.0.0.1 and print the client settings to paste.

``main(argv)`` is the command line (``--host``, ``--port``, ``--db``, ``--speed``,
``--virtual``, ``--admin-key``, ``--docs``, ...); it serves with uvicorn and shuts down cleanly
on Ctrl-C or SIGTERM (the scheduler stops and the store is closed). ``running(app)`` serves
an app from a thread of the calling process, for tests, benchmarks and notebooks. Every log
line either writes (the access log included) has its SAS signatures, tokens and keys redacted.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import uvicorn
from fastapi import FastAPI

from qsession.cli import OneLineParser

from .app import create_app
from .auth import RedactSecrets
from .clients import (
    AZURE_LOCATION,
    AZURE_RESOURCE_GROUP,
    AZURE_SUBSCRIPTION,
    AZURE_WORKSPACE,
    IBM_INSTANCE,
)
from .clock import MAX_SPEED, MIN_SPEED, ClockError, ServerClock, check_speed
from .store import SchemaError, StoreUnavailable, open_store, redacted
from .team import Standby, serving

DEFAULT_DB = "qsession-serve.db"
#: The environment variable that gives ``--db`` when the flag is not passed.
DB_VARIABLE = "QSESSION_DB"


def settings(url: str) -> str:
    """The exact client settings for the emulator at ``url``, ready to paste."""
    return f"""\
IBM Qiskit Runtime (qiskit-ibm-runtime), any token:
    import os
    os.environ["IAM_URL"] = "{url}"
    os.environ["QISKIT_FUNCTIONS_EXPERIMENTAL"] = "1"
    from qiskit_ibm_runtime import QiskitRuntimeService
    service = QiskitRuntimeService(
        channel="ibm_quantum_platform", token="my-key",
        instance="{IBM_INSTANCE}",
        url="{url}", url_resolver=lambda url, *_: url + "/api/v1")

Azure Quantum (azure-quantum), any API key:
    from azure.core.credentials import AzureKeyCredential
    from azure.quantum import Workspace
    workspace = Workspace(
        subscription_id="{AZURE_SUBSCRIPTION}", resource_group="{AZURE_RESOURCE_GROUP}",
        name="{AZURE_WORKSPACE}", location="{AZURE_LOCATION}",
        credential=AzureKeyCredential("my-key"), _quantum_endpoint="{url}/")

Or, without the boilerplate:
    from qsession.adapters.emulator import ibm_service, azure_workspace
    service = ibm_service("{url}"); workspace = azure_workspace("{url}")
"""


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="qsession serve",
        description="A local IBM Qiskit Runtime and Azure Quantum cloud for the unmodified"
        " qiskit-ibm-runtime and azure-quantum clients.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--db",
        default=os.environ.get(DB_VARIABLE) or DEFAULT_DB,
        help="where sessions, jobs, results and blobs are kept between runs: an SQLite file,"
        " ':memory:' (keeps nothing, for CI) or a PostgreSQL URL postgresql://USER@HOST/DB"
        f" (default: ${DB_VARIABLE}, else {DEFAULT_DB} in the current directory)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help=f"session seconds per real second, from {MIN_SPEED:g} to {MAX_SPEED:g} (default: 1)",
    )
    parser.add_argument(
        "--virtual",
        action="store_true",
        help="virtual time: the clock jumps while jobs are in flight and otherwise stands"
        " still (advance it with POST /emulator/v1/clock/advance)",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this API key (repeatable; default: any key)",
    )
    parser.add_argument(
        "--admin-key",
        default=os.environ.get("QSESSION_ADMIN_KEY"),
        metavar="KEY",
        help="enable the admin routes (the clock) for requests with x-qsession-admin-key: KEY"
        " (default: $QSESSION_ADMIN_KEY; unset: no admin routes)",
    )
    parser.add_argument(
        "--docs",
        action="store_true",
        help="serve /docs, /redoc and /openapi.json (without a key, to anyone who can connect)",
    )
    parser.add_argument(
        "--url",
        default=None,
        help="the URL clients and the other processes on the same database reach this one at"
        " (default: http://HOST:PORT)",
    )
    parser.add_argument(
        "--plan",
        default="premium",
        choices=["premium", "open"],
        help="the IBM plan of every instance; the Open Plan allows batches only"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed circuit sampling (default: unseeded)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="threads executing jobs, so QPUs run in parallel (default: cores + 4, at most 32)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="uvicorn's log level; 'info' logs every request (default: %(default)s)",
    )
    return parser


def build(
    db: str,
    *,
    speed: float = 1.0,
    virtual: bool = False,
    api_keys: Sequence[str] | None = None,
    admin_key: str | None = None,
    docs: bool = False,
    plan: str = "premium",
    seed: int | None = None,
    workers: int | None = None,
) -> FastAPI:
    """The app over the store at ``db`` (``open_store``), its clock resumed from what the
    store says (``ClockError`` if it holds a clock no bounded clock can have left)."""
    store = open_store(db)
    try:
        clock = ServerClock(
            speed=speed, virtual=virtual, start=ServerClock.resumed(store.get_meta("clock"))
        )
        return create_app(
            store,
            clock,
            api_keys=api_keys,
            admin_key=admin_key,
            docs=docs,
            plan=plan,
            seed=seed,
            workers=workers,
        )
    except BaseException:
        store.close()
        raise


def log_config(level: str = "warning") -> dict[str, Any]:
    """uvicorn's logging configuration with secrets redacted on every handler, and the
    emulator's own loggers (``qsession``) on its default handler at ``level``."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactSecrets}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    config["loggers"]["qsession"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # clients that connect before uvicorn runs wait in the backlog
    return sock


def _kept(app: Any, db: str, leader: str | None) -> str:
    """Where the banner says the state is kept."""
    if isinstance(app, Standby):
        return f"kept in {redacted(db)}; standing by for the leader at {leader}"
    if db == ":memory:":
        return "kept in memory, gone when it stops"
    return f"kept in {app.state.cloud.store.location}"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    args = _parser().parse_args(argv)
    try:
        check_speed(args.speed)
    except ClockError as exc:
        print(f"qsession serve: --speed: {exc}", file=sys.stderr)
        return 2
    if args.admin_key == "":
        print("qsession serve: --admin-key must not be empty", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("qsession serve: --workers must be at least 1", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print("qsession serve: --port must be from 0 to 65535", file=sys.stderr)
        return 2
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"qsession serve: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = args.url or f"http://{host}:{port}"
    build_app = partial(
        build,
        args.db,
        speed=args.speed,
        virtual=args.virtual,
        api_keys=args.api_keys,
        admin_key=args.admin_key,
        docs=args.docs,
        plan=args.plan,
        seed=args.seed,
        workers=args.workers,
    )
    try:
        app, leader = serving(build_app, args.db, url)
    except (sqlite3.Error, OSError, ValueError) as exc:  # ClockError is a ValueError
        sock.close()
        print(
            f"qsession serve: cannot use {args.db!r} as the state file ({exc}); pass --db a"
            " writable file, or --db :memory: to keep nothing",
            file=sys.stderr,
        )
        return 1
    except ImportError as exc:
        sock.close()
        print(
            f"qsession serve: a PostgreSQL store needs {exc.name or 'psycopg'}:"
            " pip install 'qsession[postgres]'",
            file=sys.stderr,
        )
        return 1
    except (SchemaError, StoreUnavailable) as exc:
        sock.close()
        print(f"qsession serve: {exc}", file=sys.stderr)
        return 1
    config = uvicorn.Config(
        app, log_level=args.log_level, log_config=log_config(args.log_level), lifespan="on"
    )
    server = uvicorn.Server(config)

    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    # From before the banner to the end, Ctrl-C and SIGTERM only ask uvicorn to stop: one that
    # comes while it starts makes it stop as soon as it has started (uvicorn handles both
    # while it serves, then raises them again, here), never an interrupt in the event loop.
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        mode = "virtual time" if args.virtual else f"real time x{args.speed:g}"
        admin = "admin routes on" if args.admin_key else "no admin routes (--admin-key)"
        print(f"qsession serve: {url} ({mode}; {admin}); Ctrl-C stops it", flush=True)
        print(f"state: {_kept(app, args.db, leader)} (--db)", flush=True)
        print(f"dashboard: {url}/ (your sessions and jobs, live; enter the API key)\n", flush=True)
        print(settings(url), flush=True)
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("qsession serve: stopped", flush=True)
    return 0


@contextlib.contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a background thread; yield its URL; stop it on exit."""
    sock = _bind(host, port)
    config = uvicorn.Config(app, log_level="warning", log_config=log_config(), lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the emulator failed to start")
            time.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
