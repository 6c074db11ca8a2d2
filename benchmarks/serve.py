"""Benchmark: jobs through the real qiskit-ibm-runtime client against ``qsession serve``, side
by side with the client's own local testing mode.

The emulator runs as ``qsession serve --virtual`` in a child process on a loopback port (so
clients and server do not share a GIL), in virtual time (a job takes as long as the emulator
takes to schedule, persist and execute it, not the 3.5 s the QPU model says), over a SQLite file
in WAL mode. Each client thread has its own ``QiskitRuntimeService``, opens a dedicated
``Session`` on its own 5-qubit fake backend and runs Bell-state ``SamplerV2`` jobs one after
another: submit, then ``result()``. A job's round trip is that call pair as the user sees it,
including the client's own encoding, decoding and status polling (it asks at once, then every
0.1 s inside a session). The submit column times ``sampler.run()`` alone: client-side checks
and encoding plus three requests (instance usage, backend status, ``POST /jobs``).

The baseline is the same client code in qiskit-ibm-runtime's local testing mode: a fake
backend as ``mode=`` (no session: local mode ignores them), the same Bell-state jobs, the
same threads, in the same run; the ratio column is the emulator's jobs/s over the baseline's.
Rows: 1 client thread; 8 threads on 8 backends; 8 threads on 4 backends (two dedicated
sessions per QPU: one holds it while active, as on the service).

A second table times the emulator's work pool alone: the same Bell-state jobs executed as the
emulator executes them (``execution.run_ibm``), serially, on a thread pool and on a process
pool, which is how the pool kind was chosen.

A third table runs the same client on each store, in the same run: an SQLite file in WAL
mode; a PostgreSQL database on a throwaway local server (``qsession.adapters.emulator.pgserver``,
``fsync=off``) with one process; and the same with two processes on one database, the client
threads alternating between them starting with the standby (so the 1-thread row goes entirely
through the standby, which forwards to the leader).

    python benchmarks/serve.py                          # 40 jobs per thread
    python benchmarks/serve.py --jobs 10 --repeat 1     # quicker
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import itertools
import json
import logging
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import attrs
import httpx
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import RuntimeEncoder, SamplerV2, Session
from qsession.adapters.emulator import execution, ibm_service, pgserver

#: Eight 5-qubit fake backends: one per client thread.
BACKENDS = (
    "fake_manila",
    "fake_lima",
    "fake_belem",
    "fake_quito",
    "fake_athens",
    "fake_bogota",
    "fake_santiago",
    "fake_valencia",
)
WARMUP = 3
#: (client threads, distinct backends) per row.
ROWS = ((1, 1), (8, 8), (8, 4))


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def client(
    url: str | None,
    backend_name: str,
    jobs: int,
    times: list[tuple[float, float]],
    ready: threading.Barrier,
) -> None:
    """One user: ``jobs`` sampler jobs one after another (after a warm-up), in a session on
    the emulator at ``url``, or in local testing mode on the fake backend when ``url`` is
    None."""
    if url is None:
        backend: Any = execution.fake_backend_classes()[backend_name]()
        mode: contextlib.AbstractContextManager[Any] = contextlib.nullcontext(backend)
    else:
        backend = ibm_service(url, token=f"bench-{backend_name}").backend(backend_name)
        mode = Session(backend=backend)
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
    with mode as target:
        sampler = SamplerV2(mode=target)
        for _ in range(WARMUP):
            sampler.run([isa], shots=100).result()
        ready.wait()
        for _ in range(jobs):
            start = time.perf_counter()
            job = sampler.run([isa], shots=100)
            submitted = time.perf_counter()
            job.result()
            times.append((time.perf_counter() - start, submitted - start))


@attrs.frozen
class Row:
    rate: float
    median: float
    p95: float
    submit: float


def measure(
    url: str | None, threads: int, backends: int, jobs: int, standby: str | None = None
) -> Row:
    """Throughput and round trips with ``threads`` clients on ``backends`` backends (with a
    ``standby``, the even-numbered threads use it)."""
    times: list[tuple[float, float]] = []
    ready = threading.Barrier(threads + 1)
    workers = [
        threading.Thread(
            target=client,
            args=(
                standby if standby is not None and i % 2 == 0 else url,
                BACKENDS[i % backends],
                jobs,
                times,
                ready,
            ),
        )
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    ready.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if len(times) != threads * jobs:
        raise RuntimeError(f"{threads * jobs - len(times)} jobs did not finish")
    rtts = [rtt for rtt, _ in times]
    p95 = statistics.quantiles(rtts, n=20)[-1]
    submit = statistics.median(sub for _, sub in times)
    return Row(len(rtts) / elapsed, statistics.median(rtts), p95, submit)


@contextlib.contextmanager
def emulator(db: Path | str) -> Iterator[tuple[str, int]]:
    """``qsession serve --virtual`` in a child process; yields its URL and process id once it
    answers (itself, or through the leader of its database); stops it on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "qsession.adapters.emulator.serve", "--virtual"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--db", str(db), "--seed", "1"],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                clock = httpx.get(f"{url}/emulator/v1/clock", headers={"Authorization": "apikey b"})
                if clock.status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.1)
        yield url, server.pid
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


