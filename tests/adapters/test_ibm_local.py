"""qsession.adapters.ibm in IBM's local testing mode: real fake backends, real primitives."""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session, executor_sampler
from qiskit_ibm_runtime.exceptions import (
    IBMRuntimeError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
)
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from qsession.adapters.ibm import MaxTTLWarning, SessionRuleWarning, TrackedSession, track
from qsession.adapters.local import VirtualClock
from qsession.adapters.local.demo import H2, ansatz, exact_ground_energy
from qsession.core import PolicyError
from qsession.spec import check_trace
from scipy.optimize import minimize

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CLOSED = r"The session is closed\."


class HeldManila(FakeManilaV2):
    """FakeManilaV2 whose QPU holds every job until ``release()``, so jobs stay in flight."""

    def __init__(self) -> None:
        super().__init__()
        self._gate = threading.Event()

    def run(self, run_input: Any, **options: Any) -> Any:
        self._gate.wait(timeout=30)
        return super().run(run_input, **options)

    def release(self) -> None:
        self._gate.set()

    def __deepcopy__(self, memo: dict[int, Any]) -> HeldManila:
        """One QPU: local testing mode deep-copies its run options, backend included."""
        return self


@pytest.fixture(scope="module")
def manila() -> FakeManilaV2:
    return FakeManilaV2()


def bell(backend: Any) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)


def violations(session: TrackedSession) -> list[str]:
    """The spec's verdict on every event the tracker fed its core."""
    mirror = session.qsession
    return check_trace(
        mirror.policy,
        session_id=mirror.session_id,
        opened_at=mirror.opened_at,
        events=mirror.events,
    )


def vqe(session: Session, clock: VirtualClock, *, think: float, maxiter: int = 30) -> list[Any]:
    """The seed's VQE: H2 minimised by COBYLA, one estimator job per evaluation, ``think``
    seconds of classical work (virtual) after each. Returns the jobs it ran."""
    backend = FakeManilaV2()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(ansatz())
    hamiltonian = H2.apply_layout(isa.layout)
    estimator = EstimatorV2(mode=session, options={"default_precision": 0.01})
    jobs = []

    def cost(params: np.ndarray) -> float:
        job = estimator.run([(isa, hamiltonian, params)])
        jobs.append(job)
        energy = float(job.result()[0].data.evs)
        clock.advance(think)
        return energy

    found = minimize(
        cost, np.zeros(isa.num_parameters), method="COBYLA", options={"maxiter": maxiter}
    )
    assert found.fun == pytest.approx(exact_ground_energy(H2), abs=0.1)
    return jobs


def test_seed_vqe_runs_every_evaluation_in_one_enforced_session() -> None:
    clock = VirtualClock()
    with track(Session(backend=FakeManilaV2()), enforce=True, clock=clock.now) as session:
        jobs = vqe(session, clock, think=1.0)
        assert session.status() == "In progress, accepting new jobs"
        assert session.remaining() == pytest.approx(8 * 3600 - len(jobs) * 1.0)
    assert session.status() == "Closed"
    timeline = session.timeline()
    assert [entry.state for entry in timeline.jobs] == ["completed"] * len(jobs)
    assert [entry.state for entry in timeline.states] == ["open", "active", "closed"]
    assert violations(session) == []


def test_think_time_beyond_the_interactive_ttl_deactivates_the_session_between_jobs(
    manila: FakeManilaV2,
) -> None:
    clock = VirtualClock()
    session = track(Session(backend=manila), enforce=True, clock=clock.now)
    sampler = SamplerV2(mode=session)
    sampler.run([bell(manila)], shots=50).result()
    clock.advance(59)
    assert session.predicted_status() == "In progress, accepting new jobs"
    assert session.next_deadline == pytest.approx(60)
    clock.advance(2)
    assert session.predicted_status() == "Pending"
    sampler.run([bell(manila)], shots=50).result()
    assert [entry.state for entry in session.timeline().states] == [
        "open",
        "active",
        "inactive",
        "active",
    ]
    assert violations(session) == []


