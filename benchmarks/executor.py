"""Benchmark: the executor-based primitives against the V2 primitives they replace.

Each path runs Bell-state sampler jobs (100 shots) or two-term estimator jobs on fake_manila:
through the real qiskit-ibm-runtime client against ``qsession serve`` served in this process in
virtual time (so the CPU time counts the client's pre- and post-processing, the requests and the
emulator's work: the whole cost of a job on one machine), and through the local IBM shape. The
paths are interleaved, each repeat times ``--jobs`` jobs per path with ``time.process_time``, and
the table shows the median over repeats of CPU milliseconds per job, next to its baseline (the
V2 primitive of the same kind on the same side). Run: ``python benchmarks/executor.py``.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import EstimatorV2, SamplerV2
from qiskit_ibm_runtime.executor_estimator import Estimator
from qiskit_ibm_runtime.executor_sampler import Sampler
from qsession.adapters import local
from qsession.adapters.emulator import ServerClock, SQLiteStore, create_app, ibm_service
from qsession.adapters.emulator.serve import running
from qsession.adapters.local import executor_estimator, executor_sampler


def workloads(backend: Any, device: Any) -> tuple[list[Any], list[Any]]:
    """A Bell sampler pub and a two-term estimator pub, ISA for ``device``."""
    pm = generate_preset_pass_manager(backend=device, optimization_level=1)
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    ansatz = pm.run(real_amplitudes(2, reps=1))
    observable = SparsePauliOp.from_list([("ZZ", 1.0), ("XI", 0.5)]).apply_layout(ansatz.layout)
    return [pm.run(qc)], [(ansatz, observable, np.zeros(ansatz.num_parameters))]


def paths(url: str) -> dict[str, tuple[str, Callable[[], Any]]]:
    """Path name -> (its baseline's name, one job's submit-and-result)."""
    served = ibm_service(url).backend("fake_manila")
    sample, estimate = workloads(served, served)
    mine = local.QiskitRuntimeService().backend("fake_manila")
    local_sample, local_estimate = workloads(mine, mine.execution.backend)
    return {
        "serve: SamplerV2": ("serve: SamplerV2", lambda: SamplerV2(served).run(sample).result()),
        "serve: executor Sampler": (
            "serve: SamplerV2",
            lambda: Sampler(served).run(sample, shots=100).result(),
        ),
        "serve: EstimatorV2": (
            "serve: EstimatorV2",
            lambda: EstimatorV2(served).run(estimate).result(),
        ),
        "serve: executor Estimator": (
            "serve: EstimatorV2",
            lambda: Estimator(served).run(estimate).result(),
        ),
        "local: SamplerV2": (
            "local: SamplerV2",
            lambda: local.SamplerV2(mine).run(local_sample, shots=100).result(),
        ),
        "local: executor Sampler": (
            "local: SamplerV2",
            lambda: executor_sampler.Sampler(mine).run(local_sample, shots=100).result(),
        ),
        "local: EstimatorV2": (
            "local: EstimatorV2",
            lambda: local.EstimatorV2(mine).run(local_estimate).result(),
        ),
        "local: executor Estimator": (
            "local: EstimatorV2",
            lambda: executor_estimator.Estimator(mine).run(local_estimate).result(),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10, help="jobs per path per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("qiskit_ibm_runtime").setLevel(logging.ERROR)
    print(f"Python {platform.python_version()}, {platform.platform()}")
    print(f"qiskit {version('qiskit')}, qiskit-ibm-runtime {version('qiskit-ibm-runtime')}\n")
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(SQLiteStore(Path(tmp) / "bench.db"), ServerClock(virtual=True), seed=1)
        with running(app) as url:
            table = paths(url)
            for _, run in table.values():
                run()  # warm up: backends, pass managers, decoders
            cpu: dict[str, list[float]] = {name: [] for name in table}
            for _ in range(args.repeats):
                for name, (_, run) in table.items():
                    start = time.process_time()
                    for _ in range(args.jobs):
                        run()
                    cpu[name].append((time.process_time() - start) / args.jobs * 1e3)
    print(f"| path | CPU ms/job (median of {args.repeats}) | x baseline |")
    print("|---|---:|---:|")
    for name, (baseline, _) in table.items():
        ms = statistics.median(cpu[name])
        ratio = ms / statistics.median(cpu[baseline])
        print(f"| {name} | {ms:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
