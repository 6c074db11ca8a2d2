"""Clocks for the local backend: virtual time for tests, wall time (optionally sped up) for demos.

A clock belongs to one scheduler. ``now()`` is seconds on the session clock; ``advance(seconds)``
models classical work between jobs: on a virtual clock it jumps, firing every due event at its
own time, so an 8-hour max TTL is tested in milliseconds; on a wall clock it sleeps.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .scheduler import Scheduler


class Clock(Protocol):
    """What the scheduler needs from a clock (the underscored methods are its private side)."""

    virtual: bool

    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...

    def _attach(self, scheduler: Scheduler) -> None: ...

    def _reach(self, at: float) -> None: ...

    def _sleep(self, condition: threading.Condition, until: float | None) -> None: ...


class _Attachable:
    def __init__(self) -> None:
        self._scheduler: Scheduler | None = None

    def _attach(self, scheduler: Scheduler) -> None:
        if self._scheduler is not None and self._scheduler is not scheduler:
            raise ValueError("this clock already drives another scheduler; give each its own")
        self._scheduler = scheduler


class VirtualClock(_Attachable):
    """Time that moves only when the scheduler reaches its next event or ``advance`` is called."""

    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of classical work pass; every event due meanwhile happens on time."""
        if not seconds >= 0:
            raise ValueError(f"advance takes a non-negative number of seconds; got {seconds!r}")
        until = self._now + seconds
        if self._scheduler is None:
            self._now = until
        else:
            self._scheduler.run(until=until)

    def _reach(self, at: float) -> None:
        self._now = max(self._now, at)

    def _sleep(self, condition: threading.Condition, until: float | None) -> None:
        raise RuntimeError("a virtual clock never sleeps; the scheduler jumps to its next event")

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:g})"


class WallClock(_Attachable):
    """Real elapsed time times ``speed`` (``speed=60`` plays a session minute per second)."""

    virtual = False

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a positive factor; got {speed!r}")
        super().__init__()
        self._speed = float(speed)
        self._origin = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self._speed

    def advance(self, seconds: float) -> None:
        """Sleep for ``seconds`` of session time (``seconds / speed`` real seconds)."""
        if not seconds >= 0:
            raise ValueError(f"advance takes a non-negative number of seconds; got {seconds!r}")
        if self._scheduler is None:
            time.sleep(seconds / self._speed)
        else:
            self._scheduler.run(until=self.now() + seconds)

    def _reach(self, at: float) -> None:
        """Wall time moves by itself; events are processed once it has passed them."""

    def _sleep(self, condition: threading.Condition, until: float | None) -> None:
        """Wait on ``condition`` (held) until session time ``until`` or a notification."""
        timeout = None if until is None else max(0.0, (until - self.now()) / self._speed)
        condition.wait(timeout)

    def __repr__(self) -> str:
        return f"WallClock(speed={self._speed:g})"
