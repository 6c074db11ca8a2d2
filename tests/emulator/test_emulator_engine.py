"""Regressions of the emulator's scheduling: reads never strand a queue, one tenant never
stalls another, shots and inputs are bounded, and a job's input leaves memory once it has run.

Each test reproduces a failure of the emulator's former, separate scheduler (recorded in the
commit that added it) and now runs on the local backend's ``Scheduler``.
"""

from __future__ import annotations

import gc
import json
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from azure.core.exceptions import HttpResponseError
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import RuntimeEncoder, SamplerV2
from qiskit_ibm_runtime.exceptions import IBMRuntimeError
from qsession.adapters.emulator import (
    ServerClock,
    SQLiteStore,
    azure,
    azure_workspace,
    execution,
    ibm,
    ibm_service,
)
from qsession.adapters.emulator.cloud import AZURE, IBM, Cloud

from .conftest import BELL, Emulator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def bell(backend: Any) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)


def bell_params(backend_name: str = "fake_manila", shots: int = 20) -> bytes:
    """A Bell-state sampler job's ``params`` as qiskit-ibm-runtime encodes them."""
    backend = execution.fake_backend_classes()[backend_name]()
    return json.dumps(
        {"pubs": [[bell(backend), None, shots]], "version": 2}, cls=RuntimeEncoder
    ).encode()


def ibm_job(cloud: Cloud, tenant: str, session_id: str | None = None) -> Any:
    raw = bell_params()
    pubs = execution.ibm_pubs("sampler", execution.decode_ibm_params(raw))
    return cloud.submit(
        tenant,
        IBM,
        "fake_manila",
        "sampler",
        params=raw,
        attributes={"tags": []},
        session_id=session_id,
        shots=execution.pubs_shots(pubs),
        work=pubs,
    )


