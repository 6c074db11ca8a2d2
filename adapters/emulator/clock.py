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

Every input is bounded, so no request, flag or stored reading can break the clock: session time
runs from 0 to ``HORIZON`` (a real clock stops there), ``speed`` is from ``MIN_SPEED`` to
``MAX_SPEED``, one advance is at most ``MAX_ADVANCE``, and the epoch (the Unix time of session
time 0) keeps every session timestamp a valid date. Anything else raises ``ClockError`` and
changes nothing.
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import UTC, datetime
from typing import Any

#: Session time never passes this many seconds (about 317 years).
HORIZON = 1e10
#: Real-clock speeds accepted (session seconds per real second).
MIN_SPEED, MAX_SPEED = 1e-3, 1e4
#: The longest single advance of a virtual clock (ten years of 365 days).
MAX_ADVANCE = 10 * 365 * 86400.0
#: Unix times the epoch may take: session timestamps stay dates from 1970 to year 9999.
_MAX_EPOCH = datetime(9999, 1, 1, tzinfo=UTC).timestamp() - HORIZON


class ClockError(ValueError):
    """A clock input outside its documented range; nothing was changed."""


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClockError(f"{name} must be a number; got {value!r}")
    if not math.isfinite(value):
        raise ClockError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def check_speed(speed: object) -> float:
    """``speed`` as a float, or ``ClockError`` if it is not from ``MIN_SPEED`` to ``MAX_SPEED``."""
    value = _finite("speed", speed)
    if not MIN_SPEED <= value <= MAX_SPEED:
        raise ClockError(f"speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}; got {speed!r}")
    return value


class ServerClock:
    """Session seconds for the emulator; ``virtual`` clocks move only by ``jump``."""

    def __init__(self, *, speed: float = 1.0, virtual: bool = False, start: float = 0.0) -> None:
        self.speed = check_speed(speed)
        self.virtual = virtual
        self._base = _finite("start", start)
        if not 0 <= self._base <= HORIZON:
            raise ClockError(f"start must be from 0 to {HORIZON:g} session seconds; got {start!r}")
        self._mono = time.monotonic()
        self._scheduler: Any = None

    def now(self) -> float:
        if self.virtual:
            return self._base
        return min(HORIZON, self._base + (time.monotonic() - self._mono) * self.speed)

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
        self._base = max(self._base, min(HORIZON, to))

    def advance_to(self, seconds: object) -> float:
        """The session time an advance by ``seconds`` reaches; ``ClockError`` (and nothing
        changed) unless ``0 < seconds <= MAX_ADVANCE`` and the result is within ``HORIZON``."""
        value = _finite("seconds", seconds)
        if not 0 < value <= MAX_ADVANCE:
            raise ClockError(
                f"seconds must be above 0 and at most {MAX_ADVANCE:g}; got {seconds!r}"
            )
        until = self.now() + value
        if until > HORIZON:
            raise ClockError(
                f"advancing {value:g} s would take session time to {until:g} s, past the"
                f" emulator's horizon of {HORIZON:g} s; start it with a fresh --db"
            )
        return until

    def at_least(self, t: float) -> None:
        """Make sure ``now() >= t`` (a restored store may hold times a little ahead)."""
        behind = min(HORIZON, t) - self.now()
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
        """Session time now, as the clock that left ``reading`` would tell it; ``ClockError``
        for a reading no bounded clock can have left."""
        if reading is None:
            return 0.0
        try:
            data = json.loads(reading)
            t, wall, rate = (_finite(name, data[name]) for name in ("t", "wall", "rate"))
        except (ValueError, KeyError, TypeError) as exc:
            raise ClockError(f"the stored clock reading {reading!r} is not valid: {exc}") from None
        if not (0 <= t <= HORIZON and 0 <= rate <= MAX_SPEED):
            raise ClockError(
                f"the stored clock reads {t:g} s at speed {rate:g}, outside 0 to {HORIZON:g} s"
                f" and 0 to {MAX_SPEED:g}; start with a fresh --db"
            )
        return min(HORIZON, t + max(0.0, time.time() - wall) * rate)

    def epoch(self, stored: str | None) -> float:
        """The Unix time of session time 0: ``stored`` if valid, else now minus ``now()``."""
        if stored is None:
            return time.time() - self.now()
        try:
            value = _finite("epoch", float(stored))
        except ValueError as exc:
            raise ClockError(f"the stored epoch {stored!r} is not valid: {exc}") from None
        if not 0 <= value <= _MAX_EPOCH:
            raise ClockError(
                f"the stored epoch {stored!r} is outside 0 to {_MAX_EPOCH:.0f} (Unix time);"
                " start with a fresh --db"
            )
        return value

    def __repr__(self) -> str:
        mode = "virtual" if self.virtual else f"speed={self.speed:g}"
        return f"ServerClock({mode}, now={self.now():.3f})"
