"""An emulator (``qsession serve``) on a free loopback port, and a clock on its timeline."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import attrs
import pytest
from fastapi import Request, Response
from qsession.adapters.emulator import ServerClock, SQLiteStore, create_app
from qsession.adapters.emulator.cloud import Cloud
from qsession.adapters.emulator.serve import running


@attrs.frozen
class Emulator:
    """A running emulator: its URL, its cloud for the clock, and every request it served
    (``"METHOD /path"``, in order)."""

    url: str
    cloud: Cloud
    requests: list[str]

    def now(self) -> float:
        """The service's time as its timestamps count it: POSIX seconds. The adapters take
        this as their clock, so their predictions and the service share one timeline."""
        return self.cloud.epoch + self.cloud.clock.now()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual session time pass (TTLs lapse, timers fire)."""
        self.cloud.advance(seconds)


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    """``start_emulator(virtual=True, **create_app kwargs)``: serve a fresh emulator."""
    counter = itertools.count()
    with ExitStack() as stack:

        def start(*, virtual: bool = True, **kwargs: Any) -> Emulator:
            store = SQLiteStore(tmp_path / f"emulator-{next(counter)}.db")
            app = create_app(store, ServerClock(virtual=virtual), seed=11, **kwargs)
            requests: list[str] = []

            @app.middleware("http")
            async def log_request(request: Request, call_next: Any) -> Response:
                requests.append(f"{request.method} {request.url.path}")
                response: Response = await call_next(request)
                return response

            return Emulator(stack.enter_context(running(app)), app.state.cloud, requests)

        yield start


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """A fresh emulator in virtual time."""
    return start_emulator()
