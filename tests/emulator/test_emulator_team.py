"""Several ``qsession serve`` processes on one PostgreSQL database serve as one cloud.

Each test runs the emulator as ``python -m qsession.adapters.emulator.serve`` processes on
one database of the tests' PostgreSQL server and talks to them with the real IBM and Azure
clients: what one process acknowledged, another reads and changes; a timer fires once, and
every process tells the same details after it; every job is stored once and ends once; when
the process that runs the cloud is killed with SIGKILL mid-job, another takes over and
finishes everything that was acknowledged. A standby answers 503 while no process leads.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Batch, SamplerV2, Session
from qsession.adapters.emulator import (
    ServerClock,
    azure_workspace,
    create_app,
    ibm_service,
    open_store,
)
from qsession.adapters.emulator.serve import running
from qsession.adapters.emulator.store import StoreInUse
from qsession.adapters.emulator.team import FORWARDED, Standby

from .conftest import AZURE_WS, BELL, free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Team:
    """``qsession serve`` processes on one database, killed at the end of the test."""

    def __init__(self, db: str, logs: Path) -> None:
        self.db = db
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *flags: str) -> str:
        """Start one more process and wait until it answers (itself or through the leader)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(self.logs / f"serve-{port}.log", "wb") as log:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "qsession.adapters.emulator.serve"),
                    *("--port", str(port), "--db", self.db, "--seed", "3", "--admin-key", "admin"),
                    *flags,
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.processes.append(process)
        self.wait_until(lambda: answers(url), f"{url} to answer", process)
        return url

    def leader(self) -> str | None:
        with psycopg.connect(self.db, autocommit=True) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'leader'").fetchone()
        return None if row is None else str(row[0])

    def jobs(self) -> list[tuple[str, str]]:
        """Every stored job's id and state."""
        with psycopg.connect(self.db, autocommit=True) as db:
            rows = db.execute("SELECT id, state FROM jobs ORDER BY seq").fetchall()
        return [(str(i), str(s)) for i, s in rows]

    def kill_9(self, index: int) -> None:
        process = self.processes[index]
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL

    @staticmethod
    def wait_until(
        condition: Any, what: str, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        """Poll ``condition`` (a generous bound: this waits for processes, it times nothing)."""
        deadline = time.monotonic() + 120
        while not condition():
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"waited 120 s for {what}")
            time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        clock = httpx.get(f"{url}/emulator/v1/clock", headers={"x-ms-quantum-api-key": "k"})
    except httpx.TransportError:
        return False
    return clock.status_code == 200


@pytest.fixture
def team(postgres: Any, tmp_path: Path) -> Iterator[Team]:
    processes = Team(postgres.new_database(), tmp_path)
    try:
        yield processes
    finally:
        for process in processes.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def bell(backend: object) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(qc)


def test_a_session_opened_through_one_process_is_used_and_closed_through_another(
    team: Team,
) -> None:
    first = team.start("--virtual")
    second = team.start("--virtual")
    assert team.leader() == first
    ibm_first, ibm_second = ibm_service(first), ibm_service(second)
    backend = ibm_first.backend("fake_manila")
    circuit = bell(backend)
    session = Session(backend=backend)
    jobs = [SamplerV2(mode=session).run([circuit], shots=30)]
    same = Session.from_id(session.session_id, ibm_second)
    jobs.append(SamplerV2(mode=same).run([circuit], shots=30))
    with Batch(backend=ibm_second.backend("fake_belem")) as batch:
        jobs.append(
            SamplerV2(mode=batch).run([bell(batch.service.backend("fake_belem"))], shots=30)
        )
    lapsing = Session(backend=ibm_second.backend("fake_quito"))
    jobs.append(
        SamplerV2(mode=lapsing).run([bell(lapsing.service.backend("fake_quito"))], shots=30)
    )
    cancelled = Session(backend=ibm_second.backend("fake_lima"))
    Session.from_id(cancelled.session_id, ibm_first).cancel()
    for job in jobs:
        assert job.result(timeout=60)[0].data.meas.num_shots == 30
    assert {ibm_first.job(j.job_id()).status() for j in jobs} == {"DONE"}
    same.close()
    assert session.status() == "Closed"
    assert cancelled.status() == "Closed"
    assert Session.from_id(cancelled.session_id, ibm_second).details()["state"] == "closed"
    # Virtual time advanced through the second process: the lapsing session's interactive
    # timer fires once, at its deadline, and both processes tell the same details.
    httpx.post(
        f"{second}/emulator/v1/clock/advance",
        json={"seconds": 90},
        headers={"x-qsession-admin-key": "admin"},
    ).raise_for_status()
    details = [Session.from_id(lapsing.session_id, s).details() for s in (ibm_first, ibm_second)]
    assert details[0] == details[1]
    assert [t["status"] for t in details[0]["timestamps"]] == ["open", "active", "inactive"]

    azure_first, azure_second = azure_workspace(first), azure_workspace(second)
    ionq_first = azure_first.get_targets("ionq.simulator")
    ionq_second = azure_second.get_targets("ionq.simulator")
    shared = ionq_first.open_session(name="shared")
    in_session = ionq_first.submit(BELL, name="through the first", shots=20)
    alone = ionq_second.submit(BELL, name="through the second", shots=20)
    for job in (in_session, alone):
        job.wait_until_completed(max_poll_wait_secs=0.2, timeout_secs=60)
    assert azure_second.get_job(in_session.id).details.status == "Succeeded"
    assert azure_first.get_job(alone.id).details.status == "Succeeded"
    assert [j.details.name for j in azure_second.list_session_jobs(shared.id)] == [
        "through the first"
    ]
    azure_second.close_session(azure_second.get_session(shared.id))
    assert azure_first.get_session(shared.id).details.status == "Succeeded"

    stored = team.jobs()
    acknowledged = [j.job_id() for j in jobs] + [in_session.id, alone.id]
    assert sorted(i for i, _ in stored) == sorted(acknowledged)  # each stored once
    assert {s for _, s in stored} == {"completed"}


