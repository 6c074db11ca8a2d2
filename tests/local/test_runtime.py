"""The Qiskit Runtime shape: the IBM seeds' code runs with only its imports changed."""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.quantum_info import Statevector
from qiskit.transpiler import generate_preset_pass_manager
from qsession.adapters.local import (
    Batch,
    EstimatorV2,
    IBMInputValueError,
    IBMRuntimeError,
    QiskitRuntimeService,
    RuntimeJobFailureError,
    SamplerV2,
    Session,
    current_session,
)
from qsession.adapters.local.demo import H2, ansatz, exact_ground_energy
from scipy.optimize import minimize

ANSATZ = ansatz()
EXACT = exact_ground_energy(H2)
ZERO_STATE_ENERGY = Statevector(ANSATZ.assign_parameters(np.zeros(4))).expectation_value(H2).real


def cost_func(params: np.ndarray, ansatz: QuantumCircuit, hamiltonian, estimator) -> float:
    return float(estimator.run([(ansatz, hamiltonian, params)]).result()[0].data.evs)


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def test_seed_vqe_loop_on_an_exact_backend_reaches_the_exact_ground_energy() -> None:
    service = QiskitRuntimeService(exact=True)
    backend = service.least_busy(operational=True, simulator=False)
    x0 = 2 * np.pi * np.random.default_rng(3).random(ANSATZ.num_parameters)
    session = Session(backend=backend)
    estimator = EstimatorV2(mode=session, options={"default_shots": int(1e4)})
    res = minimize(cost_func, x0, args=(ANSATZ, H2, estimator), method="cobyla")
    session.close()
    assert res.fun == pytest.approx(EXACT, abs=1e-5)
    assert session.status() == "Closed"
    assert len(session.timeline().jobs) == res.nfev


def test_two_workloads_in_one_session_from_threads_are_tagged_per_workload() -> None:
    backend = QiskitRuntimeService().backend()
    x0 = np.full(ANSATZ.num_parameters, 0.4)

    def minimize_thread(estimator, method):
        options = {"maxiter": 40}
        return minimize(cost_func, x0, args=(ANSATZ, H2, estimator), method=method, options=options)

    with Session(backend=backend) as session, ThreadPoolExecutor() as executor:
        estimator1 = EstimatorV2()
        estimator2 = EstimatorV2()
        estimator1.options.environment.job_tags = ["cobyla"]
        estimator2.options.environment.job_tags = ["nelder-mead"]
        cobyla_future = executor.submit(minimize_thread, estimator1, "cobyla")
        nelder_mead_future = executor.submit(minimize_thread, estimator2, "nelder-mead")
        cobyla_result = cobyla_future.result()
        nelder_mead_result = nelder_mead_future.result()
    jobs = session.timeline().jobs
    tags = [job.tags for job in jobs]
    assert tags.count(("cobyla",)) == cobyla_result.nfev
    assert tags.count(("nelder-mead",)) == nelder_mead_result.nfev
    assert {job.state for job in jobs} == {"completed"}
    assert session.status() == "Closed"


def test_primitive_made_inside_a_with_block_runs_in_that_session() -> None:
    backend = QiskitRuntimeService().backend()
    with Session(backend=backend) as session:
        job = SamplerV2().run([bell()])
    assert job.session_id == session.session_id
    assert current_session() is None


def test_primitive_given_the_session_backend_inside_a_with_block_joins_the_session() -> None:
    backend = QiskitRuntimeService().backend()
    with Session(backend=backend) as session:
        assert SamplerV2(mode=backend).mode is session


def test_primitive_without_a_mode_outside_a_session_is_refused() -> None:
    with pytest.raises(ValueError, match="A backend or session must be specified"):
        EstimatorV2()


def test_nested_with_blocks_restore_the_outer_session() -> None:
    backend = QiskitRuntimeService().backend()
    with Session(backend=backend) as outer:
        with Batch(backend=backend) as inner:
            assert current_session() is inner
        assert current_session() is outer
    assert current_session() is None


