"""End to end: the unmodified qiskit-ibm-runtime client against the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session
from qiskit_ibm_runtime.exceptions import IBMInputValueError, IBMRuntimeError
from qsession.adapters.emulator import ibm_service
from qsession.adapters.local.demo import H2, ansatz, exact_ground_energy
from qsession.adapters.local.model import DurationModel
from scipy.optimize import minimize

from .conftest import Emulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def bell(backend: Any) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)


def test_vqe_with_cobyla_runs_every_evaluation_in_one_session(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    pm = generate_preset_pass_manager(backend=backend, optimization_level=1)
    isa = pm.run(ansatz())
    hamiltonian = H2.apply_layout(isa.layout)
    jobs = []

    def cost(params: np.ndarray, estimator: EstimatorV2) -> float:
        job = estimator.run([(isa, hamiltonian, params)])
        jobs.append(job)
        return float(job.result()[0].data.evs)

    with Session(backend=backend) as session:
        estimator = EstimatorV2(mode=session, options={"default_precision": 0.01})
        x0 = np.zeros(isa.num_parameters)
        found = minimize(cost, x0, args=(estimator,), method="COBYLA", options={"maxiter": 40})
        assert session.status() == "In progress, accepting new jobs"
    assert found.fun == pytest.approx(exact_ground_energy(H2), abs=0.1)
    assert {job.session_id for job in jobs} == {session.session_id}
    assert all(job.status() == "DONE" for job in jobs)
    assert session.status() == "Closed"


def test_session_status_and_details_follow_the_server_session(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    session = Session(backend=backend, max_time="25m")
    details = session.details()
    assert session.status() == "Pending"
    assert details["state"] == "open"
    assert details["accepting_jobs"] is True
    assert details["interactive_timeout"] == 60
    assert details["max_time"] == 1500
    assert details["mode"] == "dedicated"
    assert details["backend_name"] == "fake_manila"
    assert details["started_at"] is None
    assert [t["status"] for t in details["timestamps"]] == ["open"]

    SamplerV2(mode=session).run([bell(backend)], shots=100).result()
    details = session.details()
    assert session.status() == "In progress, accepting new jobs"
    assert details["state"] == "active"
    assert details["started_at"] is not None
    assert details["activated_at"] == details["started_at"]
    assert details["last_job_completed"] is not None

    emulator.advance(61)
    assert session.status() == "Pending"
    assert session.details()["state"] == "inactive"

    session.close()
    assert session.status() == "Closed"
    assert session.details()["closed_at"] is not None


def test_a_job_after_the_interactive_ttl_reactivates_the_session(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        sampler.run([bell(backend)], shots=50).result()
        emulator.advance(120)
        assert session.details()["state"] == "inactive"
        sampler.run([bell(backend)], shots=50).result()
        assert session.details()["state"] == "active"
        states = [t["status"] for t in session.details()["timestamps"]]
    assert states == ["open", "active", "inactive", "active"]


def test_max_ttl_closes_the_session_and_from_id_sees_it_closed(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    session = Session(backend=backend, max_time=120)
    SamplerV2(mode=session).run([bell(backend)], shots=50).result()
    emulator.advance(130)
    assert session.status() == "Closed"
    again = Session.from_id(session.session_id, service)
    with pytest.raises(IBMRuntimeError, match="The session is closed"):
        SamplerV2(mode=again).run([bell(backend)], shots=50)


def test_from_id_resumes_a_session_whose_jobs_run_in_it(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    session = Session(backend=backend)
    resumed = Session.from_id(session.session_id, service)
    assert resumed.session_id == session.session_id
    assert resumed.backend() == "fake_manila"
    job = SamplerV2(mode=resumed).run([bell(backend)], shots=50)
    assert job.session_id == session.session_id
    assert sum(job.result()[0].data.meas.get_counts().values()) == 50
    assert session.details()["state"] == "active"
    session.close()


def test_from_id_of_an_unknown_session_raises_session_not_found(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    with pytest.raises(IBMInputValueError, match="Session not found"):
        Session.from_id("0123456789abcdef01234567", service)


def test_submitting_after_close_raises_the_clients_closed_error(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        sampler.run([bell(backend)], shots=50).result()
    with pytest.raises(IBMRuntimeError, match=r"The session is closed\."):
        sampler.run([bell(backend)], shots=50)


def test_a_session_closed_elsewhere_is_refused_by_the_server(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    session = Session(backend=backend)
    other = Session.from_id(session.session_id, service)
    other.close()
    with pytest.raises(IBMRuntimeError, match=r"Failed to run program: .*400.*closed"):
        SamplerV2(mode=session).run([bell(backend)], shots=50)
    assert session.status() == "Closed"


@pytest.fixture
def slow_emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """Real time, every fake_manila job takes 1.5 s, so jobs queue behind each other."""
    return start_emulator(virtual=False, ibm_backends={"fake_manila": DurationModel(1.5, 0.0)})


def test_close_lets_queued_jobs_run_then_closes(slow_emulator: Emulator) -> None:
    backend = ibm_service(slow_emulator.url).backend("fake_manila")
    session = Session(backend=backend)
    sampler = SamplerV2(mode=session)
    jobs = [sampler.run([bell(backend)], shots=20) for _ in range(3)]
    session.close()
    assert session.status() == "In progress, not accepting new jobs"
    assert [job.result()[0].data.meas.num_shots for job in jobs] == [20, 20, 20]
    assert [job.status() for job in jobs] == ["DONE", "DONE", "DONE"]
    assert session.status() == "Closed"


def test_cancel_cancels_queued_jobs_and_lets_the_running_one_finish(
    slow_emulator: Emulator,
) -> None:
    backend = ibm_service(slow_emulator.url).backend("fake_manila")
    session = Session(backend=backend)
    sampler = SamplerV2(mode=session)
    jobs = [sampler.run([bell(backend)], shots=20) for _ in range(3)]
    session.cancel()
    assert session.status() == "Closed"
    deadline = time.monotonic() + 10
    while not jobs[0].in_final_state() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [job.status() for job in jobs] == ["DONE", "CANCELLED", "CANCELLED"]


def test_a_batch_has_batch_mode_and_batch_defaults(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    with Batch(backend=backend) as batch:
        sampler = SamplerV2(mode=batch)
        jobs = [sampler.run([bell(backend)], shots=30) for _ in range(4)]
        results = [job.result() for job in jobs]
        details = batch.details()
    assert details["mode"] == "batch"
    assert details["interactive_timeout"] == 1
    assert details["max_time"] == 600
    assert all(r[0].data.meas.num_shots == 30 for r in results)
    assert {job.session_id for job in jobs} == {batch.session_id}
    assert batch.status() == "Closed"
    with pytest.raises(IBMInputValueError, match="execution mode batch instead of dedicated"):
        Session.from_id(batch.session_id, service)


def test_a_156_qubit_backend_runs_isa_circuits(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_fez")
    assert backend.num_qubits == 156
    with Session(backend=backend) as session:
        counts = SamplerV2(mode=session).run([bell(backend)], shots=64).result()
    assert set(counts[0].data.meas.get_counts()) <= {"00", "11"}
