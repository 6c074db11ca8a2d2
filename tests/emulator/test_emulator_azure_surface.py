"""End to end with the real azure-quantum (and qsharp) client: the targets the service lists,
format validation, per-job output blobs, IonQ simulator results and costs, OpenQASM classical
control, topLevelItems, and the 2025-12-01-preview job surface."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.quantum import Job, JobStatus, Session, SessionStatus
from azure.quantum.job import SessionJobFailurePolicy
from azure.quantum.qiskit.job import AzureJobStatusMap
from azure.quantum.target import IonQ, Quantinuum, Target
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qsession.adapters.emulator import ServerClock, SQLiteStore, azure_workspace, create_app
from qsession.adapters.emulator.serve import running
from qsession.adapters.local.model import DurationModel

from .conftest import BELL, Emulator, unsigned

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ECHO_PROVIDER = "Microsoft.Test.FirstParty"
#: ry(1.0) on one qubit: P(1) = sin(0.5) ** 2, not a multiple of 1/shots.
TILTED = {"qubits": 1, "circuit": [{"gate": "ry", "target": 0, "rotation": 1.0}]}
TERMINAL = "Session is already in a terminal state."
QSHARP_BELL = """
operation BellState() : (Result, Result) {
    use (a, b) = (Qubit(), Qubit());
    H(a);
    CNOT(a, b);
    (MResetZ(a), MResetZ(b))
}
"""
#: OpenQASM 2 with classical control: d[0] is flipped exactly when c[0] read 1.
FEED_FORWARD = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[1];
creg d[1];
h q[0];
measure q[0] -> c[0];
if (c==1) x q[1];
measure q[1] -> d[0];
"""
#: A qubit flipped, reset mid-circuit, then measured: always 0.
RESET = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[1];
creg c[2];
x q[0];
measure q[0] -> c[1];
reset q[0];
measure q[0] -> c[0];
"""


@pytest.fixture
def workspace(emulator: Emulator) -> Any:
    return azure_workspace(emulator.url)


@pytest.fixture
def bell_qir() -> Any:
    qsharp = pytest.importorskip("qsharp")
    qsharp.init(target_profile=qsharp.TargetProfile.Base)
    qsharp.eval(QSHARP_BELL)
    return qsharp.compile("BellState()")


def echo_quantinuum(workspace: Any) -> Quantinuum:
    """The target exactly as the SDK's own session tests build it."""
    return Quantinuum(workspace=workspace, name="echo-quantinuum", provider_id=ECHO_PROVIDER)


# Targets the service lists --------------------------------------------------------------------


def test_provider_status_lists_microsofts_echo_targets_under_their_provider(workspace: Any) -> None:
    for name in ("echo-ionq", "echo-quantinuum", "echo-rigetti", "echo-output"):
        assert workspace.get_targets(name).provider_id == ECHO_PROVIDER
    assert workspace.get_targets("ionq.simulator").provider_id == "ionq"
    assert workspace.get_targets("quantinuum.sim.h2-1sc").provider_id == "quantinuum"


#: What the service lists per provider (recorded providerStatus, API 2025-12-01-preview).
LISTED = {
    "ionq": {
        "ionq.simulator",
        "ionq.qpu.aria-1",
        "ionq.qpu.forte-1",
        "ionq.qpu.forte-enterprise-1",
    },
    "quantinuum": {
        "quantinuum.qpu.h2-1",
        "quantinuum.sim.h2-1sc",
        "quantinuum.sim.h2-1e",
        "quantinuum.qpu.h2-2",
        "quantinuum.sim.h2-2sc",
        "quantinuum.sim.h2-2e",
    },
    "rigetti": {"rigetti.sim.qvm", "rigetti.qpu.ankaa-3", "rigetti.qpu.cepheus-1-36q"},
    ECHO_PROVIDER: {"echo-ionq", "echo-quantinuum", "echo-rigetti", "echo-output"},
}


