"""The trace checker: replays events on a fresh session and on the reference model, and
checks every property and the comparison with the reference on each step.

Before each event the checker advances both to every timer deadline the event passes (the
core's or the reference's, whichever is earlier), one ``Advance`` step per deadline, so that
properties see one transition (or the timers of one instant) per step. A deadline that does
not move past the instant it was advanced to is a TIMER-DEADLINE violation, and the checker
stops advancing instead of looping. A shadow session takes the trace as given; TIMER-ORDER
holds when the two agree after every event. Each rule a step exercised is counted in
``COVERAGE``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
from qsession.core.effects import Effect
from qsession.core.errors import SessionError
from qsession.core.events import Advance, Event
from qsession.core.policies import AzurePolicy, IBMPolicy, Policy
from qsession.core.records import SessionRecord
from qsession.core.session import Session

from .catalogue import RULES_BY_ID
from .coverage import COVERAGE
from .properties import PROPERTIES, Step, agreement
from .reference import Reference, View

_PROVIDER_RULES = {
    provider: tuple(
        (rule_id, prop)
        for rule_id, prop in PROPERTIES.items()
        if RULES_BY_ID[rule_id].provider in ("any", provider)
    )
    for provider in ("ibm", "azure")
}


@attrs.frozen
class Trace:
    """A session's history: its policy, id, opening time and the events fed to it in order."""

    policy: Policy
    session_id: str
    opened_at: float
    events: tuple[Event, ...]


