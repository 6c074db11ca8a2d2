"""The python-statemachine oracle: the provider chart itself, its guards answered by the
reference model.

``OracleSession`` takes events like ``qsession.core.Session``. For each transition (every
timer that is due, then the event) it asks the reference model (``reference``) the chart's
guard questions about the session as it is *before* that transition, lets python-statemachine
choose the transition (``StateMachine.send``), and then applies the same transition to the
reference model. Nothing of the core runs: the chart is only the declaration of states and
rows, so a differential test against the core compares two implementations, and the chart's
state must agree with the reference model's after every transition.

It is slow by design; the benchmark drives it as the "python-statemachine directly" row.
"""

from __future__ import annotations

from typing import Any

from qsession.core.errors import InvalidEventError, SessionClosedError, SessionError
from qsession.core.events import Advance, Event
from qsession.core.policies import AzurePolicy, IBMPolicy, Policy
from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

from .reference import RefEffect, Reference

_ORACLES: dict[str, type[StateMachine]] = {}


def _guard(name: str) -> Any:
    """The chart's guard ``name``, answered from the reference model before the transition."""

    def accepting(ref: Reference, event: Any) -> bool:
        return ref.accepting

    def idle(ref: Reference, event: Any) -> bool:
        return not ref.in_flight

    def last_to_drain(ref: Reference, event: Any) -> bool:
        ending = getattr(event, "job_id", None)
        return not ref.accepting and ref.in_flight == [ending]

    def aborts(ref: Reference, event: Any) -> bool:
        policy = ref.policy
        return isinstance(policy, AzurePolicy) and policy.job_failure_policy == "abort"

    answers = {
        "accepting": accepting,
        "idle": idle,
        "last_to_drain": last_to_drain,
        "aborts": aborts,
    }
    answer = answers[name]
    return lambda self, ev: answer(self.host.before, ev)


def _oracle_chart(chart: type[StateMachine]) -> type[StateMachine]:
    """The chart subclassed with the reference's answer to each guard it names and a no-op
    for each action (the reference model carries out what actions do)."""
    cached = _ORACLES.get(chart.__name__)
    if cached is not None:
        return cached
    namespace: dict[str, Any] = {}
    for state in chart.states:
        for transition in state.transitions:
            for spec in transition.cond:
                if not spec.is_convention:
                    namespace[spec.func] = _guard(spec.func)
            for spec in transition.on:
                if not spec.is_convention:
                    namespace[spec.func] = lambda self, ev: None
    oracle = type(f"{chart.__name__}Oracle", (chart,), namespace)
    _ORACLES[chart.__name__] = oracle
    return oracle


class OracleDisagreement(AssertionError):
    """The chart and the reference model entered different states."""


class OracleSession:
    """A session whose transitions python-statemachine chooses (see module doc)."""

    def __init__(self, policy: Policy, *, session_id: str, at: float) -> None:
        assert isinstance(policy, IBMPolicy | AzurePolicy)
        self.reference = Reference(policy, session_id=session_id, at=at)
        self.before = self.reference
        self.chart = _oracle_chart(policy.machine.chart)()
        self.chart.host = self

    @property
    def state(self) -> str:
        return str(self.chart.current_state_value)

    def handle(self, event: Event) -> tuple[RefEffect, ...]:
        """Apply ``event`` all-or-nothing; raise the error ``Session.handle`` would."""
        ref = self.reference
        if not ref.in_order(event):
            raise self._error(InvalidEventError, event, "its time goes backwards", ref)
        trial, saved = ref.clone(), self.chart.current_state_value
        effects: list[RefEffect] = []
        rules: list[str] = []
        try:
            while (timer := trial.due_timer(event.at)) is not None:
                self._send(trial, timer, event)
                trial.fire(timer, effects, rules)
                self._agree(trial)
            if not isinstance(event, Advance):
                refusal = trial.check_job(event)
                if refusal is not None:
                    raise self._error(InvalidEventError, event, f"refused by {refusal.rule}", trial)
                self._send(trial, event.name, event)
                assert trial.apply(event, effects, rules) is None
                self._agree(trial)
        except SessionError:
            self.chart.current_state_value = saved
            raise
        trial.now = event.at
        self.reference = trial
        return tuple(effects)

    def _send(self, trial: Reference, name: str, event: Event) -> None:
        self.before = trial.clone()
        try:
            self.chart.send(name, ev=event)
        except TransitionNotAllowed:
            kind = SessionClosedError if name == "submit" else InvalidEventError
            raise self._error(kind, event, "the chart has no transition", trial) from None

    def _agree(self, trial: Reference) -> None:
        if self.state != trial.state:
            raise OracleDisagreement(
                f"the chart entered {self.state!r} but the reference model {trial.state!r}"
            )

    @staticmethod
    def _error(kind: type[SessionError], event: Event, why: str, ref: Reference) -> SessionError:
        return kind(
            f"session {ref.session_id!r} is {ref.state!r}; cannot take {event.name!r}: {why}",
            session_id=ref.session_id,
            state=ref.state,
            event=event.name,
        )