def test_max_ttl_expiry_in_virtual_time_refuses_the_next_vqe_evaluation() -> None:
    clock = VirtualClock()
    session = track(Session(backend=FakeManilaV2(), max_time="5m"), enforce=True, clock=clock.now)
    with (
        pytest.warns(MaxTTLWarning, match="left before its max TTL"),
        pytest.raises(IBMRuntimeError, match=CLOSED),
    ):
        vqe(session, clock, think=20.0, maxiter=100)
    assert clock.now() == pytest.approx(300)
    assert session.remaining() == 0.0
    assert session.status() == "Closed"
    assert session.timeline().states[-1].cause == "max_ttl_reached"
    assert violations(session) == []


def test_submitting_after_max_ttl_raises_the_clients_closed_error(manila: FakeManilaV2) -> None:
    clock = VirtualClock()
    session = track(Session(backend=manila, max_time=120), enforce=True, clock=clock.now)
    sampler = SamplerV2(mode=session)
    sampler.run([bell(manila)], shots=50).result()
    assert session.remaining() == 120
    clock.advance(121)
    with pytest.raises(IBMRuntimeError, match=CLOSED):
        sampler.run([bell(manila)], shots=50)
    assert session.details()["state"] == "closed"


def test_jobs_still_queued_at_max_ttl_fail_and_the_running_one_finishes() -> None:
    backend, clock = HeldManila(), VirtualClock()
    session = track(Session(backend=backend, max_time=100), enforce=True, clock=clock.now)
    sampler = SamplerV2(mode=session)
    running, *queued = [sampler.run([bell(backend)], shots=20) for _ in range(3)]
    clock.advance(101)
    assert [job.status().name for job in queued] == ["ERROR", "ERROR"]
    assert running.status().name == "RUNNING"
    with pytest.raises(RuntimeJobFailureError, match="max TTL reached"):
        queued[0].result()
    backend.release()
    assert sum(running.result()[0].data.meas.get_counts().values()) == 20
    assert running.status().name == "DONE"
    assert queued[1].status().name == "ERROR"
    assert [job.state for job in session.timeline().jobs] == ["completed", "failed", "failed"]
    assert violations(session) == []


def test_close_lets_queued_jobs_run_then_closes() -> None:
    backend, clock = HeldManila(), VirtualClock()
    session = track(Session(backend=backend), enforce=True, clock=clock.now)
    sampler = SamplerV2(mode=session)
    jobs = [sampler.run([bell(backend)], shots=20) for _ in range(3)]
    session.close()
    assert session.status() == "In progress, not accepting new jobs"
    with pytest.raises(IBMRuntimeError, match=CLOSED):
        sampler.run([bell(backend)], shots=20)
    backend.release()
    assert [job.result()[0].data.meas.num_shots for job in jobs] == [20, 20, 20]
    assert [job.status().name for job in jobs] == ["DONE", "DONE", "DONE"]
    assert session.status() == "Closed"
    assert violations(session) == []


def test_cancel_cancels_queued_jobs_and_lets_the_running_one_finish() -> None:
    backend, clock = HeldManila(), VirtualClock()
    session = track(Session(backend=backend), enforce=True, clock=clock.now)
    sampler = SamplerV2(mode=session)
    running, *queued = [sampler.run([bell(backend)], shots=20) for _ in range(3)]
    session.cancel()
    assert session.status() == "Closed"
    assert [job.status().name for job in queued] == ["CANCELLED", "CANCELLED"]
    with pytest.raises(RuntimeInvalidStateError, match="Job was cancelled"):
        queued[1].result()
    backend.release()
    assert running.result()[0].data.meas.num_shots == 20
    assert [job.state for job in session.timeline().jobs] == [
        "completed",
        "cancelled",
        "cancelled",
    ]
    assert violations(session) == []


def test_an_untracked_closed_local_session_still_runs_executor_jobs(manila: FakeManilaV2) -> None:
    """The hole ``track`` fixes: the executor primitives skip the session's closed guard."""
    session = Session(backend=manila)
    session.close()
    job = executor_sampler.Sampler(mode=session).run([bell(manila)], shots=10)
    assert job.job_id()


