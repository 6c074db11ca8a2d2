"""The local IBM shape offers the SDK's names, its executor-based primitives, and is as strict as
the service: ISA circuits on fake backends, shot noise at the precision asked for."""

from __future__ import annotations

import numpy as np
import pytest
import qiskit_ibm_runtime
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import QuantumProgram
from qiskit_ibm_runtime.results import QuantumProgramResult
from qsession.adapters import local
from qsession.adapters.local import (
    Batch,
    Estimator,
    Executor,
    IBMInputValueError,
    QiskitRuntimeService,
    SamplerV2,
    Session,
)
from qsession.adapters.local.demo import H2, ansatz
from qsession.adapters.local.executor_estimator import Estimator as ExecutorEstimator
from qsession.adapters.local.executor_sampler import Sampler as ExecutorSampler
from samplomatic.quantum_program import CircuitItem

ANSATZ = ansatz()
ZERO_STATE_ENERGY = Statevector(ANSATZ.assign_parameters(np.zeros(4))).expectation_value(H2).real

#: The SDK's top-level names for what the local IBM shape supports.
SDK_NAMES = (
    "QiskitRuntimeService",
    "IBMQuantumComputeService",
    "Session",
    "Batch",
    "EstimatorV2",
    "Estimator",
    "SamplerV2",
    "Sampler",
    "Executor",
    "ExecutorOptions",
    "QuantumProgram",
    "RuntimeJobV2",
    "EstimatorOptions",
    "SamplerOptions",
    "IBMRuntimeError",
    "IBMInputValueError",
    "RuntimeJobFailureError",
    "RuntimeInvalidStateError",
)


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def manila() -> tuple[object, QuantumCircuit]:
    backend = QiskitRuntimeService().backend("fake_manila")
    isa = generate_preset_pass_manager(backend=backend.execution.backend, optimization_level=1)
    return backend, isa.run(bell())


@pytest.mark.parametrize("name", SDK_NAMES)
def test_the_local_shape_offers_the_sdks_top_level_name_pointing_where_the_sdk_points(
    name: str,
) -> None:
    sdk = getattr(qiskit_ibm_runtime, name)
    ours = getattr(local, name)
    if sdk.__name__ != name:  # an alias in the SDK: ours aliases the same class
        assert ours is getattr(local, sdk.__name__)
    if issubclass(sdk, Exception) or sdk in (QuantumProgram, qiskit_ibm_runtime.ExecutorOptions):
        assert ours is sdk


def test_seed_code_with_estimator_runs_in_a_session() -> None:
    with Session(backend=QiskitRuntimeService(exact=True).backend()) as session:
        estimator = Estimator(mode=session, options={"default_precision": 0.01})
        evs = estimator.run([(ANSATZ, H2, np.zeros(4))]).result()[0].data.evs
    assert float(evs) == pytest.approx(ZERO_STATE_ENERGY)


def test_the_executor_sampler_runs_in_a_local_session() -> None:
    backend, isa = manila()
    with Session(backend=backend) as session:
        job = ExecutorSampler(mode=session).run([isa], shots=200)
        counts = job.result()[0].data.meas.get_counts()
    assert job.session_id == session.session_id
    assert job.primitive_id == "executor"
    assert sum(counts.values()) == 200
    assert set(counts) <= {"00", "11"}


def test_the_executor_estimator_runs_in_a_local_batch() -> None:
    basis = generate_preset_pass_manager(basis_gates=["rz", "sx", "x", "cx"], optimization_level=1)
    circuit = basis.run(ANSATZ)  # twirling needs the gates of a device
    with Batch(backend=QiskitRuntimeService().backend()) as batch:
        job = ExecutorEstimator(mode=batch).run([(circuit, H2, np.zeros(4))], precision=0.01)
        evs = job.result()[0].data.evs
    assert evs.shape == ()
    assert float(evs) == pytest.approx(ZERO_STATE_ENERGY, abs=0.05)
    assert len(batch.timeline().jobs) == 1