def test_provider_status_lists_every_target_of_each_emulated_provider(
    workspace: Any, emulator: Emulator
) -> None:
    answer = httpx.get(
        f"{emulator.url}{WS}/providerStatus", headers={"x-ms-quantum-api-key": "qsession"}
    )
    listed = {p["id"]: {t["id"] for t in p["targets"]} for p in answer.json()["value"]}
    assert listed == LISTED
    sdk_targets = {(t.provider_id, t.name) for t in workspace.get_targets()}
    assert {(p, n) for p in ("ionq", "quantinuum", "rigetti") for n in LISTED[p]} <= sdk_targets


def test_echo_output_returns_its_input(workspace: Any) -> None:
    echo = Target(
        workspace=workspace,
        name="echo-output",
        provider_id=ECHO_PROVIDER,
        input_data_format="microsoft.quantum-log.v1",
        output_data_format="microsoft.quantum-log.v1",
    )
    payload = "{ input: 'data' }"
    job = echo.submit(input_data=payload)
    assert job.get_results() == payload
    assert job.details.provider_id == "microsoft.test.firstparty"


def test_echo_quantinuum_session_fails_on_an_output_format_it_cannot_produce(
    workspace: Any, bell_qir: Any
) -> None:
    target = echo_quantinuum(workspace)
    with target.open_session(job_failure_policy=SessionJobFailurePolicy.ABORT) as session:
        assert session.details.provider_id == "microsoft.test.firstparty"
        bad = target.submit(bell_qir, name="Bad Job 1", output_data_format="invalid_output_format")
        bad.wait_until_completed()
        assert bad.details.status == JobStatus.FAILED
        assert bad.details.error_data.code == "CannotTranslateOutputData"
        assert "'outputDataFormat'" in bad.details.error_data.message
        session.refresh()
        assert session.details.status == SessionStatus.FAILED
        with pytest.raises(HttpResponseError, match=TERMINAL):
            target.submit(bell_qir, name="Good Job 2", output_data_format="honeywell.qir.v1")
        assert [job.details.name for job in session.list_jobs()] == ["Bad Job 1"]


def test_echo_quantinuum_continue_session_reports_failures_and_keeps_going(
    workspace: Any, bell_qir: Any
) -> None:
    target = echo_quantinuum(workspace)
    with target.open_session(job_failure_policy=SessionJobFailurePolicy.CONTINUE) as session:
        formats = ["honeywell.qir.v1", "invalid_output_format", "honeywell.qir.v1"]
        jobs = [
            target.submit(bell_qir, name=f"Job {i}", output_data_format=f)
            for i, f in enumerate(formats)
        ]
        for job in jobs:
            job.wait_until_completed()
        session.refresh()
        assert session.details.status == SessionStatus.FAILURE_S_
    assert [job.details.status for job in jobs] == ["Succeeded", "Failed", "Succeeded"]
    assert jobs[0].get_results() == bell_qir._repr_qir_(target="echo-quantinuum").decode()
    assert session.details.status == SessionStatus.FAILED


def test_an_input_format_the_target_does_not_accept_fails_the_job(workspace: Any) -> None:
    rigetti = workspace.get_targets("rigetti.sim.qvm")
    job = rigetti.submit("DECLARE ro BIT[1]\nH 0\nMEASURE 0 ro[0]", shots=10)
    job.wait_until_completed()
    assert job.details.status == "Failed"
    assert job.details.error_data.code == "InvalidInputDataFormat"
    assert "qir.v1" in job.details.error_data.message


def test_provider_ids_are_reported_lower_case_whatever_case_was_sent(workspace: Any) -> None:
    ionq = IonQ(workspace=workspace, name="ionq.simulator", provider_id="IonQ")
    with ionq.open_session() as session:
        job = ionq.submit(BELL, shots=10)
    assert session.details.provider_id == "ionq"
    assert job.details.provider_id == "ionq"
    assert workspace.get_job(job.id).details.provider_id == "ionq"


def test_a_provider_id_that_is_not_the_targets_is_refused(workspace: Any) -> None:
    wrong = IonQ(workspace=workspace, name="ionq.simulator", provider_id="quantinuum")
    with pytest.raises(HttpResponseError, match="belongs to provider 'ionq'") as caught:
        wrong.submit(BELL, shots=10)
    assert caught.value.status_code == 400
    assert workspace.list_jobs() == []


# Output blobs ---------------------------------------------------------------------------------


