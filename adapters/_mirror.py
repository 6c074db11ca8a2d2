"""The mirror both SDK adapters share: a core session fed what an adapter observes, on one clock.

Theory of operation
-------------------
An adapter watches a real SDK session from outside: submissions, job status changes, close,
cancel and, on a real service, the service's own view. The mirror turns each observation into a
``qsession.core`` event at a time on the adapter's clock and keeps what followed: the events (for
``qsession.spec.check_trace``), the state and exclusivity changes and the jobs (for
``timeline()``).

The core takes events in time order, but an adapter may learn of a job's start or end after the
fact, stamped by the service. ``learn`` keeps such events pending; ``settle(upto)`` feeds the
pending ones up to ``upto`` in time order and lets the core's timers fire up to there. An adapter
settles only up to a time it has fully observed (a clock reading taken before it polled), so no
event it learns later can be older than the core's last one. Predictions (``preview``) run on a
copy of the core with the pending events fed and time advanced to now, and never move the mirror.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from qsession.core import Session as CoreSession
from qsession.core.effects import Effect, ExclusivityChanged, StateChanged
from qsession.core.events import (
    Advance,
    Event,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    Submit,
)
from qsession.core.policies import Policy

if TYPE_CHECKING:
    from qsession.adapters.local.timeline import Timeline

Clock = Callable[[], float]
#: Services stamp times to the millisecond (IBM) or microsecond (Azure), rounding; an event
#: stamped within this of a clock reading counts as seen by that reading.
RESOLUTION = 1e-3
#: Tie-breaks for events learned with equal times: submissions, then job ends, then job starts
#: (a QPU frees before it takes the next job).
_RANK: dict[type[Event], int] = {
    Submit: 0,
    JobCompleted: 1,
    JobFailed: 1,
    JobCancelled: 1,
    JobStarted: 2,
}


class Mirror:
    """A core session driven by an adapter's observations (see the module doc).

    ``on_effects`` is called, under the mirror's lock, with the effects of every event fed; the
    adapter carries them out (IBM local mode: fail the jobs the max TTL failed).
    """

    def __init__(
        self,
        policy: Policy,
        *,
        session_id: str,
        opened_at: float,
        backend: str,
        clock: Clock,
        on_effects: Callable[[tuple[Effect, ...]], None] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.core = CoreSession.open(policy, session_id=session_id, at=opened_at)
        self.opened_at = opened_at
        self.backend = backend
        self.clock = clock
        self._on_effects = on_effects
        self._events: list[Event] = []
        self._history: list[tuple[Any, ...]] = [
            ("state", opened_at, str(self.core.state), self.core.accepting_jobs, "open")
        ]
        self._names: dict[str, str | None] = {}
        self._pending: list[tuple[float, int, int, Event]] = []
        self._seq = itertools.count()

    @property
    def policy(self) -> Policy:
        return self.core.policy

    @property
    def session_id(self) -> str:
        return self.core.session_id

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event fed to the core so far, in order, for ``qsession.spec.check_trace``."""
        with self.lock:
            return tuple(self._events)

    @property
    def unsettled(self) -> bool:
        """Whether learned events still wait for ``settle`` (they are later than it reached)."""
        return bool(self._pending)

    def now(self) -> float:
        """The clock's reading, never before the core's last event."""
        return max(self.clock(), self.core.last_event_at)

    def feed(self, event: Event, *, name: str | None = None) -> tuple[Effect, ...]:
        """Hand ``event`` to the core; record it and what followed; carry out the effects.

        An event stamped before the core's last one (a learned event settled a little ahead,
        within ``RESOLUTION``) takes that time instead. A refused event raises the core's error
        and is recorded too (the checker replays refusals). ``name`` labels a submitted job in
        the timeline.
        """
        with self.lock:
            event = _no_earlier(event, self.core)
            self._events.append(event)
            effects = self.core.handle(event)
            if isinstance(event, Submit):
                self._names.setdefault(event.job_id, name)
            self._history.extend(_changes(event, effects))
            if effects and self._on_effects is not None:
                self._on_effects(effects)
            return effects

    def advance(self, to: float) -> None:
        """Fire the timers due by ``to`` (recorded only when one is due)."""
        with self.lock:
            deadline = self.core.next_deadline
            if deadline is not None and deadline <= to:
                self.feed(Advance(to))

    def learn(self, event: Event, *, name: str | None = None) -> None:
        """Keep ``event`` (stamped by the service) until ``settle`` reaches its time; ``name``
        labels a learned submission in the timeline."""
        with self.lock:
            if isinstance(event, Submit):
                self._names.setdefault(event.job_id, name)
            heapq.heappush(
                self._pending, (event.at, _RANK.get(type(event), 3), next(self._seq), event)
            )

    def settle(self, upto: float) -> None:
        """Feed the pending events up to ``upto`` in time order, then advance to ``upto``."""
        with self.lock:
            due = []
            while self._pending and self._pending[0][0] <= upto + RESOLUTION:
                due.append(heapq.heappop(self._pending)[3])
            for event in _starts_first(due):
                self._feed_learned(self.core, event)
            self.advance(max(upto, self.core.last_event_at))

    def preview(self, at: float) -> CoreSession:
        """A copy of the core with the pending events up to ``at`` fed and time advanced to
        ``at`` (or to the core's last event, if later): what the provider shows at ``at``."""
        return self._project(at)[0]

    def timeline(self, at: float) -> Timeline:
        """State changes, exclusivity changes and jobs up to ``at`` (predicted ones included),
        in time order, as the local backend's ``Timeline``."""
        # Deferred: qsession.adapters.local imports qiskit, which the azure extra does not need.
        from qsession.adapters.local.timeline import (  # noqa: PLC0415
            ExclusivityEntry,
            JobEntry,
            StateEntry,
            Timeline,
        )

        with self.lock:
            view, predicted = self._project(at)
            entries: list[StateEntry | ExclusivityEntry | JobEntry] = []
            for item in [*self._history, *predicted]:
                if item[0] == "job":
                    job = view.job(item[1])
                    entries.append(
                        JobEntry(
                            item[1],
                            self._names.get(item[1]),
                            (),
                            str(job.state),
                            job.submitted_at,
                            job.started_at,
                            job.ended_at,
                            job.reason,
                        )
                    )
                else:
                    kind = StateEntry if item[0] == "state" else ExclusivityEntry
                    entries.append(kind(*item[1:]))
            entries.sort(key=lambda entry: entry.at)
            return Timeline(
                self.session_id, self.backend, self.policy, self.opened_at, at, tuple(entries)
            )

    def _project(self, at: float) -> tuple[CoreSession, list[tuple[Any, ...]]]:
        """The preview at ``at`` and the changes it predicts beyond the recorded history."""
        with self.lock:
            copy = CoreSession(self.core.snapshot())
            changes: list[tuple[Any, ...]] = []
            due = [e for when, _, _, e in sorted(self._pending) if when <= at + RESOLUTION]
            for event in _starts_first(due):
                changes.extend(self._feed_learned(copy, event))
            to = max(at, copy.last_event_at)
            changes.extend(_changes(Advance(to), copy.advance(to=to)))
            return copy, changes

    def _feed_learned(self, core: CoreSession, event: Event) -> list[tuple[Any, ...]]:
        """Feed a learned event to ``core`` (the mirror's or a preview) unless it is stale: a
        submission already seen, a start of a job no longer queued, an end of a job the
        session already ended (max TTL, cancel, abort). Returns a preview's changes."""
        job_id: str = getattr(event, "job_id")  # noqa: B009 - learned events are job events
        job = core.jobs.get(job_id)
        if isinstance(event, Submit):
            stale = job is not None
        else:
            stale = job is None or not (
                job.state == "queued" if isinstance(event, JobStarted) else job.state.in_flight
            )
        if stale:
            return []
        if core is self.core:
            self.feed(event)
            return []
        event = _no_earlier(event, core)
        return _changes(event, core.handle(event))


