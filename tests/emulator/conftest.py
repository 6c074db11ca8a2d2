"""Fixtures: an emulator served on a free loopback port from this process, stopped after use,
on each store: every test that starts one runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from qsession.adapters.emulator import ServerClock, create_app, open_store
from qsession.adapters.emulator.auth import ADMIN_HEADER, Tenancy
from qsession.adapters.emulator.cloud import Cloud
from qsession.adapters.emulator.serve import running

BELL = {
    "qubits": 2,
    "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}],
}

AZURE_WS = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/qsession"
    "/providers/Microsoft.Quantum/workspaces/emulator"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The admin key the fixtures' emulators run with.
ADMIN_KEY = "test-admin-key"


@attrs.frozen
class Emulator:
    """A running emulator: its URL, its cloud (for the clock and for inspection) and its
    tenancy (for signing with its keys)."""

    url: str
    cloud: Cloud
    tenancy: Tenancy

    def advance(self, seconds: float) -> float:
        """Let ``seconds`` of virtual session time pass (through the admin endpoint)."""
        answer = httpx.post(
            f"{self.url}/emulator/v1/clock/advance",
            json={"seconds": seconds},
            headers={ADMIN_HEADER: ADMIN_KEY},
        )
        answer.raise_for_status()
        return float(answer.json()["now"])


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """``new_store_location()``: where a fresh, empty store goes (an SQLite file, or a new
    database on the tests' PostgreSQL server), for ``--db`` or ``open_store``."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        return server.new_database  # type: ignore[no-any-return]
    counter = itertools.count()
    return lambda: str(tmp_path / f"emulator-{next(counter)}.db")


@pytest.fixture
def start_emulator(new_store_location: Callable[[], str]) -> Iterator[Callable[..., Emulator]]:
    """``start_emulator(virtual=True, speed=1.0, **create_app kwargs)``: serve a fresh one
    (with ``admin_key=ADMIN_KEY`` unless told otherwise)."""
    with ExitStack() as stack:

        def start(*, virtual: bool = True, speed: float = 1.0, **kwargs: Any) -> Emulator:
            store = open_store(new_store_location())
            kwargs.setdefault("admin_key", ADMIN_KEY)
            app = create_app(store, ServerClock(virtual=virtual, speed=speed), seed=7, **kwargs)
            url = stack.enter_context(running(app))
            return Emulator(url, app.state.cloud, app.state.tenancy)

        yield start


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """A fresh emulator in virtual time."""
    return start_emulator()


def unsigned(value: Any) -> Any:
    """``value`` with the query string of every URI in it removed: a SAS in a job's URIs
    expires a fixed real time after it is issued, so two reads of a job differ there."""
    if isinstance(value, dict):
        return {k: unsigned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unsigned(v) for v in value]
    if isinstance(value, str) and value.startswith("http"):
        return value.partition("?")[0]
    return value