@pytest.mark.parametrize("enforce", [False, True])
def test_executor_primitives_are_refused_on_a_closed_tracked_session(
    manila: FakeManilaV2, enforce: bool
) -> None:
    session = track(Session(backend=manila), enforce=enforce)
    session.close()
    with pytest.raises(IBMRuntimeError, match=CLOSED):
        executor_sampler.Sampler(mode=session).run([bell(manila)], shots=10)
    assert session.timeline().jobs == ()


def test_executor_jobs_are_mirrored_like_primitive_jobs(manila: FakeManilaV2) -> None:
    session = track(Session(backend=manila), enforce=True)
    job = executor_sampler.Sampler(mode=session).run([bell(manila)], shots=10)
    deadline = time.monotonic() + 30
    while not job.in_final_state() and time.monotonic() < deadline:
        time.sleep(0.01)
    expected = {"DONE": "completed", "ERROR": "failed"}[job.status().name]
    (entry,) = session.timeline().jobs
    assert (entry.job_id, entry.name, entry.state) == (job.job_id(), "executor", expected)


def test_without_enforce_the_rules_are_predicted_and_breaches_warned(
    manila: FakeManilaV2,
) -> None:
    clock = VirtualClock()
    session = track(Session(backend=manila, max_time=60), clock=clock.now, warn_before=None)
    sampler = SamplerV2(mode=session)
    sampler.run([bell(manila)], shots=10).result()
    clock.advance(61)
    assert session.predicted_status() == "Closed"
    assert session.status() is None
    with pytest.warns(SessionRuleWarning, match="IBM would refuse job"):
        late = sampler.run([bell(manila)], shots=10)
    assert late.result()[0].data.meas.num_shots == 10
    assert len(session.timeline().jobs) == 1


def test_the_max_ttl_warning_is_issued_once_at_the_configured_lead(manila: FakeManilaV2) -> None:
    clock = VirtualClock()
    session = track(Session(backend=manila, max_time=600), clock=clock.now, warn_before=120)
    SamplerV2(mode=session).run([bell(manila)], shots=10).result()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clock.advance(479)
        session.remaining()
        assert caught == []
        clock.advance(2)
        assert session.remaining() == pytest.approx(119)
        clock.advance(10)
        session.remaining()
    assert [type(w.message) for w in caught] == [MaxTTLWarning]


def test_a_batch_has_batch_defaults(manila: FakeManilaV2) -> None:
    clock = VirtualClock()
    batch = track(Batch(backend=manila), enforce=True, clock=clock.now)
    jobs = [SamplerV2(mode=batch).run([bell(manila)], shots=10) for _ in range(3)]
    assert all(job.result()[0].data.meas.num_shots == 10 for job in jobs)
    assert batch.remaining() == 600
    clock.advance(1.5)
    assert batch.details()["mode"] == "batch"
    assert batch.predicted_status() == "Pending"


def test_a_session_no_job_reaches_closes_after_thirty_minutes(manila: FakeManilaV2) -> None:
    clock = VirtualClock()
    session = track(Session(backend=manila), enforce=True, clock=clock.now)
    assert session.remaining() is None
    clock.advance(1800)
    assert session.status() == "Closed"
    with pytest.raises(IBMRuntimeError, match=CLOSED):
        SamplerV2(mode=session).run([bell(manila)], shots=10)


def test_the_open_plan_may_not_open_a_session(manila: FakeManilaV2) -> None:
    with pytest.raises(PolicyError, match="not authorized to run a session"):
        track(Session(backend=manila), enforce=True, plan="open")


def test_track_takes_only_untracked_sessions(manila: FakeManilaV2) -> None:
    session = track(Session(backend=manila))
    with pytest.raises(ValueError, match="already tracked"):
        track(session)
    with pytest.raises(TypeError, match="Session or Batch"):
        track(manila)  # type: ignore[type-var]
