"""End to end with qiskit-ibm-runtime 0.51: the executor primitives, usage, job listing, result
shapes and dry runs against the emulator, as a user of the unmodified client sees them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import real_amplitudes
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2, BitArray
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session
from qiskit_ibm_runtime.exceptions import (
    IBMRuntimeError,
    RuntimeJobMaxTimeoutError,
)
from qiskit_ibm_runtime.executor_estimator import Estimator
from qiskit_ibm_runtime.executor_sampler import Sampler
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from qsession.adapters.emulator import ServerClock, SQLiteStore, create_app, ibm_service
from qsession.adapters.emulator.serve import running
from qsession.adapters.local import IBMInputValueError as LocalInputError
from qsession.adapters.local import QiskitRuntimeService as LocalService
from qsession.adapters.local.executor_sampler import Sampler as LocalSampler
from qsession.adapters.local.model import IBM_QPU

from .conftest import Emulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

H = SparsePauliOp.from_list([("ZZ", 1.0), ("XI", 0.5)])


def bell(backend: Any) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)


def ansatz(backend: Any) -> tuple[QuantumCircuit, SparsePauliOp]:
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(
        real_amplitudes(2, reps=1)
    )
    return isa, H.apply_layout(isa.layout)


def charge(shots: int) -> float:
    """The QPU time the emulator charges a fake_manila job of ``shots`` shots."""
    return round(IBM_QPU.seconds(shots), 3)


# Executor-based primitives -------------------------------------------------------------------


def test_executor_sampler_in_a_session_returns_counts_the_client_decodes(
    emulator: Emulator,
) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    with Session(backend=backend) as session:
        job = Sampler(mode=session).run([bell(backend)], shots=100)
        result = job.result()
    assert job.session_id == session.session_id
    assert job.primitive_id == "executor"
    counts = result[0].data.meas.get_counts()
    assert sum(counts.values()) == 100
    assert set(counts) <= {"00", "11"}


def test_executor_estimator_in_a_batch_returns_the_expectation_value(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    isa, observable = ansatz(backend)
    with Batch(backend=backend) as batch:
        job = Estimator(mode=batch).run([(isa, observable, np.zeros(isa.num_parameters))])
        evs = job.result()[0].data.evs
    assert job.session_id == batch.session_id
    assert evs.shape == ()
    assert float(evs) == pytest.approx(1.0, abs=0.1)  # <ZZ> = 1, <XI> = 0 at theta = 0


def test_executor_sampler_in_job_mode_keeps_a_parameter_sweep_shape(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    qc.measure_all()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)
    sweep = np.array([[0.0], [np.pi], [0.0]])
    job = Sampler(mode=backend).run([(isa, sweep)], shots=20)
    meas = job.result()[0].data.meas
    assert job.session_id is None
    assert meas.shape == (3,)
    assert meas.num_shots == 20
    assert [meas[i].get_counts() for i in range(3)] == [{"0": 20}, {"1": 20}, {"0": 20}]


def test_an_executor_job_with_a_non_isa_circuit_is_refused_at_submission(
    emulator: Emulator,
) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    with pytest.raises(IBMRuntimeError, match=r"400.*instruction h on qubits \(0,\) is not"):
        Sampler(mode=backend).run([qc], shots=10)
    assert service.jobs() == []


def test_an_executor_job_of_an_unknown_schema_version_is_refused(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    with pytest.raises(IBMRuntimeError, match=r"400.*schema_version .*v9\.9.* is not supported"):
        service._run(
            program_id="executor",
            inputs={"schema_version": "v9.9"},
            options={"backend": "fake_manila"},
        )
    assert service.jobs() == []


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"execution": {"meas_type": "kerneled"}}, r"meas_level .*kerneled.* is not supported"),
        ({"execution": {"scheduler_timing": True}}, r"scheduler_timing.* are not supported"),
    ],
)
def test_executor_features_the_simulators_lack_are_refused_at_submission(
    emulator: Emulator, options: dict[str, Any], refusal: str
) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    with pytest.raises(IBMRuntimeError, match="400.*" + refusal):
        Sampler(mode=backend, options=options).run([bell(backend)], shots=10)
    assert service.jobs() == []


# Usage ---------------------------------------------------------------------------------------


def test_job_usage_is_pending_while_it_runs_then_its_qpu_charge_time(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    emulator.cloud.stop()  # hold the job on the QPU: nothing ends it while the loop is stopped
    job = SamplerV2(mode=backend).run([bell(backend)], shots=100)
    emulator.advance(2)
    assert job.usage() == 0
    assert job.usage(partial=True) == 2
    assert job.metrics()["usage"]["status"] == "pending"
    emulator.cloud.start()
    job.result()
    assert job.metrics()["usage"]["status"] == "completed"
    assert job.usage() == charge(100)


def test_a_sessions_usage_is_its_active_time(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    session = Session(backend=backend)
    job = SamplerV2(mode=session).run([bell(backend)], shots=100)
    job.result()
    emulator.advance(61)  # the interactive TTL (60 s) lapses: the session deactivates
    details = session.details()
    assert details["state"] == "inactive"
    assert session.usage() == pytest.approx(charge(100) + 60)


def test_a_batchs_usage_is_the_sum_of_its_jobs_qpu_charge_times(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    with Batch(backend=backend) as batch:
        sampler = SamplerV2(mode=batch)
        jobs = [sampler.run([bell(backend)], shots=shots) for shots in (100, 2000)]
        for job in jobs:
            job.result()
    emulator.advance(5)
    assert batch.usage() == pytest.approx(charge(100) + charge(2000))
    assert sum(job.usage() for job in jobs) == pytest.approx(batch.usage())


def test_instance_usage_sums_its_jobs_charge_times(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    for shots in (100, 400):
        SamplerV2(mode=backend).run([bell(backend)], shots=shots).result()
    usage = service.usage()
    assert usage["usage_consumed_seconds"] == pytest.approx(charge(100) + charge(400))
    assert usage["usage_limit_reached"] is False
    assert "usage_limit_seconds" not in usage  # premium: no instance limit


def test_an_open_plan_instance_has_ten_minutes_and_reports_what_remains(
    start_emulator: Callable[..., Emulator],
) -> None:
    emulator = start_emulator(plan="open")
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    SamplerV2(mode=backend).run([bell(backend)], shots=100).result()
    usage = service.usage()
    assert usage["usage_limit_seconds"] == 600
    assert usage["usage_remaining_seconds"] == pytest.approx(600 - charge(100))


def test_a_job_over_its_max_execution_time_raises_the_clients_timeout_error(
    emulator: Emulator,
) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session, options={"max_execution_time": 10})
        job = sampler.run([bell(backend)], shots=100_000)  # 28.5 s on the QPU: over 10 s
        with pytest.raises(RuntimeJobMaxTimeoutError):
            job.result()
        assert job.status() == "ERROR"
        assert job.usage() == 10
        after = SamplerV2(mode=session).run([bell(backend)], shots=10)
        assert after.result()[0].data.meas.num_shots == 10  # the session goes on


def test_an_executor_job_over_its_max_execution_time_raises_the_timeout_error(
    emulator: Emulator,
) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    sampler = Sampler(mode=backend)
    sampler.options.max_execution_time = 5
    job = sampler.run([bell(backend)], shots=20_000)  # 8.5 s on the QPU
    with pytest.raises(RuntimeJobMaxTimeoutError):
        job.result()


# Job listing ---------------------------------------------------------------------------------


def _jobs(service: Any, backend: Any, n: int, **options: Any) -> list[Any]:
    sampler = SamplerV2(mode=backend, options=options)
    jobs = [sampler.run([bell(backend)], shots=1) for _ in range(n)]
    for job in jobs:
        job.result()
    return jobs


def test_jobs_without_a_limit_pages_through_every_job(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    made = _jobs(service, backend, 25)
    listed = service.jobs(limit=None)
    assert [j.job_id() for j in listed] == [j.job_id() for j in reversed(made)]


def test_jobs_skip_and_limit_select_a_page(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    made = [j.job_id() for j in reversed(_jobs(service, backend, 12))]
    assert [j.job_id() for j in service.jobs(skip=5, limit=4)] == made[5:9]
    ascending = [j.job_id() for j in service.jobs(limit=3, descending=False)]
    assert ascending == made[::-1][:3]


def test_jobs_filter_by_every_tag_asked_for(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    cobyla = _jobs(service, backend, 2, environment={"job_tags": ["cobyla", "h2"]})
    _jobs(service, backend, 2, environment={"job_tags": ["spsa", "h2"]})
    listed = service.jobs(job_tags=["cobyla"])
    assert {j.job_id() for j in listed} == {j.job_id() for j in cobyla}
    assert len(service.jobs(job_tags=["h2"])) == 4
    assert service.jobs(job_tags=["cobyla", "spsa"]) == []


def test_jobs_filter_by_session_backend_and_pending(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    manila = service.backend("fake_manila")
    lima = service.backend("fake_lima")
    with Session(backend=manila) as session:
        in_session = SamplerV2(mode=session).run([bell(manila)], shots=1)
        in_session.result()
    _jobs(service, lima, 1)
    assert [j.job_id() for j in service.jobs(session_id=session.session_id)] == [
        in_session.job_id()
    ]
    assert {j.backend().name for j in service.jobs(backend_name="fake_lima")} == {"fake_lima"}
    assert service.jobs(pending=True) == []
    assert len(service.jobs(pending=False)) == 2


def test_jobs_filter_by_creation_time(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    first = _jobs(service, backend, 1)[0]
    emulator.advance(3600)
    second = _jobs(service, backend, 1)[0]
    middle = first.creation_date + dt.timedelta(minutes=30)
    assert [j.job_id() for j in service.jobs(created_after=middle)] == [second.job_id()]
    assert [j.job_id() for j in service.jobs(created_before=middle)] == [first.job_id()]


# Result shapes -------------------------------------------------------------------------------


def test_an_estimator_pub_with_flat_parameter_values_has_0d_evs_and_stds(
    emulator: Emulator,
) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    isa, observable = ansatz(backend)
    data = EstimatorV2(mode=backend).run([(isa, observable, np.zeros(isa.num_parameters))])
    result = data.result()[0].data
    for name in ("evs", "stds"):
        value = getattr(result, name)
        assert isinstance(value, np.ndarray), name
        assert value.shape == ()
        assert value.dtype == np.float64


def _signature(value: Any) -> tuple[Any, ...]:
    """What a result field must keep exactly: its type, shape, dtype (bits and shots)."""
    if isinstance(value, BitArray):
        return ("BitArray", value.shape, value.num_bits, value.num_shots)
    array = np.asarray(value)
    return ("ndarray", array.shape, array.dtype)


pub_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=pub_shapes, per_element=st.booleans(), shots=st.integers(1, 40))
def test_result_shapes_and_dtypes_match_qiskits_reference_primitives(
    emulator: Emulator, shape: tuple[int, ...], per_element: bool, shots: int
) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    reference = FakeManilaV2()
    isa, observable = ansatz(backend)
    values = np.zeros((*shape, isa.num_parameters))
    obs: Any = observable
    for size in reversed(shape if per_element else ()):
        obs = [obs] * size  # one observable per parameter set: the array has the pub's shape
    estimator_pub = (isa, obs, values)
    measured = isa.copy()
    measured.measure_all()
    sampler_pub = (measured, values, shots)
    got = [
        EstimatorV2(mode=backend).run([estimator_pub]).result()[0].data,
        SamplerV2(mode=backend).run([sampler_pub]).result()[0].data,
        Sampler(mode=backend).run([sampler_pub]).result()[0].data,
        Estimator(mode=backend).run([estimator_pub]).result()[0].data,
    ]
    estimated = BackendEstimatorV2(backend=reference).run([estimator_pub]).result()[0].data
    sampled = BackendSamplerV2(backend=reference).run([sampler_pub]).result()[0].data
    for emulated, expected in zip(got, [estimated, sampled, sampled, estimated], strict=True):
        assert emulated.shape == expected.shape
        for name in expected:
            assert _signature(emulated[name]) == _signature(expected[name]), name
            assert hasattr(emulated[name], "shape"), name
    assert sorted(got[0]) == sorted(estimated)
    assert sorted(got[1]) == sorted(sampled)


# Dry run and mock backends -------------------------------------------------------------------


def test_backends_with_mocks_lists_each_mock_twin_as_a_mock(emulator: Emulator) -> None:
    service = ibm_service(emulator.url)
    plain = {b.name for b in service.backends()}
    with_mocks = {b.name for b in service.backends(include_mocks=True)}
    assert "mock_manila" not in plain
    assert "fake_manila" in plain
    assert with_mocks - plain == {"mock_" + n.removeprefix("fake_") for n in plain}


def test_a_dry_run_runs_on_the_mock_backend_with_random_data_of_the_same_shape(
    emulator: Emulator,
) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    job = SamplerV2(mode=backend).run([bell(backend)], shots=200, dry_run=True)
    meas = job.result()[0].data.meas
    assert job.backend().name == "mock_manila"
    assert (meas.shape, meas.num_shots, meas.num_bits) == ((), 200, 2)
    assert set(meas.get_counts()) == {"00", "01", "10", "11"}  # a Bell state gives 00/11 only
    executor = Sampler(mode=backend).run([bell(backend)], shots=200, dry_run=True)
    assert executor.result()[0].data.meas.num_shots == 200
    assert service.usage()["usage_consumed_seconds"] == 0


def test_a_dry_run_in_a_session_on_the_real_backend_is_refused_with_what_to_do(
    emulator: Emulator,
) -> None:
    backend = ibm_service(emulator.url).backend("fake_manila")
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        with pytest.raises(IBMRuntimeError, match=r"400.*Dry-run in job mode, or open the"):
            sampler.run([bell(backend)], shots=10, dry_run=True)
        assert session.details()["state"] == "open"


def test_a_session_on_a_mock_backend_runs_under_the_session_rules(emulator: Emulator) -> None:
    mock = ibm_service(emulator.url).backend("mock_manila")
    with Session(backend=mock) as session:
        job = Sampler(mode=session).run([bell(mock)], shots=10, dry_run=True)
        assert job.result()[0].data.meas.num_shots == 10
        assert session.status() == "In progress, accepting new jobs"
    assert session.status() == "Closed"


def test_the_executor_estimator_runs_on_a_156_qubit_backend(emulator: Emulator) -> None:
    backend = ibm_service(emulator.url).backend("fake_fez")
    isa, observable = ansatz(backend)
    job = Estimator(mode=backend).run([(isa, observable, np.zeros(isa.num_parameters))])
    assert float(job.result()[0].data.evs) == pytest.approx(1.0, abs=0.1)


def test_the_local_shape_refuses_a_non_isa_circuit_with_the_emulators_words(
    emulator: Emulator,
) -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    with pytest.raises(LocalInputError) as local:
        LocalSampler(mode=LocalService().backend("fake_manila")).run([qc], shots=10)
    with pytest.raises(IBMRuntimeError) as served:
        Sampler(mode=ibm_service(emulator.url).backend("fake_manila")).run([qc], shots=10)
    assert str(local.value).replace("'", "") in str(served.value).replace("\\", "").replace("'", "")


def test_an_executor_job_acknowledged_before_a_restart_runs_after_it(tmp_path: Path) -> None:
    state = tmp_path / "emulator.db"
    first = create_app(SQLiteStore(state), ServerClock(virtual=True), seed=7)
    with running(first) as url:
        backend = ibm_service(url).backend("fake_manila")
        first.state.cloud.stop()  # the job is acknowledged and started, never executed
        job_id = Sampler(mode=backend).run([bell(backend)], shots=50).job_id()
    second = create_app(SQLiteStore(state), ServerClock(virtual=True), seed=7)
    with running(second) as url:
        job = ibm_service(url).job(job_id)
        counts = job.result()[0].data.meas.get_counts()
    assert sum(counts.values()) == 50
    assert set(counts) <= {"00", "11"}
