"""The Azure Quantum shape: the Azure seed runs locally, and the SDK's two traps are fixed."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qsession.adapters.local import JobFailedError, JobRejectedError, Workspace
from qsession.core import SessionError


def random_bits(angle: list[float]) -> QuantumCircuit:
    """The seed's GenerateRandomBits(2, angle) as a qiskit circuit."""
    circuit = QuantumCircuit(2)
    circuit.h([0, 1])
    circuit.rz(angle[0], 0)
    circuit.rz(angle[1], 1)
    circuit.h([0, 1])
    circuit.measure_all()
    return circuit


def test_seed_three_job_session_lists_three_jobs_with_the_session_id() -> None:
    workspace = Workspace()
    target = workspace.get_targets("ionq.simulator")
    angle = [0.0, 0.0]
    with target.open_session(name="Q# session of three jobs") as session:
        target.submit(input_data=random_bits(angle), name="Job 1", shots=100)
        angle[0] += 1
        target.submit(input_data=random_bits(angle), name="Job 2", shots=100)
        angle[1] += 1
        target.submit(input_data=random_bits(angle), name="Job 3", shots=100)
    session_jobs = session.list_jobs()
    assert [job.details.name for job in session_jobs] == ["Job 1", "Job 2", "Job 3"]
    assert {job.details.session_id for job in session_jobs} == {session.id}
    assert workspace.list_session_jobs(session.id) == session_jobs
    assert session_jobs[0].get_results() == {"00": 1.0}
    assert sum(session_jobs[2].get_results().values()) == pytest.approx(1.0)
    assert session.details.status == "Succeeded"


def test_session_status_moves_waiting_executing_succeeded() -> None:
    workspace = Workspace()
    target = workspace.get_targets("ionq.simulator")
    session = target.open_session()
    assert session.details.status == "Waiting"
    job = target.submit(random_bits([0.0, 0.0]), shots=10)
    assert session.details.status == "Executing"
    job.wait_until_completed()
    assert job.details.status == "Succeeded"
    session.close()
    assert session.details.status == "Succeeded"
    assert session.is_in_terminal_state()


def test_job_result_is_the_primitive_result_of_the_reference_sampler() -> None:
    target = Workspace().get_targets("ionq.simulator")
    result = target.submit(random_bits([0.0, 0.0]), shots=50).result()
    assert isinstance(result, PrimitiveResult)
    assert result[0].data.meas.get_counts() == {"00": 50}


def failing_session(policy: str):
    workspace = Workspace()
    target = workspace.get_targets("quantinuum.sim.h2-1sc")
    session = target.open_session(job_failure_policy=policy)
    target.fail_next_job("boom")
    jobs = [target.submit(random_bits([0.0, 0.0]), name=f"job {i}", shots=10) for i in range(3)]
    return workspace, target, session, jobs


def test_abort_policy_fails_the_session_and_cancels_the_jobs_in_flight() -> None:
    _, _, session, jobs = failing_session("abort")
    with pytest.raises(JobFailedError, match="boom"):
        jobs[0].get_results()
    assert [job.details.status for job in jobs] == ["Failed", "Cancelled", "Cancelled"]
    assert session.details.status == "Failed"
    assert jobs[0].details.error_data == {"code": "failed", "message": "boom"}


def test_submission_to_a_terminal_session_is_rejected_before_any_job_exists() -> None:
    _, target, session, jobs = failing_session("abort")
    jobs[0].wait_until_completed()
    with pytest.raises(JobRejectedError, match="Session is already in a terminal state"):
        target.submit(random_bits([0.0, 0.0]), name="too late", shots=10)
    assert [job.details.name for job in session.list_jobs()] == ["job 0", "job 1", "job 2"]
    assert target.backend.queue_length == 0
    with pytest.raises(SessionError):
        target.submit(random_bits([0.0, 0.0]), shots=10)


def test_continue_policy_keeps_accepting_and_ends_failed_when_closed() -> None:
    _, target, session, jobs = failing_session("continue")
    for job in jobs:
        job.wait_until_completed()
    assert [job.details.status for job in jobs] == ["Failed", "Succeeded", "Succeeded"]
    assert session.details.status == "Failure(s)"
    target.submit(random_bits([0.0, 0.0]), shots=10).wait_until_completed()
    session.close()
    assert session.details.status == "Failed"


def test_closed_session_is_not_reused_by_later_submissions() -> None:
    workspace = Workspace()
    target = workspace.get_targets("ionq.simulator")
    with target.open_session() as session:
        target.submit(random_bits([0.0, 0.0]), shots=10)
    later = target.submit(random_bits([0.0, 0.0]), shots=10)
    assert target.latest_session is None
    assert later.details.session_id is None
    assert len(session.list_jobs()) == 1


def test_opening_a_new_session_closes_the_one_attached_before() -> None:
    target = Workspace().get_targets("ionq.simulator")
    first = target.open_session()
    second = target.open_session()
    assert first.details.status == "Succeeded"
    assert target.get_latest_session_id() == second.id


