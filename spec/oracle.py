"""The python-statemachine oracle: the provider chart itself, executed by python-statemachine.

``OracleSession`` handles events like ``qsession.core.Session`` but chooses each transition by
asking the chart (``StateMachine.send``) instead of the compiled table. It shares only the
generic job rules (``check_job``, ``book``, ``settle``) with the engine, so a differential test
over random traces proves the compiled table takes the transitions the declaration defines.
It is slow by design; the benchmark drives it as the "python-statemachine directly" row.
"""

from __future__ import annotations

import math
from typing import Any

from qsession.core.effects import Effect
from qsession.core.engine import Machine, book, check_job, next_deadline, refusal, settle
from qsession.core.errors import InvalidEventError
from qsession.core.events import Advance, Event, Expire
from qsession.core.policies import Policy
from qsession.core.records import SessionRecord
from qsession.core.session import Session
from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

_ORACLES: dict[str, type[StateMachine]] = {}


def _oracle_chart(machine: Machine) -> type[StateMachine]:
    """The chart subclassed with one method per guard and action name it declares."""
    cached = _ORACLES.get(machine.name)
    if cached is not None:
        return cached
    namespace: dict[str, Any] = {}
    for name, guard in machine.guards.items():
        namespace[name] = lambda self, ev, _guard=guard: _guard(self.host.rec, ev)
    for name, action in machine.actions.items():
        namespace[name] = lambda self, ev, _act=action: _act(self.host.rec, ev, self.host.effects)
    namespace["before_transition"] = lambda self, ev: book(self.host.rec, ev, self.host.job)
    chart = type(f"{machine.chart.__name__}Oracle", (machine.chart,), namespace)
    _ORACLES[machine.name] = chart
    return chart


class OracleSession:
    """A session whose transitions python-statemachine executes (see module doc)."""

    def __init__(self, policy: Policy, *, session_id: str, at: float) -> None:
        self.rec: SessionRecord[Any] = Session.open(policy, session_id=session_id, at=at).snapshot()
        self.effects: list[Effect] = []
        self.job: Any = None
        self.chart = _oracle_chart(policy.machine)()
        self.chart.host = self

    def handle(self, event: Event) -> tuple[Effect, ...]:
        """Apply ``event`` all-or-nothing, like ``Session.handle``."""
        rec = self.rec
        if not rec.last_at <= event.at < math.inf:
            raise InvalidEventError(
                f"session {rec.session_id!r}: time {event.at!r} goes backwards",
                session_id=rec.session_id,
                state=str(rec.state),
                event=event.name,
            )
        saved = (rec.clone(), self.chart.current_state_value)
        self.effects = []
        try:
            while rec.deadline <= event.at:
                for timer, deadline in rec.policy.machine.timers:
                    if deadline(rec) == rec.deadline:
                        self._send(Expire(timer, rec.deadline))
                        break
            if not isinstance(event, Advance):
                self._send(event)
        except Exception:
            self.rec, self.chart.current_state_value = saved
            raise
        self.rec.last_at = event.at
        return tuple(self.effects)

    def _send(self, event: Event | Expire) -> None:
        rec = self.rec
        rec.last_at = event.at
        self.job = check_job(rec, event)
        before = (rec.state, rec.accepting_jobs, rec.exclusive)
        try:
            self.chart.send(event.name, ev=event)
        except TransitionNotAllowed:
            raise refusal(rec, event.name) from None
        settle(rec, event, before, self.chart.current_state_value, self.effects)
        assert rec.deadline == next_deadline(rec)

    def snapshot(self) -> SessionRecord[Any]:
        return self.rec.clone()