def test_two_jobs_in_one_container_each_get_their_own_output(workspace: Any) -> None:
    ones = {"qubits": 1, "circuit": [{"gate": "x", "target": 0}]}
    zeros = {"qubits": 1, "circuit": [{"gate": "z", "target": 0}]}
    jobs = [
        Job.from_input_data(
            workspace,
            name=name,
            target="ionq.simulator",
            input_data=IonQ._encode_input_data(circuit),
            blob_name=f"{name}-input",
            container_name="shared-jobs",
            provider_id="ionq",
            input_data_format="ionq.circuit.v1",
            output_data_format="ionq.quantum-results.v1",
            input_params={"shots": 10},
        )
        for name, circuit in (("ones", ones), ("zeros", zeros))
    ]
    results = [job.get_results()["histogram"] for job in jobs]
    assert results == [{"1": 1.0}, {"0": 1.0}]
    assert jobs[0].details.output_data_uri != jobs[1].details.output_data_uri


def test_output_goes_where_output_data_uri_says(workspace: Any, emulator: Emulator) -> None:
    container = workspace.get_container_uri(container_name="mine")
    wanted = container.split("?")[0] + "/results/bell.json"
    job = Job.from_input_data(
        workspace,
        name="placed",
        target="ionq.simulator",
        input_data=IonQ._encode_input_data(BELL),
        container_name="mine",
        provider_id="ionq",
        input_data_format="ionq.circuit.v1",
        output_data_format="ionq.quantum-results.v1",
        input_params={"shots": 10},
        output_data_uri=wanted,
    )
    assert job.get_results()["histogram"] == {"0": 0.5, "3": 0.5}
    assert job.details.output_data_uri.split("?")[0] == wanted
    stored = emulator.cloud.store.get_blob(wanted.split("/")[3], "mine", "results/bell.json")
    assert stored is not None


# IonQ results and costs -----------------------------------------------------------------------


def test_ionq_simulator_returns_exact_probabilities(workspace: Any) -> None:
    ionq = workspace.get_targets("ionq.simulator")
    assert ionq.submit(BELL, shots=7).get_results()["histogram"] == {"0": 0.5, "3": 0.5}
    tilted = ionq.submit(TILTED, shots=7).get_results()["histogram"]
    assert tilted == pytest.approx({"0": 0.7701511529, "1": 0.2298488471}, abs=1e-9)


def test_ionq_qpu_samples_from_the_shots(workspace: Any) -> None:
    qpu = workspace.get_targets("ionq.qpu.aria-1")
    histogram = qpu.submit(TILTED, shots=40).get_results()["histogram"]
    assert sum(histogram.values()) == pytest.approx(1.0)
    assert all(round(p * 40, 9) == round(p * 40) for p in histogram.values())


def ionq_aqt(one_q: int, two_q: int, shots: int, minimum: float) -> float:
    """IonQ's published formula: AQT = m + 0.000220 (N1q C) + 0.000975 (N2q C)."""
    return minimum + 0.000220 * one_q * shots + 0.000975 * two_q * shots


def test_ionq_cost_estimate_follows_the_published_pricing(workspace: Any) -> None:
    simulator = workspace.get_targets("ionq.simulator").submit(BELL, shots=100)
    free = simulator.details.cost_estimate
    assert (free.currency_code, free.estimated_total) == ("USD", 0.0)
    assert {e.dimension_id for e in free.events} == {"gs1q", "gs2q"}
    qpu = workspace.get_targets("ionq.qpu.aria-1")
    plain = qpu.submit(BELL, shots=100).details.cost_estimate
    assert plain.estimated_total == pytest.approx(ionq_aqt(1, 1, 100, 12.4166))
    gate_shots = {e.dimension_id: e.amount_consumed for e in plain.events}
    assert (gate_shots["gs1q"], gate_shots["gs2q"]) == (100, 100)
    mitigated = qpu.submit(
        BELL, shots=100, input_params={"error-mitigation": {"debias": True}}
    ).details.cost_estimate
    assert mitigated.estimated_total == pytest.approx(ionq_aqt(1, 1, 100, 97.50))
    toffoli = {"qubits": 3, "circuit": [{"gate": "x", "controls": [0, 1], "target": 2}]}
    billed = qpu.submit(toffoli, shots=10).details.cost_estimate
    assert billed.estimated_total == pytest.approx(ionq_aqt(0, 6, 10, 12.4166))