def _no_earlier(event: Event, core: CoreSession) -> Event:
    """``event``, at the core's last event time if it is stamped before it."""
    if event.at < core.last_event_at:
        return attrs.evolve(event, at=core.last_event_at)
    return event


def _changes(event: Event, effects: tuple[Effect, ...]) -> list[tuple[Any, ...]]:
    """Timeline items for an event and its effects: a job's submission, state and
    exclusivity changes."""
    items: list[tuple[Any, ...]] = [("job", event.job_id)] if isinstance(event, Submit) else []
    for effect in effects:
        if isinstance(effect, StateChanged):
            items.append(("state", effect.at, effect.state, effect.accepting_jobs, effect.cause))
        elif isinstance(effect, ExclusivityChanged):
            items.append(("exclusive", effect.at, effect.exclusive))
    return items


def _starts_first(events: list[Event]) -> list[Event]:
    """``events`` in order, except that a job's start moves before its end when the two share
    a time (the tie-break ranks ends before starts, which is right only across jobs)."""
    starts: dict[str, JobStarted] = {}
    for event in events:
        if isinstance(event, JobStarted):
            starts.setdefault(event.job_id, event)
    ordered: list[Event] = []
    for event in events:
        if isinstance(event, JobStarted):
            if starts.pop(event.job_id, None) is event:
                ordered.append(event)
            continue
        job_id = getattr(event, "job_id", None)
        if job_id in starts and not isinstance(event, Submit):
            ordered.append(starts.pop(job_id))
        ordered.append(event)
    return ordered
