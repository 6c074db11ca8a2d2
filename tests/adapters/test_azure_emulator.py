"""qsession.adapters.azure with the real azure-quantum client against the emulator.

The adapter's clock is the emulator's, so after each step its predicted status (no network
call) must equal the ``SessionStatus`` the service then reports.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from qiskit import QuantumCircuit
from qsession.adapters.azure import TrackedSession, track
from qsession.adapters.emulator import azure_workspace
from qsession.core import InvalidEventError, SessionClosedError
from qsession.spec import check_trace

from .conftest import Emulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BELL = {
    "qubits": 2,
    "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}],
}
#: An IonQ circuit the target cannot run: its job is accepted, then fails.
BROKEN = {"qubits": 1, "circuit": [{"gate": "teleport", "target": 0}]}
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


@pytest.fixture
def ionq(emulator: Emulator) -> Any:
    """The emulator's ``ionq.simulator`` target, tracked on the emulator's clock."""
    return track(azure_workspace(emulator.url).get_targets("ionq.simulator"), clock=emulator.now)


@pytest.fixture
def adopted(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Mismatches the adapter logged (and adopted the service's view for), as they come."""
    caplog.set_level(logging.WARNING, "qsession.adapters.azure")
    return caplog.messages


def assert_predicted(session: TrackedSession) -> str:
    """The predicted status, taken first, is the one the service then reports; return it."""
    predicted = session.predicted_status()
    session.refresh()
    assert predicted == session.details.status
    return predicted


def uploads(emulator: Emulator) -> int:
    """Job inputs uploaded to the emulator's blob storage so far."""
    return sum(1 for r in emulator.requests if r.startswith("PUT ") and r.endswith("/inputData"))


def violations(session: TrackedSession) -> list[str]:
    mirror = session.qsession
    return check_trace(
        mirror.policy,
        session_id=mirror.session_id,
        opened_at=mirror.opened_at,
        events=mirror.events,
    )


def test_seed_three_job_qsharp_session_is_predicted_at_every_step(
    ionq: Any, adopted: list[str]
) -> None:
    qsharp = pytest.importorskip("qsharp")
    qsharp.init(target_profile=qsharp.TargetProfile.Base)
    qsharp.eval(QSHARP_RANDOM_BITS)
    angle = [0.0, 0.0]
    with ionq.open_session(name="Q# session of three jobs") as session:
        assert assert_predicted(session) == "Waiting"
        for i in (1, 2, 3):
            program = qsharp.compile(f"GenerateRandomBits(2, {angle})")
            job = ionq.submit(input_data=program, name=f"Job {i}", shots=100)
            assert session.predicted_status() == "Executing"
            assert sum(job.get_results().values()) == pytest.approx(1.0)
            assert assert_predicted(session) == "Executing"
            angle[i % 2] += 1
    assert assert_predicted(session) == "Succeeded"
    assert ionq.latest_session is None
    assert [(j.name, j.state) for j in session.timeline().jobs] == [
        ("Job 1", "completed"),
        ("Job 2", "completed"),
        ("Job 3", "completed"),
    ]
    assert adopted == []
    assert violations(session) == []


def test_abort_failure_ends_the_session_and_the_next_job_is_refused_before_upload(
    emulator: Emulator, ionq: Any, adopted: list[str]
) -> None:
    session = ionq.open_session(job_failure_policy="Abort")
    ionq.submit(BELL, name="good", shots=10).wait_until_completed(print_progress=False)
    ionq.submit(BROKEN, name="broken", shots=10).wait_until_completed(print_progress=False)
    before = uploads(emulator)
    with pytest.raises(SessionClosedError, match="'Failed' and accepts no more jobs"):
        ionq.submit(BELL, name="refused", shots=10)
    assert uploads(emulator) == before
    assert ionq.latest_session is None
    assert assert_predicted(session) == "Failed"
    assert [job.details.name for job in session.list_jobs()] == ["good", "broken"]
    later = ionq.submit(BELL, name="outside", shots=10)
    assert later.details.session_id is None
    assert adopted == []
    assert violations(session) == []


def test_an_untracked_target_uploads_the_input_of_a_job_the_service_refuses(
    emulator: Emulator,
) -> None:
    """The trap ``track`` fixes: the SDK uploads first, so the refused job orphans its blob."""
    ionq = azure_workspace(emulator.url).get_targets("ionq.simulator")
    ionq.open_session(job_failure_policy="Abort")
    ionq.submit(BROKEN, name="broken", shots=10).wait_until_completed(print_progress=False)
    before = uploads(emulator)
    with pytest.raises(HttpResponseError, match="terminal state"):
        ionq.submit(BELL, name="refused", shots=10)
    assert uploads(emulator) == before + 1


