"""End to end: the unmodified azure-quantum client against the emulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.quantum.job import SessionJobFailurePolicy
from qiskit import QuantumCircuit
from qsession.adapters.emulator import azure_workspace
from qsession.adapters.local.model import DurationModel

from .conftest import BELL, Emulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: An IonQ circuit the target cannot run: its job is accepted, then fails.
BROKEN = {"qubits": 1, "circuit": [{"gate": "teleport", "target": 0}]}
TERMINAL = "Session is already in a terminal state."

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


def target(emulator: Emulator, name: str = "ionq.simulator") -> Any:
    return azure_workspace(emulator.url).get_targets(name)


def test_three_job_session_through_target_submit(emulator: Emulator) -> None:
    ionq = target(emulator)
    with ionq.open_session(name="three jobs") as session:
        assert session.details.status == "Waiting"
        jobs = [ionq.submit(BELL, name=f"Job {i}", shots=100) for i in (1, 2, 3)]
        histograms = [job.get_results()["histogram"] for job in jobs]
        session.refresh()
        assert session.details.status == "Executing"
    assert session.details.status == "Succeeded"
    for histogram in histograms:
        assert set(histogram) <= {"0", "3"}
        assert sum(histogram.values()) == pytest.approx(1.0)
    listed = ionq.workspace.list_session_jobs(session.id)
    assert [job.details.name for job in listed] == ["Job 1", "Job 2", "Job 3"]
    assert {job.details.status for job in listed} == {"Succeeded"}
    assert {job.details.session_id for job in listed} == {session.id}


def test_three_job_qsharp_session_from_the_seed(emulator: Emulator) -> None:
    qsharp = pytest.importorskip("qsharp")
    qsharp.init(target_profile=qsharp.TargetProfile.Base)
    qsharp.eval(QSHARP_RANDOM_BITS)
    ionq = target(emulator)
    angle = [0.0, 0.0]
    with ionq.open_session(name="Q# session of three jobs") as session:
        program = qsharp.compile(f"GenerateRandomBits(2, {angle})")
        first = ionq.submit(input_data=program, name="Job 1", shots=100)
        angle[0] += 1
        ionq.submit(qsharp.compile(f"GenerateRandomBits(2, {angle})"), name="Job 2", shots=100)
        angle[1] += 1
        ionq.submit(qsharp.compile(f"GenerateRandomBits(2, {angle})"), name="Job 3", shots=100)
    results = first.get_results()
    assert set(results) <= {"[0, 0]", "[0, 1]", "[1, 0]", "[1, 1]"}
    assert sum(results.values()) == pytest.approx(1.0)
    session_jobs = session.list_jobs()
    assert [job.details.name for job in session_jobs] == ["Job 1", "Job 2", "Job 3"]
    assert [job.details.input_data_format for job in session_jobs] == ["qir.v1"] * 3
    session.refresh()
    assert session.details.status == "Succeeded"


def test_qiskit_backend_session_runs_circuits(emulator: Emulator) -> None:
    pytest.importorskip("qsharp")
    from azure.quantum.qiskit import AzureQuantumProvider  # noqa: PLC0415 - needs qsharp

    workspace = azure_workspace(emulator.url)
    backend = AzureQuantumProvider(workspace).get_backend("ionq.simulator")
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    with backend.open_session(name="qiskit session") as session:
        counts = [backend.run(circuit, shots=200).result().get_counts() for _ in range(2)]
    for histogram in counts:
        assert set(histogram) <= {"00", "11"}
        assert sum(histogram.values()) == 200
    assert len(workspace.list_session_jobs(session.id)) == 2
    assert workspace.get_session(session.id).details.status == "Succeeded"


def test_abort_policy_fails_the_session_and_rejects_the_next_job(emulator: Emulator) -> None:
    ionq = target(emulator)
    session = ionq.open_session(job_failure_policy=SessionJobFailurePolicy.ABORT)
    assert session.details.job_failure_policy == "Abort"
    good = ionq.submit(BELL, name="good", shots=10)
    good.wait_until_completed()
    broken = ionq.submit(BROKEN, name="broken", shots=10)
    broken.wait_until_completed()
    assert broken.details.status == "Failed"
    assert broken.details.error_data.code == "InvalidInputData"
    session.refresh()
    assert session.details.status == "Failed"
    with pytest.raises(HttpResponseError, match=TERMINAL) as caught:
        ionq.submit(BELL, name="rejected", shots=10)
    assert caught.value.status_code == 400
    assert caught.value.error.code == "InvalidJobDefinition"
    assert [job.details.name for job in session.list_jobs()] == ["good", "broken"]


def test_abort_is_the_default_job_failure_policy(emulator: Emulator) -> None:
    ionq = target(emulator)
    with ionq.open_session() as session:
        assert session.details.job_failure_policy == "Abort"


def test_continue_policy_reports_failures_and_ends_failed_on_close(emulator: Emulator) -> None:
    ionq = target(emulator)
    session = ionq.open_session(job_failure_policy="Continue")
    ionq.submit(BROKEN, name="broken", shots=10).wait_until_completed()
    session.refresh()
    assert session.details.status == "Failure(s)"
    after = ionq.submit(BELL, name="after", shots=10)
    assert sum(after.get_results()["histogram"].values()) == pytest.approx(1.0)
    session.refresh()
    assert session.details.status == "Failure(s)"
    session.close()
    assert session.details.status == "Failed"
    assert [job.details.status for job in session.list_jobs()] == ["Failed", "Succeeded"]


def test_an_idle_session_times_out_after_ten_minutes(emulator: Emulator) -> None:
    ionq = target(emulator)
    session = ionq.open_session()
    ionq.submit(BELL, name="only", shots=10).wait_until_completed()
    emulator.advance(599)
    session.refresh()
    assert session.details.status == "Executing"
    emulator.advance(2)
    session.refresh()
    assert session.details.status == "TimedOut"
    assert session.details.end_execution_time is not None
    with pytest.raises(HttpResponseError, match=TERMINAL):
        ionq.submit(BELL, name="late", shots=10)


def test_list_sessions_filters_by_status(emulator: Emulator) -> None:
    workspace = azure_workspace(emulator.url)
    ionq = workspace.get_targets("ionq.simulator")
    closed = ionq.open_session(name="closed")
    closed.close()
    still_open = ionq.open_session(name="open")
    assert {s.id for s in workspace.list_sessions()} == {closed.id, still_open.id}
    assert [s.id for s in workspace.list_sessions(status=["Succeeded"])] == [closed.id]


@pytest.fixture
def slow_emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """Real time; every ionq.simulator job takes 1 s, so jobs queue behind each other."""
    return start_emulator(virtual=False, azure_targets={"ionq.simulator": DurationModel(1.0, 0.0)})


def test_close_with_jobs_in_flight_stays_executing_until_they_end(slow_emulator: Emulator) -> None:
    ionq = target(slow_emulator)
    session = ionq.open_session()
    jobs = [ionq.submit(BELL, name=f"Job {i}", shots=10) for i in (1, 2)]
    session.close()
    assert session.details.status == "Executing"
    for job in jobs:
        job.wait_until_completed(max_poll_wait_secs=0.2)
    session.refresh()
    assert session.details.status == "Succeeded"


def test_cancelling_a_queued_job_reports_cancelled(slow_emulator: Emulator) -> None:
    workspace = azure_workspace(slow_emulator.url)
    ionq = workspace.get_targets("ionq.simulator")
    with ionq.open_session():
        running = ionq.submit(BELL, name="running", shots=10)
        queued = ionq.submit(BELL, name="queued", shots=10)
        workspace.cancel_job(queued)
        queued.refresh()
        assert queued.details.status == "Cancelled"
        deadline = time.monotonic() + 10
        while not running.has_completed() and time.monotonic() < deadline:
            time.sleep(0.1)
            running.refresh()
    assert running.details.status == "Succeeded"