def test_quantinuum_cost_estimate_counts_hqcs(workspace: Any) -> None:
    bell = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\n'
    bell += "cx q[0],q[1];\nmeasure q -> c;\n"
    qpu = workspace.get_targets("quantinuum.qpu.h2-1").submit(bell, shots=100)
    hqc = qpu.details.cost_estimate
    assert hqc.currency_code == "HQC"
    assert hqc.estimated_total == pytest.approx(5 + 100 * (1 + 10 * 1 + 5 * 2) / 5000)
    checker = workspace.get_targets("quantinuum.sim.h2-1sc").submit(bell, shots=100)
    assert checker.details.cost_estimate.estimated_total == 0.0


# OpenQASM classical control -------------------------------------------------------------------


def test_quantinuum_runs_openqasm_if_on_a_measured_bit(workspace: Any) -> None:
    quantinuum = workspace.get_targets("quantinuum.sim.h2-1sc")
    job = quantinuum.submit(FEED_FORWARD, shots=200)
    results = job.get_results()
    assert job.details.status == "Succeeded"
    assert results["c"] == results["d"]
    assert set(results["c"]) == {"0", "1"}


def test_quantinuum_runs_mid_circuit_reset(workspace: Any) -> None:
    results = workspace.get_targets("quantinuum.sim.h2-1sc").submit(RESET, shots=20).get_results()
    assert set(results["c"]) == {"10"}


# topLevelItems --------------------------------------------------------------------------------


def test_top_level_items_are_sessions_and_jobs_outside_sessions(workspace: Any) -> None:
    ionq = workspace.get_targets("ionq.simulator")
    alone = ionq.submit(BELL, name="alone", shots=10)
    with ionq.open_session(name="grouped") as session:
        ionq.submit(BELL, name="inside", shots=10)
    ionq.latest_session = None
    quantinuum = workspace.get_targets("quantinuum.sim.h2-1sc")
    other = quantinuum.submit(FEED_FORWARD, name="other", shots=10)
    items = workspace.list_top_level_items()
    assert [(type(i).__name__, i.id) for i in items] == [
        ("Job", alone.id),
        ("Session", session.id),
        ("Job", other.id),
    ]
    assert [i.id for i in workspace.list_top_level_items(item_type=["Session"])] == [session.id]
    assert [i.id for i in workspace.list_top_level_items(provider=["quantinuum"])] == [other.id]
    assert [i.id for i in workspace.list_top_level_items(name_match="alo")] == [alone.id]
    by_name = workspace.list_top_level_items(orderby_property="Name", is_asc=False)
    assert [i.details.name for i in by_name] == ["other", "grouped", "alone"]


def test_listings_page_with_next_link(workspace: Any, emulator: Emulator) -> None:
    ionq = workspace.get_targets("ionq.simulator")
    made = [ionq.submit(BELL, name=f"job {i}", shots=10).id for i in range(5)]
    pages = workspace.list_top_level_items_paginated(top=2)
    assert [item.id for item in pages] == made
    jobs = workspace.list_jobs_paginated(top=2, orderby_property="Name", is_asc=False)
    assert [job.id for job in jobs] == made[::-1]
    workspace.get_targets("rigetti.sim.qvm").submit("not QIR", name="job 9", shots=10)
    filtered = workspace.list_jobs_paginated(top=2, provider=["ionq"], name_match="job ")
    assert [job.id for job in filtered] == made


