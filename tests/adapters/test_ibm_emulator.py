"""qsession.adapters.ibm with the real qiskit-ibm-runtime client against the emulator.

The adapter's clock is the emulator's, so after each step its prediction (no network call)
must equal what the service then reports, and reconciling must find nothing to adopt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session
from qiskit_ibm_runtime.exceptions import IBMRuntimeError
from qsession.adapters.emulator import ibm_service
from qsession.adapters.ibm import MaxTTLWarning, TrackedSession, track
from qsession.adapters.ibm.tracking import seconds
from qsession.adapters.local.demo import H2, ansatz, exact_ground_energy
from qsession.adapters.local.model import DurationModel
from qsession.spec import check_trace
from scipy.optimize import minimize

from .conftest import Emulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ADOPTED = "adopting the service's"


def bell(backend: Any) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)


def assert_predicted(session: TrackedSession, *, latency: float = 2e-3) -> None:
    """The prediction, taken first, equals the service's details and status taken after.

    Times agree to the service's millisecond timestamps in virtual time; in real time, a close
    or cancel is stamped when it was sent, up to a request's ``latency`` before the service."""
    status, predicted = session.predicted_status(), session.predicted_details()
    details = session.details()
    assert details is not None
    assert status == session.status()
    assert (predicted["state"], predicted["accepting_jobs"]) == (
        details["state"],
        details["accepting_jobs"],
    )
    for key in ("started_at", "last_job_started", "last_job_completed", "closed_at"):
        reported = seconds(details[key])
        if reported is None or predicted[key] is None:
            assert reported is predicted[key] is None, key
        else:
            assert predicted[key] == pytest.approx(reported, abs=latency), key


def adoptions(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the adapter logged as mismatches it adopted the service's view for."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "qsession.adapters.ibm" and ADOPTED in record.getMessage()
    ]


def test_seed_vqe_predictions_equal_the_service_at_every_evaluation(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "qsession.adapters.ibm")
    backend = ibm_service(emulator.url).backend("fake_manila")
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(ansatz())
    hamiltonian = H2.apply_layout(isa.layout)
    session = track(Session(backend=backend), enforce=True, clock=emulator.now)
    assert_predicted(session)

    def cost(params: np.ndarray, estimator: EstimatorV2) -> float:
        energy = float(estimator.run([(isa, hamiltonian, params)]).result()[0].data.evs)
        assert_predicted(session)
        return energy

    with session:
        estimator = EstimatorV2(mode=session, options={"default_precision": 0.01})
        found = minimize(
            cost, np.zeros(isa.num_parameters), args=(estimator,), method="COBYLA",
            options={"maxiter": 20},
        )  # fmt: skip
        remaining = session.remaining()
        started = seconds(session.details()["started_at"])
        assert started is not None
        assert remaining == pytest.approx(started + 28800 - emulator.now(), abs=2e-3)
    assert found.fun == pytest.approx(exact_ground_energy(H2), abs=0.15)
    assert_predicted(session)
    assert session.status() == "Closed"
    assert adoptions(caplog) == []
    mirror = session.qsession
    assert (
        check_trace(
            mirror.policy,
            session_id=mirror.session_id,
            opened_at=mirror.opened_at,
            events=mirror.events,
        )
        == []
    )


def test_interactive_ttl_lapse_and_reactivation_are_predicted(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "qsession.adapters.ibm")
    backend = ibm_service(emulator.url).backend("fake_manila")
    session = track(Session(backend=backend), clock=emulator.now)
    sampler = SamplerV2(mode=session)
    sampler.run([bell(backend)], shots=50).result()
    assert_predicted(session)
    emulator.advance(59)
    assert session.predicted_status() == "In progress, accepting new jobs"
    assert_predicted(session)
    emulator.advance(2)
    assert session.predicted_status() == "Pending"
    assert_predicted(session)
    sampler.run([bell(backend)], shots=50).result()
    assert_predicted(session)
    assert [s.state for s in session.timeline().states] == ["open", "active", "inactive", "active"]
    assert adoptions(caplog) == []