def test_continue_policy_failures_are_not_an_end(ionq: Any, adopted: list[str]) -> None:
    session = ionq.open_session(job_failure_policy="Continue")
    ionq.submit(BROKEN, name="broken", shots=10).wait_until_completed(print_progress=False)
    assert assert_predicted(session) == "Failure(s)"
    assert ionq.latest_session is session
    after = ionq.submit(BELL, name="after", shots=10)
    assert after.details.session_id == session.id
    assert sum(after.get_results()["histogram"].values()) == pytest.approx(1.0)
    assert assert_predicted(session) == "Failure(s)"
    session.close()
    assert session.details.status == "Failed"
    assert session.predicted_status() == "Failed"
    assert adopted == []
    assert violations(session) == []


def test_closing_clears_latest_session_so_later_jobs_run_outside_it(
    emulator: Emulator, ionq: Any
) -> None:
    with ionq.open_session() as session:
        ionq.submit(BELL, name="inside", shots=10).wait_until_completed(print_progress=False)
    assert ionq.latest_session is None
    before = uploads(emulator)
    outside = ionq.submit(BELL, name="outside", shots=10)
    assert outside.details.session_id is None
    assert uploads(emulator) == before + 1
    assert [job.details.name for job in session.list_jobs()] == ["inside"]


def test_an_untracked_target_tags_later_jobs_with_its_closed_session(emulator: Emulator) -> None:
    """The trap ``track`` fixes: ``latest_session`` outlives the ``with`` block."""
    ionq = azure_workspace(emulator.url).get_targets("ionq.simulator")
    with ionq.open_session() as session:
        pass
    assert ionq.latest_session is session
    with pytest.raises(HttpResponseError, match="terminal state"):
        ionq.submit(BELL, name="outside", shots=10)


def test_a_session_of_another_target_is_refused_before_upload(
    emulator: Emulator, ionq: Any
) -> None:
    session = ionq.open_session()
    rigetti = track(
        azure_workspace(emulator.url).get_targets("rigetti.sim.qvm"), clock=emulator.now
    )
    rigetti.latest_session = session
    before = uploads(emulator)
    foreign = r"runs on 'ionq\.simulator', not 'rigetti\.sim\.qvm'"
    with pytest.raises(InvalidEventError, match=foreign):
        rigetti.submit("DECLARE ro BIT[1]", name="foreign", shots=10)
    assert uploads(emulator) == before
    assert session.list_jobs() == []


def test_the_idle_timeout_is_predicted_and_ends_the_session(
    emulator: Emulator, ionq: Any, adopted: list[str]
) -> None:
    session = ionq.open_session()
    ionq.submit(BELL, name="only", shots=10).wait_until_completed(print_progress=False)
    assert assert_predicted(session) == "Executing"
    emulator.advance(599)
    assert session.remaining() == pytest.approx(1.0, abs=1e-3)
    assert session.next_deadline == pytest.approx(emulator.now() + 1.0, abs=1e-3)
    assert assert_predicted(session) == "Executing"
    emulator.advance(2)
    assert session.predicted_status() == "TimedOut"
    assert session.remaining() == 0.0
    assert assert_predicted(session) == "TimedOut"
    with pytest.raises(SessionClosedError, match="'TimedOut'"):
        ionq.submit(BELL, name="late", shots=10)
    assert adopted == []


def test_a_qiskit_backend_session_is_tracked_through_the_host(
    emulator: Emulator, adopted: list[str]
) -> None:
    pytest.importorskip("qsharp")
    from azure.quantum.qiskit import AzureQuantumProvider  # noqa: PLC0415 - needs qsharp

    workspace = azure_workspace(emulator.url)
    backend = track(
        AzureQuantumProvider(workspace).get_backend("ionq.simulator"), clock=emulator.now
    )
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    with backend.open_session(name="qiskit session") as session:
        counts = [backend.run(circuit, shots=100).result().get_counts() for _ in range(2)]
        assert assert_predicted(session) == "Executing"
    assert all(sum(histogram.values()) == 100 for histogram in counts)
    assert backend.latest_session is None
    assert assert_predicted(session) == "Succeeded"
    assert [job.state for job in session.timeline().jobs] == ["completed", "completed"]
    assert adopted == []


def test_tracking_hosts_leaves_the_sdks_target_and_backend_discovery_alone(
    emulator: Emulator,
) -> None:
    pytest.importorskip("qsharp")
    from azure.quantum.qiskit import AzureQuantumProvider  # noqa: PLC0415 - needs qsharp

    workspace = azure_workspace(emulator.url)
    target = workspace.get_targets("ionq.simulator")
    backend = AzureQuantumProvider(workspace).get_backend("ionq.simulator")
    kinds = type(target), type(backend)
    track(target, clock=emulator.now)
    track(backend, clock=emulator.now)
    assert (type(target), type(backend)) == kinds
    assert type(workspace.get_targets("ionq.simulator")) is kinds[0]
    assert type(AzureQuantumProvider(workspace).get_backend("ionq.simulator")) is kinds[1]