def test_workspace_lists_its_sessions() -> None:
    workspace = Workspace()
    ionq = workspace.get_targets("ionq.simulator")
    rigetti = workspace.get_targets("rigetti.sim.qvm")
    sessions = [ionq.open_session(name="a"), rigetti.open_session(name="b")]
    assert workspace.list_sessions() == sessions
    assert workspace.get_session(sessions[1].id).details.target == "rigetti.sim.qvm"
    assert {t.name for t in workspace.get_targets(provider_id="ionq")} == {
        "ionq.simulator",
        "ionq.qpu.aria-1",
        "ionq.qpu.forte-1",
        "ionq.qpu.forte-enterprise-1",
    }


def test_session_left_open_times_out_after_ten_idle_minutes() -> None:
    workspace = Workspace()
    target = workspace.get_targets("ionq.simulator")
    session = target.open_session()
    target.submit(random_bits([0.0, 0.0]), shots=10).wait_until_completed()
    workspace.clock.advance(601)
    assert session.details.status == "TimedOut"
    with pytest.raises(JobRejectedError):
        target.submit(random_bits([0.0, 0.0]), shots=10)


def test_quantinuum_session_holds_the_hardware_against_other_jobs() -> None:
    workspace = Workspace()
    target = workspace.get_targets("quantinuum.qpu.h2-1")
    session = target.open_session()
    target.submit(random_bits([0.0, 0.0]), shots=10).wait_until_completed()
    session.close()
    entries = [type(e).__name__ for e in session.timeline()]
    assert entries.count("ExclusivityEntry") == 2


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="no target"):
        Workspace().get_targets("nope.qpu")


QSHARP_RANDOM_BITS = """
operation GenerateRandomBits(n: Int, angle: Double[]) : Result[] {
    use qubits = Qubit[n];
    for q in qubits {
        H(q);
    }
    R(PauliZ, angle[0], qubits[0]);
    R(PauliZ, angle[1], qubits[1]);
    let results = MeasureEachZ(qubits);
    return results;
}
"""
BELL = {
    "qubits": 2,
    "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}],
}


def test_seed_000_runs_locally_with_qsharp_compile() -> None:
    qsharp = pytest.importorskip("qsharp")
    qsharp.init(target_profile=qsharp.TargetProfile.Base)
    qsharp.eval(QSHARP_RANDOM_BITS)
    target = Workspace(seed=3).get_targets("ionq.simulator")
    angle = [0.0, 0.0]
    with target.open_session(name="Q# session of three jobs") as session:
        target.submit(
            input_data=qsharp.compile(f"GenerateRandomBits(2, {angle})"), name="Job 1", shots=100
        )
        angle[0] += 1
        target.submit(
            input_data=qsharp.compile(f"GenerateRandomBits(2, {angle})"), name="Job 2", shots=100
        )
        angle[1] += 1
        target.submit(
            input_data=qsharp.compile(f"GenerateRandomBits(2, {angle})"), name="Job 3", shots=100
        )
    session_jobs = session.list_jobs()
    assert [job.details.name for job in session_jobs] == ["Job 1", "Job 2", "Job 3"]
    for job in session_jobs:
        job.wait_until_completed()
    results = session_jobs[0].get_results()
    assert set(results) == {"[0, 0]", "[0, 1]", "[1, 0]", "[1, 1]"}
    assert sum(results.values()) == pytest.approx(1.0)
    assert all(round(p * 100, 9) == round(p * 100) for p in results.values())
    assert session.details.status == "Succeeded"


def test_ionq_json_runs_locally_with_exact_simulator_probabilities() -> None:
    target = Workspace().get_targets("ionq.simulator")
    assert target.submit(BELL, shots=10).get_results() == {"histogram": {"0": 0.5, "3": 0.5}}


def test_openqasm_with_classical_control_runs_locally_on_quantinuum() -> None:
    program = (
        'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[1];\ncreg d[1];\nh q[0];\n'
        "measure q[0] -> c[0];\nif (c==1) x q[1];\nmeasure q[1] -> d[0];\n"
    )
    results = Workspace(seed=1).get_targets("quantinuum.sim.h2-1sc").submit(program, shots=50)
    registers = results.get_results()
    assert registers["c"] == registers["d"]
    assert set(registers["c"]) == {"0", "1"}


def test_local_output_format_the_target_cannot_produce_aborts_the_session() -> None:
    target = Workspace().get_targets("ionq.simulator")
    session = target.open_session(job_failure_policy="abort")
    job = target.submit(BELL, shots=10, output_data_format="invalid_output_format")
    job.wait_until_completed()
    assert job.details.status == "Failed"
    assert job.details.error_data["code"] == "CannotTranslateOutputData"
    assert "'outputDataFormat'" in job.details.error_data["message"]
    assert session.details.status == "Failed"
    with pytest.raises(JobRejectedError):
        target.submit(BELL, shots=10)


def test_local_submit_names_the_input_types_it_accepts() -> None:
    target = Workspace().get_targets("ionq.simulator")
    with pytest.raises(TypeError, match="IonQ JSON dict"):
        target.submit(42)