#: (row label, store kind, processes) of the store table.
STORES = (
    ("SQLite", "sqlite", 1),
    ("PostgreSQL, 1 process", "postgresql", 1),
    ("PostgreSQL, 2 processes", "postgresql", 2),
)


def bench_stores(jobs: int, repeat: int) -> None:
    """The emulator on each store, 1 and 8 client threads on 8 backends (interleaved,
    median of ``repeat`` runs)."""
    rows = [(store, threads) for store in STORES for threads in (1, 8)]
    runs: dict[tuple[Any, int], list[Row]] = {row: [] for row in rows}
    names = itertools.count()
    with pgserver.throwaway() as admin, tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            for store, threads in rows:
                _, kind, processes = store
                n = next(names)
                db = (
                    Path(tmp) / f"bench-{n}.db"
                    if kind == "sqlite"
                    else pgserver.new_database(admin, f"bench_{n}")
                )
                with contextlib.ExitStack() as stack:
                    url, _pid = stack.enter_context(emulator(db))
                    standby = None if processes == 1 else stack.enter_context(emulator(db))[0]
                    runs[store, threads].append(measure(url, threads, threads, jobs, standby))
    print(f"\n### Stores (median of {repeat} interleaved runs)\n")
    print(
        "| store | client threads | jobs | jobs/s | median round trip (ms)"
        " | p95 round trip (ms) | median submit (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for store, threads in rows:
        r = median_row(runs[store, threads])
        print(
            f"| {store[0]} | {threads} | {threads * jobs} | {r.rate:.1f}"
            f" | {r.median * 1000:.0f} | {r.p95 * 1000:.0f} | {r.submit * 1000:.0f} |",
            flush=True,
        )


def bell_pubs(backend_name: str) -> Any:
    """A Bell-state sampler job's pubs for ``backend_name``, decoded as the emulator does."""
    backend = execution.fake_backend_classes()[backend_name]()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
    raw = json.dumps({"pubs": [[isa, None, 100]]}, cls=RuntimeEncoder)
    return execution.ibm_pubs("sampler", execution.decode_ibm_params(raw))


@cache
def executors() -> execution.Executors:
    """The executors of this process (each pool process builds its own)."""
    return execution.Executors(seed=1)


def run_bell(backend_name: str, pubs: Any) -> bytes:
    """One job's work as the emulator's pool runs it."""
    return execution.run_ibm(executors(), backend_name, "sampler", pubs)


def bench_pool(jobs: int, workers: int, repeat: int) -> None:
    """Bell-state jobs on 4 backends, executed serially, on threads and on processes
    (interleaved, median of ``repeat`` runs)."""
    names = BACKENDS[:4]
    work = [(names[i % 4], bell_pubs(names[i % 4])) for i in range(jobs)]
    pools: dict[str, Any] = {
        "serial (one worker thread)": None,
        f"{workers} threads": concurrent.futures.ThreadPoolExecutor(workers),
        f"{workers} processes": concurrent.futures.ProcessPoolExecutor(workers),
    }
    for pool in pools.values():  # warm every worker's executors up
        if pool is None:
            for name, pubs in work[:4]:
                run_bell(name, pubs)
        else:
            list(pool.map(run_bell, *zip(*work[: 4 * workers], strict=True)))
    rates: dict[str, list[float]] = {label: [] for label in pools}
    for _ in range(repeat):
        for label, pool in pools.items():
            start = time.perf_counter()
            if pool is None:
                for name, pubs in work:
                    run_bell(name, pubs)
            else:
                list(pool.map(run_bell, *zip(*work, strict=True)))
            rates[label].append(jobs / (time.perf_counter() - start))
    for pool in pools.values():
        if pool is not None:
            pool.shutdown()
    print(f"\n### Work pool: {jobs} Bell-state jobs on 4 backends (median of {repeat})\n")
    print("| pool | jobs/s |")
    print("|---|---:|")
    for label, values in rates.items():
        print(f"| {label} | {statistics.median(values):.1f} |")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40, help="jobs per client thread")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (median)")
    parser.add_argument("--pool-jobs", type=int, default=200, help="jobs for the pool table")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("qiskit_ibm_runtime").setLevel(logging.ERROR)
    print(f"Python {platform.python_version()}, {platform.platform()}, {os.cpu_count()} cores")
    print(
        f"qiskit {version('qiskit')}, qiskit-ibm-runtime {version('qiskit-ibm-runtime')},"
        f" fastapi {version('fastapi')}, uvicorn {version('uvicorn')},"
        f" psycopg {version('psycopg')}"
    )
    print(f"\n### Emulator against local testing mode (median of {args.repeat} interleaved runs)\n")
    print(
        "| client threads | backends | jobs | jobs/s | local mode jobs/s | ratio"
        " | median round trip (ms) | local mode (ms) | p95 round trip (ms) | local mode p95 (ms)"
        " | median submit (ms) | server CPU ms/job |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for threads, backends in ROWS:
        served: list[Row] = []
        local: list[Row] = []
        cpu: list[float] = []
        for _ in range(args.repeat):
            with (
                tempfile.TemporaryDirectory() as tmp,
                emulator(Path(tmp) / "bench.db") as (
                    url,
                    pid,
                ),
            ):
                before = cpu_seconds(pid)
                served.append(measure(url, threads, backends, args.jobs))
                cpu.append((cpu_seconds(pid) - before) / (threads * args.jobs))
            local.append(measure(None, threads, backends, args.jobs))
        s, b = median_row(served), median_row(local)
        print(
            f"| {threads} | {backends} | {threads * args.jobs} | {s.rate:.1f} | {b.rate:.1f}"
            f" | {s.rate / b.rate:.2f} | {s.median * 1000:.0f} | {b.median * 1000:.0f}"
            f" | {s.p95 * 1000:.0f} | {b.p95 * 1000:.0f} | {s.submit * 1000:.0f}"
            f" | {statistics.median(cpu) * 1000:.1f} |",
            flush=True,
        )
    bench_pool(args.pool_jobs, 4, args.repeat)
    bench_stores(args.jobs, args.repeat)


def median_row(rows: list[Row]) -> Row:
    """Each figure's median over the runs."""
    return Row(
        statistics.median(r.rate for r in rows),
        statistics.median(r.median for r in rows),
        statistics.median(r.p95 for r in rows),
        statistics.median(r.submit for r in rows),
    )


if __name__ == "__main__":
    sys.exit(main())