def until(condition: Any, what: str) -> None:
    """Wait for ``condition()`` however long the machine takes (60 s at most)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within 60 s"
        time.sleep(0.01)


def test_a_read_that_lapses_a_session_starts_the_job_queued_behind_it(tmp_path: Path) -> None:
    clock = ServerClock(virtual=True)
    cloud = Cloud(SQLiteStore(tmp_path / "state.db"), clock)
    policy = {"kind": "ibm_session", "plan": "premium", "max_time": None, "backend": "fake_manila"}
    session = cloud.open_session("alice", IBM, "fake_manila", policy, {"instance": None})
    cloud.start()
    first = ibm_job(cloud, "alice", session.id)
    until(lambda: cloud.job("alice", first.id).state == "completed", "the first job")
    cloud.stop()  # nothing runs the loop from here on: only requests move the cloud
    assert cloud.session("alice", session.id).core.state == "active"  # it holds the QPU
    queued = ibm_job(cloud, "bob")
    assert cloud.job("bob", queued.id).state == "queued"
    clock.jump(clock.now() + 61)  # the interactive TTL lapses; only a read observes it
    assert cloud.session("alice", session.id).core.state == "inactive"
    assert cloud.job("bob", queued.id).state == "running"
    assert cloud.queue_length("fake_manila") == 0
    assert cloud.scheduler.idle_violations() == []


def test_shots_above_the_backends_max_shots_are_refused_at_submission(
    emulator: Emulator,
) -> None:
    service = ibm_service(emulator.url)
    backend = service.backend("fake_belem")
    limit = backend.configuration().max_shots
    sampler = SamplerV2(mode=backend)
    with pytest.raises(IBMRuntimeError, match=f"exceeds the maximum of {limit} for fake_belem"):
        sampler.run([bell(backend)], shots=5_000_000)
    assert emulator.cloud.jobs("qsession", IBM) == []


def test_azure_shots_above_the_targets_maximum_are_an_invalid_job_definition(
    emulator: Emulator,
) -> None:
    ionq = azure_workspace(emulator.url).get_targets("ionq.simulator")
    with pytest.raises(HttpResponseError, match="InvalidJobDefinition"):
        ionq.submit(BELL, shots=5_000_000)


def test_an_ibm_job_input_over_the_size_limit_is_refused_before_it_is_stored(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ibm, "MAX_JOB_BYTES", 1_000_000)  # 64 MB in the service; 1 MB here
    service = ibm_service(emulator.url)
    backend = service.backend("fake_manila")
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    qc.measure_all()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)
    values = np.random.default_rng(1).random((200_000, 1))
    with pytest.raises(IBMRuntimeError, match="exceeds the 64 MB limit"):
        SamplerV2(mode=backend).run([(isa, values)], shots=10)
    assert emulator.cloud.jobs("qsession", IBM) == []


def test_an_azure_input_blob_over_the_size_limit_is_refused(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(azure, "MAX_BLOB_BYTES", 1_000_000)  # 64 MiB in the service
    ionq = azure_workspace(emulator.url).get_targets("ionq.simulator")
    with pytest.raises(HttpResponseError, match="RequestBodyTooLarge"):
        ionq.submit({**BELL, "padding": "x" * 2_000_000}, shots=10)
    assert emulator.cloud.jobs("qsession", AZURE) == []


def test_a_long_job_on_one_backend_never_delays_a_job_on_another(
    start_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    run_ibm = execution.run_ibm

    def held_on_belem(executors: Any, backend: str, program: str, pubs: Any) -> bytes:
        if backend == "fake_belem":
            gate.wait()
        return run_ibm(executors, backend, program, pubs)

    monkeypatch.setattr(execution, "run_ibm", held_on_belem)
    emulator = start_emulator(virtual=False, speed=1000.0)
    service = ibm_service(emulator.url)
    belem, manila = service.backend("fake_belem"), service.backend("fake_manila")
    try:
        long = SamplerV2(mode=belem).run([bell(belem)], shots=8000)
        short = SamplerV2(mode=manila).run([bell(manila)], shots=20)
        assert short.result(timeout=60)[0].data.meas.num_shots == 20
        assert long.status() in ("QUEUED", "RUNNING")
    finally:
        gate.set()
    assert long.result(timeout=60)[0].data.meas.num_shots == 8000


def test_a_jobs_input_leaves_memory_once_it_has_run_and_stays_in_the_store(
    emulator: Emulator,
) -> None:
    ionq = azure_workspace(emulator.url).get_targets("ionq.simulator")
    padded = {**BELL, "padding": "x" * 1_000_000}
    ionq.submit(BELL, shots=10).wait_until_completed()  # warm up the client and the simulator
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        jobs = [ionq.submit(padded, shots=10) for _ in range(8)]
        for job in jobs:
            job.wait_until_completed(max_poll_wait_secs=0.2, timeout_secs=60)
            assert job.details.status == "Succeeded"
        del padded, jobs
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 4_000_000, f"{kept / 1e6:.1f} MB of 8 MB of inputs still in memory"
    stored = emulator.cloud.store.load_jobs()
    assert sum(len(row.params or b"") for row, _ in stored) > 8_000_000


def run_padded_jobs(store: SQLiteStore, count: int) -> None:
    """Run ``count`` Azure jobs with 1 MB inputs to completion, then stop that cloud."""
    cloud = Cloud(store, ServerClock(virtual=True))
    padded = json.dumps({**BELL, "padding": "x" * 1_000_000}).encode()
    attributes = {"inputParams": {"shots": 10}, "output_blob": ["acct", "jobs", "out"]}
    cloud.start()
    ids = [
        cloud.submit(
            "alice",
            AZURE,
            "ionq.simulator",
            "ionq.circuit.v1",
            params=padded,
            attributes=attributes,
            shots=10,
        ).id
        for _ in range(count)
    ]
    until(lambda: all(cloud.job("alice", i).state == "completed" for i in ids), "the jobs")
    cloud.stop()


def test_a_restarted_cloud_holds_no_job_input_in_memory(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    run_padded_jobs(store, 8)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        restored = Cloud(store, ServerClock(virtual=True))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(restored.jobs("alice", AZURE)) == 8
    assert kept < 4_000_000, f"{kept / 1e6:.1f} MB of 8 MB of inputs reloaded into memory"
