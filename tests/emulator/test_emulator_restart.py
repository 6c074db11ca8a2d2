"""A restarted server has every session and job it acknowledged, in the same state.

A stopped server restarts to exactly the same session details (the core replays each stored
trace). A server killed with SIGKILL mid-workload loses nothing it acknowledged: the test runs
it as ``python -m qsession.adapters.emulator.serve`` on a fixed loopback port and one SQLite
file, kills it with ``kill -9`` while jobs are queued and running, starts it again on the same
file and port, and checks through the same client objects.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Batch, SamplerV2, Session
from qsession.adapters.emulator import (
    ServerClock,
    SQLiteStore,
    azure_workspace,
    create_app,
    ibm_service,
)
from qsession.adapters.emulator.clients import IBM_INSTANCE
from qsession.adapters.emulator.serve import running

from .conftest import AZURE_WS, BELL, free_port, unsigned

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Server:
    """The emulator as a child process on one port and one SQLite file."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *flags: str) -> str:
        """Start the emulator (on the same port and file as before) and wait until it serves."""
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "qsession.adapters.emulator.serve"),
                *("--port", str(self.port), "--db", str(self.state), "--seed", "3"),
                *flags,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(
                    f"{self.url}/emulator/v1/clock", headers={"x-ms-quantum-api-key": "k"}
                )
                if answer.status_code == 200:
                    return self.url
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {process.returncode}")
            time.sleep(0.1)
        raise RuntimeError("the emulator did not start within 60 s")

    def kill_9(self) -> None:
        """SIGKILL the running emulator, as ``kill -9`` does."""
        process = self.processes[-1]
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """An emulator process, killed at the end of the test whatever happens."""
    emulator = Server(tmp_path / "state.db")
    try:
        yield emulator
    finally:
        for process in emulator.processes:
            if process.poll() is None:
                process.kill()
            process.wait()


def bell(backend: object) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)


def test_sigkill_mid_workload_loses_no_acknowledged_session_or_job(
    server: Server,
) -> None:
    # Deterministic whatever the machine's speed: a virtual clock while jobs must finish, and
    # while they must stay in flight a clock so slow (1 session second per 1000 real ones)
    # that no job ends and no session timer lapses however long a start or a kill takes.
    url = server.start("--virtual")
    service = ibm_service(url)
    backend = service.backend("fake_manila")
    circuit = bell(backend)
    session = Session(backend=backend)
    sampler = SamplerV2(mode=session)
    done = sampler.run([circuit], shots=40)
    done.result()
    closed = Session(backend=backend)
    closed.close()
    server.kill_9()
    server.start("--speed", "0.001")
    in_flight = [sampler.run([circuit], shots=40) for _ in range(4)]
    other = service.backend("fake_belem")
    batch = Batch(backend=other)
    batch_jobs = [SamplerV2(mode=batch).run([bell(other)], shots=40) for _ in range(2)]
    batch.close()
    workspace = azure_workspace(url)
    ionq = workspace.get_targets("ionq.simulator")
    azure_session = ionq.open_session(name="survivor")
    azure_jobs = [ionq.submit(BELL, name=f"az {i}", shots=20) for i in range(3)]

    server.kill_9()
    with sqlite3.connect(server.state) as db:
        pending = db.execute("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")
        assert pending.fetchone()[0] == 9, "the kill catches every job in flight"
    server.start("--virtual")

    assert done.status() == "DONE"
    for job in [*in_flight, *batch_jobs]:
        assert job.result(timeout=60)[0].data.meas.num_shots == 40
        assert job.status() == "DONE"
    assert session.status() == "In progress, accepting new jobs"
    assert batch.status() == "Closed"
    assert closed.status() == "Closed"
    assert Session.from_id(session.session_id, service).details()["state"] == "active"
    for job in azure_jobs:
        job.wait_until_completed(max_poll_wait_secs=0.2, timeout_secs=60)
        assert job.details.status == "Succeeded"
    assert [j.details.name for j in workspace.list_session_jobs(azure_session.id)] == [
        "az 0",
        "az 1",
        "az 2",
    ]
    azure_session.close()
    assert azure_session.details.status == "Succeeded"
    session.close()
    assert session.status() == "Closed"