def test_max_ttl_expiry_in_virtual_time_is_predicted_and_refused_before_sending(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "qsession.adapters.ibm")
    backend = ibm_service(emulator.url).backend("fake_manila")
    session = track(
        Session(backend=backend, max_time=120), enforce=True, clock=emulator.now, warn_before=30
    )
    sampler = SamplerV2(mode=session)
    sampler.run([bell(backend)], shots=50).result()
    assert_predicted(session)
    emulator.advance(100)
    with pytest.warns(MaxTTLWarning):
        left = 120 - emulator.now() + session_start(session)
        assert session.remaining() == pytest.approx(left, abs=2e-3)
    emulator.advance(30)
    assert session.predicted_status() == "Closed"
    assert session.remaining() == 0.0
    assert_predicted(session)
    with pytest.raises(IBMRuntimeError) as refused:
        sampler.run([bell(backend)], shots=50)
    assert refused.value.message == "The session is closed."
    assert adoptions(caplog) == []


def session_start(session: TrackedSession) -> float:
    started = seconds(session.details()["started_at"])
    assert started is not None
    return started


@pytest.fixture
def slow_emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """Real time; every fake_manila job takes 1 s, so jobs queue behind each other."""
    return start_emulator(virtual=False, ibm_backends={"fake_manila": DurationModel(1.0, 0.0)})


def test_close_with_queued_jobs_is_predicted_until_the_session_closes(
    slow_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "qsession.adapters.ibm")
    backend = ibm_service(slow_emulator.url).backend("fake_manila")
    session = track(Session(backend=backend))
    sampler = SamplerV2(mode=session)
    jobs = [sampler.run([bell(backend)], shots=20) for _ in range(3)]
    session.close()
    assert session.status() == "In progress, not accepting new jobs"
    assert [job.result()[0].data.meas.num_shots for job in jobs] == [20, 20, 20]
    assert session.predicted_status() == "Closed"
    assert_predicted(session, latency=0.2)
    assert [job.state for job in session.timeline().jobs] == ["completed"] * 3
    assert adoptions(caplog) == []


def test_cancel_is_predicted_to_cancel_the_queued_jobs(
    slow_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "qsession.adapters.ibm")
    backend = ibm_service(slow_emulator.url).backend("fake_manila")
    session = track(Session(backend=backend))
    sampler = SamplerV2(mode=session)
    jobs = [sampler.run([bell(backend)], shots=20) for _ in range(3)]
    session.cancel()
    assert session.predicted_status() == "Closed"
    assert_predicted(session, latency=0.2)
    jobs[0].wait_for_final_state(timeout=10)
    assert [job.status() for job in jobs] == ["DONE", "CANCELLED", "CANCELLED"]
    assert [job.state for job in session.timeline().jobs] == ["completed", "cancelled", "cancelled"]
    assert adoptions(caplog) == []


def test_a_session_closed_elsewhere_is_logged_and_adopted(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "qsession.adapters.ibm")
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    session = track(Session(backend=backend), enforce=True, clock=emulator.now)
    Session.from_id(session.session_id, service).close()
    assert session.predicted_status() == "Pending"
    assert session.status() == "Closed"
    (logged,) = adoptions(caplog)
    assert "predicted status 'Pending' (state 'open', accepting_jobs True)" in logged
    assert "reports 'Closed' (state 'closed', accepting_jobs False)" in logged
    assert session.predicted_status() == "Closed"
    with pytest.raises(IBMRuntimeError) as refused:
        SamplerV2(mode=session).run([bell(backend)], shots=10)
    assert refused.value.message == "The session is closed."


def test_a_batch_is_predicted_with_the_services_batch_timers(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    with track(Batch(backend=backend), clock=emulator.now) as batch:
        sampler = SamplerV2(mode=batch)
        jobs = [sampler.run([bell(backend)], shots=30) for _ in range(3)]
        assert all(job.result()[0].data.meas.num_shots == 30 for job in jobs)
        assert_predicted(batch)
        emulator.advance(1.5)
        assert batch.predicted_status() == "Pending"
        assert_predicted(batch)
    assert batch.predicted_status() == "Closed"
    assert_predicted(batch)
