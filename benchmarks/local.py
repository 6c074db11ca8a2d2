"""Benchmarks of the local backend: VQE overhead and fleet simulation. Prints markdown tables.

1. VQE overhead: a COBYLA VQE of H2 forced to 200 cost evaluations, each through
   ``EstimatorV2(mode=session)`` on a local session (virtual clock), against the same loop
   calling qiskit's ``StatevectorEstimator`` directly. Target: at most 10% slower.
2. Fleet: N sessions x 10 null jobs each (no circuit execution) through the scheduler in
   virtual time, 100 sessions per QPU, a mix of IBM sessions, IBM batches and Azure sessions,
   5 s of think time between a session's jobs. Reports jobs/s at 1k, 10k and 100k sessions;
   it should stay near linear (the 100k fleet under 60 s).
3. The same fleet of 1,000 sessions on 4 QPUs (250 sessions each, the same load per QPU
   spread over a 2.5 times longer horizon): sessions contend for each QPU's exclusivity.

Run: ``python benchmarks/local.py`` (``--sizes 1000 10000`` to skip the largest fleet).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import math
import platform
import random
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from qiskit.primitives import StatevectorEstimator
from qsession.adapters.local import (
    DurationModel,
    EstimatorV2,
    LocalBackend,
    LocalJob,
    LocalSession,
    QiskitRuntimeService,
    Scheduler,
    Session,
    VirtualClock,
)
from qsession.adapters.local.demo import H2, ansatz
from qsession.core import policies
from qsession.core.policies import Policy
from scipy.optimize import minimize

ANSATZ = ansatz()
#: A vanishing tolerance keeps COBYLA going for all ``maxiter`` evaluations on this problem.
COBYLA_OPTIONS = {"tol": 1e-300, "rhobeg": 0.5}


def vqe(estimator: Callable[[np.ndarray], float], iterations: int) -> int:
    x0 = np.full(ANSATZ.num_parameters, 0.3)
    result = minimize(
        estimator, x0, method="COBYLA", options={"maxiter": iterations, **COBYLA_OPTIONS}
    )
    return int(result.nfev)


def direct(iterations: int) -> int:
    estimator = StatevectorEstimator()
    return vqe(lambda x: float(estimator.run([(ANSATZ, H2, x)]).result()[0].data.evs), iterations)


def local(iterations: int) -> int:
    """The same exact values as ``direct``: on an exact backend (others add shot noise)."""
    with Session(backend=QiskitRuntimeService(exact=True).backend()) as session:
        estimator = EstimatorV2(mode=session)
        return vqe(
            lambda x: float(estimator.run([(ANSATZ, H2, x)]).result()[0].data.evs), iterations
        )


def bench_vqe(iterations: int, repeat: int) -> None:
    best = {"direct": math.inf, "local": math.inf}
    evaluations = {}
    for _ in range(repeat):
        for name, run in (("direct", direct), ("local", local)):
            gc.collect()
            started = time.perf_counter()
            evaluations[name] = run(iterations)
            best[name] = min(best[name], time.perf_counter() - started)
    overhead = best["local"] / best["direct"] - 1
    print(f"### VQE overhead ({iterations}-iteration COBYLA VQE, best of {repeat})\n")
    print("| path | evaluations | seconds | ms/evaluation |")
    print("|---|---:|---:|---:|")
    for name, label in (
        ("direct", "StatevectorEstimator directly"),
        ("local", "EstimatorV2(mode=session), local"),
    ):
        per = best[name] / evaluations[name] * 1e3
        print(f"| {label} | {evaluations[name]} | {best[name]:.3f} | {per:.3f} |")
    print(f"\noverhead: {overhead:+.1%} (target <= +10%)\n")


class Workload:
    """One session of a fleet: open at ``arrival``, ``jobs`` null jobs, think, then close."""

    __slots__ = ("backend", "jobs", "policy", "scheduler", "session", "think")

    def __init__(
        self, scheduler: Scheduler, backend: LocalBackend, policy: Policy, jobs: int, think: float
    ) -> None:
        self.scheduler = scheduler
        self.backend = backend
        self.policy = policy
        self.jobs = jobs
        self.think = think
        self.session: LocalSession | None = None

    def start(self) -> None:
        self.session = self.scheduler.open_session(self.policy, self.backend)
        self.submit()

    def submit(self) -> None:
        assert self.session is not None
        self.session.submit().add_done_callback(self.done)

    def done(self, job: LocalJob) -> None:
        assert self.session is not None
        self.jobs -= 1
        if self.jobs:
            self.scheduler.call_at(self.scheduler.now() + self.think, self.submit)
        else:
            self.session.close()


def fleet(
    sessions: int,
    jobs: int = 10,
    per_backend: int = 100,
    think: float = 5.0,
    qpus: int | None = None,
) -> float:
    """Run the fleet (on ``qpus`` QPUs, default one per ``per_backend`` sessions); return the
    wall seconds it took (setup included)."""
    if qpus is not None:
        per_backend = math.ceil(sessions / qpus)
    started = time.perf_counter()
    scheduler = Scheduler(VirtualClock())
    rng = random.Random(1)
    duration = DurationModel(overhead=1.0, per_shot=0.0)
    horizon = per_backend * jobs * (duration.overhead + think)
    backends = [
        scheduler.add_backend(f"qpu{i}", duration=duration)
        for i in range(math.ceil(sessions / per_backend))
    ]
    kinds = {
        b.name: (
            policies.ibm_session(backend=b.name),
            policies.ibm_batch(max_time="1h", backend=b.name),
            policies.azure_session(b.name, "continue"),
        )
        for b in backends
    }
    arrivals = sorted(rng.uniform(0, horizon) for _ in range(sessions))
    cycle = itertools.cycle(backends)

    def arrive(i: int) -> None:
        """Session ``i`` arrives and starts its workload; the next arrival is scheduled."""
        backend = next(cycle)
        Workload(scheduler, backend, kinds[backend.name][i % 3], jobs, think).start()
        if i + 1 < sessions:
            scheduler.call_at(arrivals[i + 1], partial(arrive, i + 1))

    scheduler.call_at(arrivals[0], partial(arrive, 0))
    scheduler.run()
    elapsed = time.perf_counter() - started
    done = sum(len(s.jobs) for s in scheduler.sessions)
    finished = all(job.done for s in scheduler.sessions for job in s.jobs)
    assert done == sessions * jobs and finished, (done, finished)
    return elapsed


def bench_fleet(sizes: list[int], four: int) -> None:
    """Each size twice: with Python's cyclic GC as a user has it, and with it paused for the
    run, which isolates the scheduler's own scaling from the GC's scans of the live fleet."""
    print("### Fleet simulation (10 null jobs per session, virtual time)\n")
    print("| sessions | QPUs | jobs | seconds | jobs/s | us/job | us/job, GC paused |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    rows = [(size, None) for size in sizes] + ([(four, 4)] if four else [])
    for size, qpus in rows:
        gc.collect()
        seconds = fleet(size, qpus=qpus)
        gc.collect()
        gc.disable()
        try:
            paused = fleet(size, qpus=qpus)
        finally:
            gc.enable()
        jobs = size * 10
        count = qpus or math.ceil(size / 100)
        print(
            f"| {size:,} | {count:,} | {jobs:,} | {seconds:.2f} | {jobs / seconds:,.0f}"
            f" | {1e6 * seconds / jobs:.1f} | {1e6 * paused / jobs:.1f} |"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--four-qpus", type=int, default=1_000, help="sessions of the 4-QPU fleet (0: skip)"
    )
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.machine()}\n")
    bench_vqe(args.iterations, args.repeat)
    bench_fleet(args.sizes, args.four_qpus)


if __name__ == "__main__":
    main()