def test_timers_resume_from_stored_times_after_a_restart(server: Server) -> None:
    # The session is made active in virtual time, so no real delay can lapse it first; the
    # server that follows runs at 60 session seconds per real second from its start, so the
    # 1.5 s it is down for and the restart count 90 s and more, whatever the machine's speed.
    url = server.start("--virtual")
    backend = ibm_service(url).backend("fake_manila")
    session = Session(backend=backend)
    SamplerV2(mode=session).run([bell(backend)], shots=20).result()
    assert session.details()["state"] == "active"
    server.kill_9()
    server.start("--speed", "60")
    server.kill_9()
    time.sleep(1.5)  # 90 session seconds pass while the server is down
    server.start("--speed", "60")
    details = session.details()
    assert details["state"] == "inactive"
    assert [t["status"] for t in details["timestamps"]] == ["open", "active", "inactive"]


def test_a_restart_replays_every_session_to_the_same_details(tmp_path: Path) -> None:
    state, port = tmp_path / "replay.db", free_port()

    def serve() -> Any:
        store = SQLiteStore(state)
        clock = ServerClock(virtual=True, start=ServerClock.resumed(store.get_meta("clock")))
        return running(create_app(store, clock, seed=5, admin_key="admin"), port=port)

    def everything(url: str, ids: list[str], session_ids: list[str]) -> Any:
        """Every session and job as the clients see them, without the SAS query strings
        (a SAS expires a fixed real time after it is issued)."""
        headers = {"Authorization": "apikey alice", "Service-CRN": IBM_INSTANCE}
        azure = {"x-ms-quantum-api-key": "alice"}
        return unsigned(
            (
                [httpx.get(f"{url}/api/v1/sessions/{i}", headers=headers).json() for i in ids],
                httpx.get(f"{url}/api/v1/jobs", params={"limit": 100}, headers=headers).json(),
                httpx.get(f"{url}{AZURE_WS}/sessions", headers=azure).json(),
                [
                    httpx.get(f"{url}{AZURE_WS}/sessions/{i}/jobs", headers=azure).json()
                    for i in session_ids
                ],
            )
        )

    with serve() as url:
        service = ibm_service(url, token="alice")
        backend = service.backend("fake_manila")
        circuit = bell(backend)
        lapsed = Session(backend=backend)
        SamplerV2(mode=lapsed).run([circuit], shots=10).result(timeout=60)
        cancelled = Session(backend=backend, max_time=300)
        sampler = SamplerV2(mode=cancelled)
        jobs = [sampler.run([circuit], shots=10) for _ in range(3)]
        cancelled.cancel()
        with Batch(backend=backend) as batch:
            SamplerV2(mode=batch).run([circuit], shots=10).result()
        ionq = azure_workspace(url, api_key="alice").get_targets("ionq.simulator")
        failed = ionq.open_session(job_failure_policy="Continue")
        ionq.submit({"qubits": 1, "circuit": [{"gate": "nope", "target": 0}]}, shots=5)
        ionq.submit(BELL, shots=5).wait_until_completed()
        idle = ionq.open_session()
        for job in jobs:
            job.wait_for_final_state(timeout=60)
        httpx.post(
            f"{url}/emulator/v1/clock/advance",
            json={"seconds": 90},
            headers={"x-qsession-admin-key": "admin"},
        ).raise_for_status()
        ids = [lapsed.session_id, cancelled.session_id, batch.session_id]
        before = everything(url, ids, [failed.id, idle.id])
    with serve() as url:
        after = everything(url, ids, [failed.id, idle.id])
    assert after == before
    assert [s["state"] for s in after[0]] == ["inactive", "closed", "closed"]
    # opening ``idle`` closed ``failed`` (the client closes a target's previous session)
    assert {s["status"] for s in after[2]["value"]} == {"Failed", "Waiting"}