def test_the_executor_runs_a_quantum_program_and_returns_its_bits() -> None:
    program = QuantumProgram(shots=30, items=[CircuitItem(bell())])
    result = Executor(mode=QiskitRuntimeService().backend()).run(program).result()
    assert isinstance(result, QuantumProgramResult)
    bits = result[0]["meas"]
    assert bits.shape == (30, 2)
    assert bits.dtype == np.bool_
    assert (bits[:, 0] == bits[:, 1]).all()  # a Bell pair: both bits agree in every shot


@pytest.mark.parametrize(
    "run",
    [
        lambda b, qc: SamplerV2(mode=b).run([qc]),
        lambda b, qc: Estimator(mode=b).run([(qc.remove_final_measurements(False), H2)]),
        lambda b, qc: ExecutorSampler(mode=b).run([qc]),
    ],
    ids=["SamplerV2", "EstimatorV2", "executor Sampler"],
)
def test_a_non_isa_circuit_on_a_fake_backend_is_refused_before_anything_is_queued(run) -> None:
    backend, _ = manila()
    with pytest.raises(IBMInputValueError, match=r"instruction h on qubits \(0,\) is not"):
        run(backend, bell())
    assert backend.queue_length == 0
    assert backend.scheduler.clock.now() == 0  # nothing ran


@pytest.mark.parametrize(
    ("options", "precision", "expected"),
    [
        ({}, None, 0.015625),
        ({"default_precision": 0.05}, None, 0.05),
        ({}, 0.1, 0.1),
        ({"default_shots": 400}, None, 0.05),
    ],
)
def test_estimates_carry_the_shot_noise_of_the_precision_asked_for(
    options: dict[str, float], precision: float | None, expected: float
) -> None:
    backend = QiskitRuntimeService().backend()
    assert not backend.execution.exact
    sweep = np.zeros((400, 4))
    job = Estimator(mode=backend, options=options).run([(ANSATZ, H2, sweep)], precision=precision)
    evs = job.result()[0].data.evs
    assert evs.shape == (400,)
    assert np.std(evs) == pytest.approx(expected, rel=0.2)
    assert np.mean(evs) == pytest.approx(ZERO_STATE_ENERGY, abs=4 * expected / 20)


def test_an_exact_backend_returns_exact_values_whatever_the_precision() -> None:
    backend = QiskitRuntimeService(exact=True).backend()
    evs = Estimator(mode=backend).run([(ANSATZ, H2, np.zeros((5, 4)))], precision=0.1)
    assert evs.result()[0].data.evs == pytest.approx([ZERO_STATE_ENERGY] * 5, abs=1e-12)


def test_a_fake_backend_cannot_be_exact() -> None:
    service = QiskitRuntimeService()
    with pytest.raises(ValueError, match="only the statevector backend can be exact"):
        service.scheduler.add_backend(
            "exact_manila", qiskit_backend=manila()[0].execution.backend, exact=True
        )


def test_a_local_jobs_usage_is_its_qpu_charge_time_once_it_ends() -> None:
    backend = QiskitRuntimeService().backend()
    job = SamplerV2(mode=backend).run([bell()], shots=1000)
    job.result()
    assert job.metrics()["usage"]["status"] == "completed"
    assert job.usage() == pytest.approx(backend.duration.seconds(1000))


def test_a_local_batchs_usage_is_the_sum_of_its_jobs_charge_times() -> None:
    backend = QiskitRuntimeService().backend()
    with Batch(backend=backend) as batch:
        jobs = [SamplerV2(mode=batch).run([bell()], shots=n) for n in (100, 3000)]
        for job in jobs:
            job.result()
    expected = backend.duration.seconds(100) + backend.duration.seconds(3000)
    assert batch.usage() == pytest.approx(expected)


def test_max_execution_time_is_refused_locally_rather_than_ignored() -> None:
    backend, isa = manila()
    sampler = ExecutorSampler(mode=backend, options={"max_execution_time": 10})
    with pytest.raises(IBMInputValueError, match="max_execution_time is not modelled"):
        sampler.run([isa], shots=10)
    assert backend.queue_length == 0