def test_a_bad_orderby_is_a_clear_400(workspace: Any, emulator: Emulator) -> None:
    answer = httpx.get(
        f"{emulator.url}{WS}/topLevelItems",
        params={"orderby": "Colour asc"},
        headers={"x-ms-quantum-api-key": "qsession"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidOrderBy"


# The 2025-12-01-preview job surface -----------------------------------------------------------

WS = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/qsession"
    "/providers/Microsoft.Quantum/workspaces/emulator"
)


@pytest.fixture
def long_emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """Real time; an ionq.simulator job runs an hour, all of it the fixed overhead."""
    return start_emulator(
        virtual=False, azure_targets={"ionq.simulator": DurationModel(3600.0, 0.0)}
    )


def test_a_job_past_its_shots_is_finishing_and_can_be_cancelled(long_emulator: Emulator) -> None:
    workspace = azure_workspace(long_emulator.url, api_version="2025-12-01-preview")
    job = workspace.get_targets("ionq.simulator").submit(BELL, shots=10)
    while job.details.status == "Waiting":  # it starts at once; a hang is pytest-timeout's
        time.sleep(0.05)
        job.refresh()
    assert job.details.status == "Finishing"
    assert not job.has_completed()
    assert AzureJobStatusMap[job.details.status].name == "RUNNING"
    answer = httpx.post(
        f"{long_emulator.url}{WS}/jobs/{job.id}:cancel",
        params={"api-version": "2025-12-01-preview"},
        headers={"x-ms-quantum-api-key": "qsession"},
    )
    assert answer.status_code == 200
    assert answer.json()["id"] == job.id
    assert answer.json()["status"] == "Cancelled"
    job.refresh()
    assert job.details.cancellation_time is not None


def test_cancel_job_through_the_client(long_emulator: Emulator) -> None:
    workspace = azure_workspace(long_emulator.url)
    job = workspace.get_targets("ionq.simulator").submit(BELL, shots=10)
    cancelled = workspace.cancel_job(job)
    assert cancelled.details.status == "Cancelled"
    assert cancelled.details.cancellation_time is not None
    with pytest.raises(HttpResponseError) as caught:
        workspace.cancel_job(job)
    assert caught.value.status_code == 409


def test_items_carry_the_newer_fields(workspace: Any) -> None:
    ionq = workspace.get_targets("ionq.simulator")
    with ionq.open_session() as session:
        job = ionq.submit(BELL, shots=10)
        job.wait_until_completed()
    details = workspace.get_job(job.id).details
    assert (details.created_by_type, details.last_modified_by_type) == ("Key", "Key")
    assert details.last_modified_time >= details.creation_time
    assert details.usage["shots"] == 10
    assert details.quantum_computing_data.count == 1
    session.refresh()
    assert session.details.created_by_type == "Key"


def test_update_job_changes_name_priority_and_tags(workspace: Any) -> None:
    job = workspace.get_targets("ionq.simulator").submit(BELL, name="before", shots=10)
    updated = workspace.update_job(job, name="after", priority="High", tags=["vqe", "run-2"])
    assert (updated.details.name, updated.details.priority) == ("after", "High")
    assert updated.details.tags == ["vqe", "run-2"]
    lowered = workspace.update_job(job, priority="standard")
    assert lowered.details.priority == "Standard"
    workspace.update_job(job, priority="High")
    renamed_only = workspace.update_job(job, name="again")
    assert (renamed_only.details.name, renamed_only.details.priority) == ("again", "High")
    assert workspace.list_jobs(name_match="again")[0].id == job.id


def test_update_job_refuses_an_unknown_priority_and_changes_nothing(workspace: Any) -> None:
    job = workspace.get_targets("ionq.simulator").submit(BELL, name="kept", shots=10)
    with pytest.raises(HttpResponseError) as caught:
        workspace.update_job(job, name="lost", priority="Urgent")
    assert caught.value.status_code == 400
    assert workspace.get_job(job.id).details.name == "kept"


def test_open_session_object_on_an_echo_target(workspace: Any) -> None:
    session = Session(workspace=workspace, target="echo-quantinuum", provider_id=ECHO_PROVIDER)
    session.open()
    assert session.details.status == SessionStatus.WAITING
    session.close()
    assert session.details.status == SessionStatus.SUCCEEDED


# What is not supported answers clearly -------------------------------------------------------


def test_a_circuit_over_the_simulated_qubit_limit_fails_the_job_clearly(workspace: Any) -> None:
    wide = {"qubits": 25, "circuit": [{"gate": "h", "target": 24}]}
    job = workspace.get_targets("ionq.simulator").submit(wide, shots=10)
    job.wait_until_completed()
    assert job.details.error_data.code == "InvalidInputData"
    assert "at most 24" in job.details.error_data.message


def test_deleting_a_job_is_method_not_allowed_and_keeps_it(
    workspace: Any, emulator: Emulator
) -> None:
    job = workspace.get_targets("ionq.simulator").submit(BELL, shots=10)
    answer = httpx.delete(
        f"{emulator.url}{WS}/jobs/{job.id}", headers={"x-ms-quantum-api-key": "qsession"}
    )
    assert answer.status_code == 405
    assert workspace.get_job(job.id).id == job.id


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    route=st.sampled_from(["/topLevelItems", "/jobs", "/sessions"]),
    filter=st.none() | st.text(max_size=40) | st.sampled_from(["State eq 'x'", "Name eq '"]),
    orderby=st.none() | st.text(max_size=20) | st.sampled_from(["Name", "Target up"]),
    skip=st.none() | st.integers(-3, 5) | st.text(max_size=3),
    top=st.none() | st.integers(-3, 2000) | st.text(max_size=3),
)
def test_fuzzed_listing_queries_get_an_azure_4xx_or_a_page(
    emulator: Emulator, *, route: str, filter: Any, orderby: Any, skip: Any, top: Any
) -> None:
    params = {
        key: value
        for key, value in (("filter", filter), ("orderby", orderby), ("skip", skip), ("top", top))
        if value is not None
    }
    answer = httpx.get(
        f"{emulator.url}{WS}{route}", params=params, headers={"x-ms-quantum-api-key": "qsession"}
    )
    assert answer.status_code in (200, 400), answer.text
    body = answer.json()
    assert ("value" in body) if answer.status_code == 200 else ("error" in body)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(
        st.sampled_from(["name", "priority", "tags", "id", "status"]),
        st.none() | st.text(max_size=5) | st.lists(st.text(max_size=3), max_size=3) | st.integers(),
        max_size=3,
    )
)
def test_fuzzed_job_patches_change_only_what_is_valid(
    emulator: Emulator, workspace: Any, body: dict[str, Any]
) -> None:
    job = workspace.list_jobs()[0] if workspace.list_jobs() else None
    if job is None:
        job = workspace.get_targets("ionq.simulator").submit(BELL, name="fuzzed", shots=10)
    job.wait_until_completed()  # an ended job: only a patch may change what it shows
    before = workspace.get_job(job.id).details.as_dict()
    answer = httpx.patch(
        f"{emulator.url}{WS}/jobs/{job.id}",
        json=body,
        headers={
            "x-ms-quantum-api-key": "qsession",
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert answer.status_code in (200, 400), answer.text
    after = workspace.get_job(job.id).details.as_dict()
    if answer.status_code == 400:
        assert "error" in answer.json()
        assert unsigned(after) == unsigned(before)
    else:
        assert {k: after[k] for k in answer.json() if k != "id"} == {
            k: v for k, v in answer.json().items() if k != "id"
        }


def test_a_patched_job_and_its_output_survive_a_restart(tmp_path: Path) -> None:
    def serve() -> Any:
        app = create_app(SQLiteStore(tmp_path / "state.db"), ServerClock(virtual=True), seed=5)
        return running(app)

    with serve() as url:
        workspace = azure_workspace(url)
        job = workspace.get_targets("ionq.simulator").submit(BELL, name="before", shots=10)
        job.wait_until_completed()
        workspace.update_job(job, name="after", tags=["kept"])
    with serve() as url:
        again = azure_workspace(url).get_job(job.id)
        assert (again.details.name, again.details.tags) == ("after", ["kept"])
        assert again.get_results()["histogram"] == {"0": 0.5, "3": 0.5}


def test_an_output_data_uri_outside_the_workspace_storage_is_refused(workspace: Any) -> None:
    foreign = "http://127.0.0.1:1/qs000000000000000000000000/stolen/results"
    with pytest.raises(HttpResponseError, match="outputDataUri must be a container") as caught:
        Job.from_input_data(
            workspace,
            name="misplaced",
            target="ionq.simulator",
            input_data=IonQ._encode_input_data(BELL),
            provider_id="ionq",
            input_data_format="ionq.circuit.v1",
            output_data_format="ionq.quantum-results.v1",
            input_params={"shots": 10},
            output_data_uri=foreign,
        )
    assert caught.value.status_code == 400
    assert workspace.list_jobs() == []