def test_when_the_leader_is_killed_mid_job_another_process_finishes_the_work(
    team: Team,
) -> None:
    # Deterministic whatever the machine's speed: the leader runs a clock so slow (1 session
    # second per 1000 real ones) that no job ends and no timer lapses before the kill; the
    # standby, once it leads, runs in virtual time, so the jobs it takes over finish at once.
    first = team.start("--speed", "0.001")
    second = team.start("--virtual")
    service = ibm_service(second)
    backend = service.backend("fake_manila")
    circuit = bell(backend)
    session = Session(backend=backend)
    sampler = SamplerV2(mode=session)
    jobs = [sampler.run([circuit], shots=40) for _ in range(4)]
    workspace = azure_workspace(second)
    ionq = workspace.get_targets("ionq.simulator")
    azure_session = ionq.open_session(name="survivor")
    azure_jobs = [ionq.submit(BELL, name=f"az {i}", shots=20) for i in range(2)]
    acknowledged = [j.job_id() for j in jobs] + [j.id for j in azure_jobs]

    team.kill_9(0)
    in_flight = [i for i, state in team.jobs() if state in ("queued", "running")]
    assert sorted(in_flight) == sorted(acknowledged), "the kill catches every job in flight"
    team.wait_until(lambda: team.leader() == second, "the second process to take over")
    assert team.leader() != first

    for job in jobs:
        assert job.result(timeout=120)[0].data.meas.num_shots == 40
        assert job.status() == "DONE"
    assert session.status() == "In progress, accepting new jobs"
    for job in azure_jobs:
        job.wait_until_completed(max_poll_wait_secs=0.2, timeout_secs=120)
        assert job.details.status == "Succeeded"
    assert [j.details.name for j in workspace.list_session_jobs(azure_session.id)] == [
        "az 0",
        "az 1",
    ]
    stored = team.jobs()
    assert sorted(i for i, _ in stored) == sorted(acknowledged)
    assert {s for _, s in stored} == {"completed"}


def never_free() -> Any:
    raise StoreInUse("the store is held by another process")


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/api/v1/sessions", "errors"), (f"{AZURE_WS}/sessions", "error")],
)
def test_a_standby_with_no_leader_to_reach_answers_503_in_the_providers_shape(
    path: str, shape: str
) -> None:
    with running(Standby(never_free, "http://127.0.0.1:1", lambda: None)) as url:  # type: ignore[arg-type]
        answer = httpx.get(f"{url}{path}", headers={"Authorization": "apikey k"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert shape in answer.json()


def test_a_standby_forwards_to_the_leader_but_never_forwards_a_forwarded_request() -> None:
    app = create_app(open_store(":memory:"), ServerClock(virtual=True))
    with ExitStack() as stack:
        leader = stack.enter_context(running(app))
        standby = Standby(never_free, "http://127.0.0.1:1", lambda: leader)
        url = stack.enter_context(running(standby))  # type: ignore[arg-type]
        headers = {"x-ms-quantum-api-key": "k"}
        clock = httpx.get(f"{url}/emulator/v1/clock", headers=headers)
        assert clock.status_code == 200
        assert clock.json()["virtual"] is True
        looped = httpx.get(f"{url}/emulator/v1/clock", headers={**headers, FORWARDED: "1"})
        assert looped.status_code == 503
