"""Benchmark: jobs through the real qiskit-ibm-runtime client against ``qsession serve``.

The emulator runs as ``qsession serve --virtual`` in a child process on a loopback port (so
clients and server do not share a GIL), in virtual time (a job takes as long as the emulator
takes to schedule, persist and execute it, not the 3.5 s the QPU model says), over a SQLite file
in WAL mode. Each client thread has its own ``QiskitRuntimeService``, opens a dedicated
``Session`` on its own 5-qubit fake backend and runs Bell-state ``SamplerV2`` jobs one after
another: submit, then ``result()``. A job's round trip is that call pair as the user sees it,
including the client's own encoding, decoding and status polling (it asks at once, then every
0.1 s inside a session). The submit column times ``sampler.run()`` alone: client-side checks
and encoding plus three requests (instance usage, backend status, ``POST /jobs``).

    python benchmarks/serve.py                 # 1 and 8 threads, 40 jobs per thread
    python benchmarks/serve.py --jobs 10       # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import logging
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
from importlib.metadata import version
from pathlib import Path

import httpx
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import SamplerV2, Session
from qsession.adapters.emulator import ibm_service

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


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def client(
    url: str,
    backend_name: str,
    jobs: int,
    times: list[tuple[float, float]],
    ready: threading.Barrier,
) -> None:
    """One user: a session, ``jobs`` sampler jobs one after another (after a warm-up)."""
    service = ibm_service(url, token=f"bench-{backend_name}")
    backend = service.backend(backend_name)
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        for _ in range(WARMUP):
            sampler.run([isa], shots=100).result()
        ready.wait()
        for _ in range(jobs):
            start = time.perf_counter()
            job = sampler.run([isa], shots=100)
            submitted = time.perf_counter()
            job.result()
            times.append((time.perf_counter() - start, submitted - start))


def measure(url: str, threads: int, jobs: int) -> tuple[float, float, float, float]:
    """(jobs/s, median and 95th percentile round trip, median submit) with ``threads``
    clients."""
    times: list[tuple[float, float]] = []
    ready = threading.Barrier(threads + 1)
    workers = [
        threading.Thread(target=client, args=(url, BACKENDS[i], jobs, times, ready))
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
    return len(rtts) / elapsed, statistics.median(rtts), p95, submit


@contextlib.contextmanager
def emulator(db: Path) -> Iterator[str]:
    """``qsession serve --virtual`` in a child process; yields its URL; stops it on exit."""
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
            try:
                httpx.get(f"{url}/emulator/v1/clock", headers={"Authorization": "apikey b"})
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40, help="jobs per client thread")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("qiskit_ibm_runtime").setLevel(logging.ERROR)
    print(f"Python {platform.python_version()}, {platform.platform()}")
    print(
        f"qiskit {version('qiskit')}, qiskit-ibm-runtime {version('qiskit-ibm-runtime')},"
        f" fastapi {version('fastapi')}, uvicorn {version('uvicorn')}"
    )
    print()
    print(
        "| client threads | jobs | jobs/s | median round trip (ms) | p95 round trip (ms)"
        " | median submit (ms) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for threads in args.threads:
        with tempfile.TemporaryDirectory() as tmp, emulator(Path(tmp) / "bench.db") as url:
            rate, median, p95, submit = measure(url, threads, args.jobs)
        print(
            f"| {threads} | {threads * args.jobs} | {rate:.1f} | {median * 1000:.0f}"
            f" | {p95 * 1000:.0f} | {submit * 1000:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
