"""Several ``qsession serve`` processes on one PostgreSQL database, serving as one cloud.

Theory of operation
-------------------
One process at a time, the *leader*, runs the cloud: it holds the database's advisory lock
(``PostgresStore``), so it alone feeds the core its events, orders each QPU's queue, fires
timers and executes jobs, exactly as a single server does. It records the URL it is reached
at in the store's meta table (``leader``). Every other process on that database is a
*standby* (``Standby``, an ASGI app): it forwards each request unchanged, Host header
included, to the leader (so the URLs the leader writes into its answers, such as SAS URLs,
point back at the process the client used) and relays the answer byte for byte. Meanwhile it
tries the lock every ``POLL`` seconds. When the leader stops or dies, PostgreSQL ends its
connection and releases the lock; the first standby to take it builds the cloud from the
store, as a restarted server does (every session replayed from its stored core events, queued
jobs queued again, jobs that were running run again, every timer at its stored deadline),
records itself as the leader and serves from then on. While no process leads (between a
leader's death and a standby's takeover) a standby answers 503, which both clients retry.

So the rules stay in one place, the core of one process, fed one stored event stream per
session; each job runs to an acknowledged end exactly once and each timer fires once, because
only the lock holder runs them, and the lock holder is always rebuilt from what was committed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from functools import partial

import anyio
import httpx
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response
from .store import SchemaError, StoreInUse

log = logging.getLogger(__name__)

#: Real seconds between a standby's attempts to take the lock.
POLL = 0.2
#: Real seconds a standby waits to connect to the leader before answering 503.
CONNECT = 5.0
#: The meta key under which the leader records the URL it is reached at.
LEADER = "leader"
#: The header a standby adds to what it forwards; a standby never forwards such a request
#: again (a stale leader URL that now reaches a standby must not loop).
FORWARDED = "x-qsession-forwarded"
#: Headers that describe one connection, not the request or answer, so they are not relayed.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
)


def lead(app: FastAPI, url: str) -> None:
    """Record ``app``'s process as the leader, reached at ``url``."""
    app.state.cloud.store.set_meta(LEADER, url)


def serving(build: Callable[[], FastAPI], db: str, url: str) -> tuple[ASGIApp, str | None]:
    """What this process serves, reached at ``url``, on the store at ``db``: the cloud
    ``build()`` makes, as the leader, if it gets the store; else a ``Standby``. Also the
    leader's URL when standing by (``None`` if the store does not name one yet)."""
    try:
        app = build()
    except StoreInUse:
        from .pgstore import read_meta  # noqa: PLC0415 - only a PostgreSQL store is shared

        standby = Standby(build, url, partial(read_meta, db, LEADER))
        return standby, standby.leader
    lead(app, url)
    return app, None


class Standby:
    """ASGI app of a process that waits for the database's lock: it forwards every request to
    the leader (whose URL ``leader()`` reads from the store) until ``build()`` (which opens
    the store and raises ``StoreInUse`` while another process holds it) succeeds, then serves
    the app it built, recorded as leader at ``url``."""

    def __init__(
        self, build: Callable[[], FastAPI], url: str, leader: Callable[[], str | None]
    ) -> None:
        self.url = url
        self._build = build
        self._read_leader = leader
        self._leader = leader()
        self._app: FastAPI | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._take_over, name="standby", daemon=True)
        # No limit on an answer (the leader may be busy), but an unreachable leader fails fast.
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=CONNECT))

    @property
    def leader(self) -> str | None:
        """The URL requests are forwarded to, as last read from the store."""
        return self._leader

    def _take_over(self) -> None:
        while not self._stop.is_set():
            try:
                app = self._build()
            except StoreInUse:
                self._stop.wait(POLL)
                continue
            except SchemaError as exc:  # the leader is a newer qsession: keep forwarding to it
                log.error("qsession serve: cannot take over: %s", exc)
                return
            except Exception:
                log.exception("taking over the cloud failed; trying again")
                self._stop.wait(POLL)
                continue
            app.state.cloud.start()
            lead(app, self.url)
            self._app = app
            log.warning("qsession serve: this process now leads the cloud at %s", self.url)
            return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        app = self._app
        if app is not None:
            await app(scope, receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._thread.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._stop.set()
                self._thread.join()
                await self._client.aclose()
                if self._app is not None:
                    self._app.state.cloud.stop()
                    self._app.state.cloud.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        headers = [
            (k, v)
            for k, v in request.headers.raw
            if k.decode().lower() not in _HOP_BY_HOP and k.lower() != b"content-length"
        ]
        headers.append((FORWARDED.encode(), b"1"))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        answer: httpx.Response | None = None
        if self._leader is not None and FORWARDED not in request.headers:
            outgoing = self._client.build_request(
                request.method, self._leader + target, headers=headers, content=body
            )
            with contextlib.suppress(httpx.TransportError):
                answer = await self._client.send(outgoing, stream=True)
        if answer is None:
            self._leader = await anyio.to_thread.run_sync(self._read_leader)
            response: Response = error_response(
                request.url.path,
                503,
                "ServiceUnavailable",
                "no qsession serve process leads this cloud right now (one is taking over);"
                " retry shortly",
            )
            response.headers["Retry-After"] = "1"
            await response(scope, receive, send)
            return
        relayed = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        response = StreamingResponse(
            answer.aiter_raw(), status_code=answer.status_code, headers=relayed
        )
        try:
            await response(scope, receive, send)
        finally:
            await answer.aclose()