def test_current_session_is_not_seen_by_other_threads() -> None:
    backend = QiskitRuntimeService().backend()
    seen: list[object] = []
    with Session(backend=backend):
        worker = threading.Thread(target=lambda: seen.append(current_session()))
        worker.start()
        worker.join()
    assert seen == [None]


def test_each_asyncio_task_sees_its_own_current_session() -> None:
    backend = QiskitRuntimeService().backend()

    async def workload() -> tuple[Session, Session | None]:
        with Session(backend=backend) as session:
            await asyncio.sleep(0)
            return session, current_session()

    async def both() -> list[tuple[Session, Session | None]]:
        return list(await asyncio.gather(workload(), workload()))

    results = asyncio.run(both())
    assert [mine is seen for mine, seen in results] == [True, True]
    assert results[0][0] is not results[1][0]


def test_submitting_to_a_closed_session_raises_the_session_is_closed() -> None:
    backend = QiskitRuntimeService().backend()
    with Session(backend=backend) as session:
        sampler = SamplerV2()
    with pytest.raises(IBMRuntimeError, match=re.escape("The session is closed.")):
        sampler.run([bell()])
    assert session.timeline().jobs == ()


def test_cancelled_session_refuses_jobs_too() -> None:
    session = Session(backend=QiskitRuntimeService().backend())
    session.cancel()
    with pytest.raises(IBMRuntimeError, match=re.escape("The session is closed.")):
        SamplerV2(mode=session).run([bell()])


def test_status_follows_the_session_from_pending_to_closed() -> None:
    service = QiskitRuntimeService()
    session = Session(backend=service.backend())
    assert session.status() == "Pending"
    job = SamplerV2(mode=session).run([bell()])
    job.result()
    assert session.status() == "In progress, accepting new jobs"
    service.clock.advance(70)
    assert session.status() == "Pending"
    session.close()
    assert session.status() == "Closed"
    assert session.details()["state"] == "closed"


def test_details_report_the_session_times_and_usage() -> None:
    service = QiskitRuntimeService()
    with Session(backend=service.backend(), max_time="25m") as session:
        SamplerV2().run([bell()], shots=100).result()
        details = session.details()
    assert details["max_time"] == 1500
    assert details["interactive_timeout"] == 60
    assert details["mode"] == "dedicated"
    assert details["backend_name"] == "local_qpu"
    assert session.usage() == pytest.approx(details["last_job_completed"])


def test_from_id_finds_the_same_session() -> None:
    service = QiskitRuntimeService()
    session = Session(backend=service.backend())
    again = Session.from_id(session.session_id, service=service)
    again.close()
    assert session.status() == "Closed"


def test_from_id_refuses_a_session_of_another_mode() -> None:
    service = QiskitRuntimeService()
    batch = Batch(backend=service.backend())
    with pytest.raises(IBMInputValueError, match="execution mode batch"):
        Session.from_id(batch.session_id, service=service)


def test_from_id_refuses_an_unknown_session() -> None:
    with pytest.raises(IBMInputValueError, match="Session not found"):
        Session.from_id("nope", service=QiskitRuntimeService())


def test_batch_never_holds_the_qpu() -> None:
    backend = QiskitRuntimeService().backend()
    job_mode = SamplerV2(mode=backend)
    with Batch(backend=backend) as batch:
        sampler = SamplerV2()
        first = sampler.run([bell()], shots=100)
        other = job_mode.run([bell()], shots=100)
        second = sampler.run([bell()], shots=100)
    second.result()
    started = [job.metrics()["timestamps"]["running"] for job in (first, other, second)]
    assert started == sorted(started)
    assert (first.session_id, other.session_id) == (batch.session_id, None)