class Checker:
    """Feeds events to a session and collects property violations (see module doc)."""

    def __init__(self, policy: Policy, *, session_id: str = "s", opened_at: float = 0.0) -> None:
        self.session = Session.open(policy, session_id=session_id, at=opened_at)
        self.reference = Reference(policy, session_id=session_id, at=opened_at)
        self._view: View = self.reference.view()
        self.shadow = Session(self.session.snapshot())
        self.violations: list[str] = []
        self.steps = 0
        provider = "ibm" if isinstance(policy, IBMPolicy) else "azure"
        assert isinstance(policy, IBMPolicy | AzurePolicy)
        self._rules = _PROVIDER_RULES[provider]

    def copy(self) -> Checker:
        twin = object.__new__(Checker)
        twin.session = Session(self.session.snapshot())
        twin.reference = self.reference.clone()
        twin._view = self._view
        twin.shadow = Session(self.shadow.snapshot())
        twin.violations = list(self.violations)
        twin.steps = self.steps
        twin._rules = self._rules
        return twin

    def feed(self, event: Event) -> tuple[tuple[Effect, ...], SessionError | None]:
        """Apply ``event`` (after the timer steps it implies); return all the effects and the
        event's error, if any."""
        start = self.session.snapshot()
        effects: list[Effect] = []
        deadline = self.next_deadline()
        while deadline is not None and start.last_at <= deadline <= event.at:
            if isinstance(event, Advance) and deadline == event.at:
                break
            effects.extend(self._step(Advance(deadline))[0])
            following = self.next_deadline()
            if following is not None and following <= deadline:
                COVERAGE["TIMER-DEADLINE"] += 1
                self.violations.append(
                    f"TIMER-DEADLINE violated: after advancing to {deadline!r} the next deadline"
                    f" is still {following!r} (core {self.session.next_deadline!r}, reference"
                    f" {self._view.deadline!r}); a deadline that does not advance would loop"
                    " forever, so the checker stopped advancing"
                )
                break
            deadline = following
        done, error = self._step(event)
        effects.extend(done)
        self._check_timer_order(event, start, effects, error)
        return tuple(effects), error

    def next_deadline(self) -> float | None:
        """The earlier of the core's and the reference's next deadline."""
        times = [t for t in (self.session.next_deadline, self._view.deadline) if t is not None]
        return min(times, default=None)

    def _step(self, event: Event) -> tuple[tuple[Effect, ...], SessionError | None]:
        before = self.session.snapshot()
        try:
            effects, error = self.session.handle(event), None
        except SessionError as exc:
            effects, error = (), exc
        except Exception as exc:  # a crash of the core is a finding, not the checker's end
            self.violations.append(
                f"EVENT-ERROR-NO-CHANGE violated ({RULES_BY_ID['EVENT-ERROR-NO-CHANGE'].sentence})"
                f" by {event!r}: the core raised {exc!r} instead of a SessionError"
            )
            self.session = Session(before)
            effects, error = (), SessionError(repr(exc))
        ref_before = self._view
        outcome = self.reference.feed(event)
        if outcome.refusal is None:
            self._view = self.reference.view()
        step = Step(
            before, event, self.session.snapshot(), effects, error, ref_before, self._view, outcome
        )
        self.steps += 1
        job_id = getattr(event, "job_id", "-")
        well_formed = type(job_id) is str and bool(job_id)
        for rule_id, prop in self._rules:
            if not well_formed and rule_id != "EVENT-ERROR-NO-CHANGE":
                continue  # an id no session accepts: the comparison below judges the event
            try:
                verdict = prop(step)
            except (KeyError, AttributeError, TypeError) as exc:
                self.violations.append(
                    f"{_describe(rule_id, step)}; the core's record is malformed: {exc!r}"
                )
                continue
            if verdict is None:
                continue
            COVERAGE[rule_id] += 1
            if not verdict:
                self.violations.append(_describe(rule_id, step))
        reported: set[tuple[str, str]] = set()
        try:
            compared = list(agreement(step))
        except (KeyError, AttributeError, TypeError) as exc:
            compared = [("JOB-CONSERVATION", False, f"the core's record is malformed: {exc!r}")]
        for rule_id, held, what in compared:
            COVERAGE[rule_id] += 1
            if not held and (rule_id, what) not in reported:
                reported.add((rule_id, what))
                self.violations.append(
                    f"{rule_id} violated ({RULES_BY_ID[rule_id].sentence}) by {event!r}:"
                    f" the core disagrees with the reference model: {what}"
                )
        return effects, error

    def _check_timer_order(
        self,
        event: Event,
        start: SessionRecord[Any],
        effects: list[Effect],
        error: SessionError | None,
    ) -> None:
        try:
            raw, raw_error = self.shadow.handle(event), None
        except Exception as exc:  # a crash of the core is reported below, as a disagreement
            raw, raw_error = (), exc
        COVERAGE["TIMER-ORDER"] += 1
        if raw_error is not None:
            held = isinstance(raw_error, SessionError) and error is not None
            held = held and self.shadow.snapshot() == start
        else:
            held = error is None and raw == tuple(effects)
            held = held and self.shadow.snapshot() == self.session.snapshot()
        if not held:
            self.violations.append(
                f"TIMER-ORDER violated by {event!r}: the event alone gave {raw!r}"
                f" ({raw_error!r}); advancing deadline by deadline gave {effects!r} ({error!r})"
            )
        self.shadow = Session(self.session.snapshot())


def _describe(rule_id: str, step: Step) -> str:
    rule = RULES_BY_ID[rule_id]
    return (
        f"{rule_id} violated ({rule.sentence}) by {step.event!r}: before"
        f" {step.before.state}/accepting={step.before.accepting_jobs}, after"
        f" {step.after.state}/accepting={step.after.accepting_jobs}, effects {step.effects!r},"
        f" error {step.error!r}"
    )


def check_trace(
    policy: Policy | Trace,
    *,
    session_id: str = "s",
    opened_at: float = 0.0,
    events: Iterable[Event] = (),
) -> list[str]:
    """Replay a trace on a fresh session; return the violated rules (empty when all held)."""
    trace = (
        policy if isinstance(policy, Trace) else Trace(policy, session_id, opened_at, tuple(events))
    )
    checker = Checker(trace.policy, session_id=trace.session_id, opened_at=trace.opened_at)
    for event in trace.events:
        checker.feed(event)
    return checker.violations
