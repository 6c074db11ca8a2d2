"""The emulator's clock: session seconds that run in real time (optionally sped up) or virtually.

Real mode: ``now()`` is real elapsed seconds times ``speed``, so a session's interactive TTL is
60 real seconds at speed 1. Virtual mode: time stands still until the emulator jumps it, which
it does only while jobs are in flight (to the next job end or timer), so tests run as fast as
the circuits execute and a session's TTLs lapse only when a test advances the clock.

It is the ``Clock`` of the emulator's scheduler (``qsession.adapters.local.scheduler``): the
scheduler reaches event times on it (``_reach``) and, in real mode, sleeps on it (``_sleep``).

Session time survives a restart: the store keeps the clock's reading with the wall time it was
taken at, and a restarted clock resumes from what the old one would read now (a real-time
server that was down for two minutes resumes two minutes later; a virtual one where it stopped).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any


class ServerClock:
    """Session seconds for the emulator; ``virtual`` clocks move only by ``jump``."""

    def __init__(self, *, speed: float = 1.0, virtual: bool = False, start: float = 0.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a positive factor; got {speed!r}")
        self.speed = float(speed)
        self.virtual = virtual
        self._base = float(start)
        self._mono = time.monotonic()
        self._scheduler: Any = None

    def now(self) -> float:
        if self.virtual:
            return self._base
        return self._base + (time.monotonic() - self._mono) * self.speed

    def advance(self, seconds: float) -> None:
        """Virtual clocks only: let ``seconds`` pass on the attached scheduler, firing every
        event due meanwhile at its own time."""
        if self._scheduler is None:
            raise RuntimeError("the clock drives no scheduler yet")
        self._scheduler.run(until=self.now() + seconds)

    def _attach(self, scheduler: Any) -> None:
        if self._scheduler not in (None, scheduler):
            raise ValueError("this clock already drives another scheduler; give each its own")
        self._scheduler = scheduler

    def _reach(self, at: float) -> None:
        if self.virtual:
            self._base = max(self._base, at)

    def _sleep(self, condition: threading.Condition, until: float | None) -> None:
        """Real mode: wait on ``condition`` (held) until session time ``until`` or a notify."""
        if self.virtual:
            raise RuntimeError("a virtual clock never sleeps; the scheduler jumps to its event")
        condition.wait(None if until is None else self.seconds_until(until))

    def jump(self, to: float) -> None:
        """Virtual clocks only: move time forward to ``to`` (never backwards)."""
        if not self.virtual:
            raise RuntimeError("only a virtual clock can be jumped; a real clock runs by itself")
        self._base = max(self._base, to)

    def at_least(self, t: float) -> None:
        """Make sure ``now() >= t`` (a restored store may hold times a little ahead)."""
        behind = t - self.now()
        if behind > 0:
            self._base += behind

    def seconds_until(self, at: float) -> float:
        """Real seconds until session time ``at`` (real mode), for sleeping."""
        return max(0.0, (at - self.now()) / self.speed)

    def reading(self) -> str:
        """What the store keeps so that a restarted clock resumes from here."""
        rate = 0.0 if self.virtual else self.speed
        return json.dumps({"t": self.now(), "wall": time.time(), "rate": rate})

    @staticmethod
    def resumed(reading: str | None) -> float:
        """Session time now, as the clock that left ``reading`` would tell it."""
        if reading is None:
            return 0.0
        data = json.loads(reading)
        return float(data["t"]) + max(0.0, time.time() - float(data["wall"])) * float(data["rate"])

    def __repr__(self) -> str:
        mode = "virtual" if self.virtual else f"speed={self.speed:g}"
        return f"ServerClock({mode}, now={self.now():.3f})"