def test_job_result_is_the_primitive_result_of_the_reference_sampler() -> None:
    with Session(backend=QiskitRuntimeService().backend()):
        job = SamplerV2().run([bell()], shots=200)
    result = job.result()
    assert isinstance(result, PrimitiveResult)
    counts = result[0].data.meas.get_counts()
    assert set(counts) <= {"00", "11"}
    assert sum(counts.values()) == 200
    assert job.status() == "DONE"


def test_job_queued_at_max_ttl_fails_with_the_runtime_error() -> None:
    with Session(backend=QiskitRuntimeService(exact=True).backend(), max_time=6) as session:
        estimator = EstimatorV2()
        running, crossing, queued = (estimator.run([(ANSATZ, H2, np.zeros(4))]) for _ in range(3))
    assert running.result()[0].data.evs == pytest.approx(ZERO_STATE_ENERGY)
    assert crossing.result()[0].data.evs == pytest.approx(ZERO_STATE_ENERGY)
    times = crossing.metrics()["timestamps"]
    assert times["running"] < 6 < times["finished"]
    with pytest.raises(RuntimeJobFailureError, match="max TTL reached"):
        queued.result()
    assert queued.status() == "ERROR"
    assert session.status() == "Closed"


def test_cancelled_job_has_no_result() -> None:
    with Session(backend=QiskitRuntimeService().backend()):
        sampler = SamplerV2()
        sampler.run([bell()])
        queued = sampler.run([bell()])
    queued.cancel()
    assert queued.cancelled()
    with pytest.raises(IBMRuntimeError, match="Job was cancelled"):
        queued.result()


def test_job_mode_estimator_runs_without_a_session() -> None:
    backend = QiskitRuntimeService(exact=True).backend()
    job = EstimatorV2(mode=backend).run([(ANSATZ, H2, np.zeros(4))])
    assert job.session_id is None
    assert job.result()[0].data.evs == pytest.approx(ZERO_STATE_ENERGY)


def test_think_time_longer_than_the_interactive_ttl_deactivates_the_session() -> None:
    service = QiskitRuntimeService()
    with Session(backend=service.backend()) as session:
        estimator = EstimatorV2()
        for _ in range(3):
            estimator.run([(ANSATZ, H2, np.zeros(4))]).result()
            service.clock.advance(70)
    causes = [state.cause for state in session.timeline().states]
    assert causes.count("interactive_ttl_expired") == 3


def test_invalid_pub_is_refused_before_a_job_is_queued() -> None:
    with Session(backend=QiskitRuntimeService().backend()) as session, pytest.raises(ValueError):
        EstimatorV2().run([(ANSATZ, H2, np.zeros(3))])
    assert session.timeline().jobs == ()


def test_unknown_option_is_refused_like_the_runtime_does() -> None:
    backend = QiskitRuntimeService().backend()
    with pytest.raises(ValueError, match="shots"):
        EstimatorV2(mode=backend, options={"shots": 10_000})


def test_bad_max_time_is_refused() -> None:
    with pytest.raises(ValueError, match="max_time"):
        Session(backend=QiskitRuntimeService().backend(), max_time="1.5h")


def test_open_plan_may_run_batches_but_not_sessions() -> None:
    backend = QiskitRuntimeService(plan="open").backend()
    with pytest.raises(ValueError, match="not authorized to run a session"):
        Session(backend=backend)
    with Batch(backend=backend) as batch:
        SamplerV2().run([bell()], shots=10).result()
    assert batch.status() == "Closed"


def test_fake_ibm_backend_runs_isa_circuits_through_the_backend_sampler() -> None:
    service = QiskitRuntimeService()
    backend = service.backend("fake_manila")
    isa = generate_preset_pass_manager(backend=backend.execution.backend, optimization_level=1).run(
        bell()
    )
    with Session(backend=backend, max_time="2h 30m 40s") as session:
        counts = SamplerV2().run([isa], shots=500).result()[0].data.meas.get_counts()
    assert sum(counts.values()) == 500
    assert counts.get("00", 0) + counts.get("11", 0) > 400
    assert session.details()["max_time"] == 9040
