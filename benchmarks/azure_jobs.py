"""Benchmark of Azure job execution: what one job costs the emulator and the local Azure shape
(``azure_targets.run_program``: parse the input blob, branching statevector, sample, encode),
side by side with qiskit's ``StatevectorSampler`` running the same circuit for the same shots
(the reference primitive the local backend uses for qiskit circuits) and with the emulator's
previous path (``BasicSimulator`` through ``BackendSamplerV2``, after transpiling). Prints a
markdown table.

CPU time (``time.process_time``), the paths interleaved in each repeat, median of the repeats.
qsession's time includes parsing the input blob and encoding the output; the others get the
parsed circuit. Before timing, each workload checks that every outcome the reference sampler
draws has nonzero probability in qsession's exact distribution.

Run: ``python -W ignore benchmarks/azure_jobs.py`` (``--repeats N``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from qiskit import QuantumCircuit, qasm2
from qiskit.primitives import BackendSamplerV2, StatevectorSampler
from qiskit.providers.basic_provider import BasicSimulator
from qiskit.transpiler import generate_preset_pass_manager
from qsession.adapters.local import azure_targets
from qsession.adapters.local.azure_targets import IONQ_JSON, OPENQASM, TARGETS

GHZ5 = {
    "qubits": 5,
    "circuit": [
        {"gate": "h", "target": 0},
        *({"gate": "cnot", "control": i, "target": i + 1} for i in range(4)),
    ],
}
QASM_GHZ10 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[10];\ncreg c[10];\nh q[0];\n'
    + "".join(f"cx q[{i}],q[{i + 1}];\n" for i in range(9))
    + "measure q -> c;\n"
)
QASM_FEED_FORWARD = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[4];\ncreg c[1];\ncreg d[3];\nh q[0];\n'
    "measure q[0] -> c[0];\nif (c==1) x q[1];\nif (c==1) x q[2];\nh q[3];\n"
    "measure q[1] -> d[0];\nmeasure q[2] -> d[1];\nmeasure q[3] -> d[2];\n"
)
WORKLOADS = (
    ("IonQ JSON GHZ-5, ionq.simulator (exact)", "ionq.simulator", IONQ_JSON, GHZ5, 500),
    ("IonQ JSON GHZ-5, ionq.qpu.aria-1 (sampled)", "ionq.qpu.aria-1", IONQ_JSON, GHZ5, 500),
    ("OpenQASM GHZ-10, quantinuum", "quantinuum.sim.h2-1sc", OPENQASM, QASM_GHZ10, 1000),
    ("OpenQASM if (c==1), quantinuum", "quantinuum.sim.h2-1sc", OPENQASM, QASM_FEED_FORWARD, 1000),
)


def circuit_of(input_format: str, program: object) -> QuantumCircuit:
    if input_format == IONQ_JSON:
        return azure_targets.ionq_circuit(program)
    assert isinstance(program, str)
    return qasm2.loads(program, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)


def cpu(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sampler = StatevectorSampler(seed=0)
    basic = BasicSimulator()
    previous_sampler = BackendSamplerV2(backend=basic, options={"seed_simulator": 0})
    transpile = generate_preset_pass_manager(optimization_level=0, backend=basic).run
    print(f"Python {platform.python_version()}, {args.repeats} repeats, median CPU ms per job\n")
    print(
        "| workload | shots | qsession run_program | StatevectorSampler | previous path"
        " (BasicSimulator) |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, name, input_format, program, shots in WORKLOADS:
        blob = (json.dumps(program) if isinstance(program, dict) else program).encode()
        circuit = circuit_of(input_format, program)
        paths: dict[str, Callable[[], object]] = {
            "ours": partial(
                azure_targets.run_program, TARGETS[name], input_format, blob, {"shots": shots}, rng
            ),
            "reference": partial(
                lambda c, n: sampler.run([(c,)], shots=n).result(), circuit, shots
            ),
            "previous": partial(
                lambda c, n: previous_sampler.run([(transpile(c),)], shots=n).result(),
                circuit,
                shots,
            ),
        }
        runnable = {}
        for key, path in paths.items():
            try:
                path()
            except Exception:  # qiskit's samplers refuse some dynamic circuits
                continue
            runnable[key] = path
        assert "ours" in runnable
        support = {
            "".join(str(bit) for bit in reversed(key))
            for key in azure_targets.outcome_probabilities(circuit)
        }
        if "reference" in runnable:
            drawn = sampler.run([(circuit,)], shots=shots).result()[0].join_data().get_counts()
            assert set(drawn) <= support, (label, set(drawn) - support)
        times: dict[str, list[float]] = {key: [] for key in runnable}
        for _ in range(args.repeats):
            for key, path in runnable.items():
                times[key].append(cpu(path))
        cells = [
            f"{statistics.median(times[key]) * 1e3:.1f} ms" if key in times else "refused"
            for key in ("ours", "reference", "previous")
        ]
        print(f"| {label} | {shots} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
