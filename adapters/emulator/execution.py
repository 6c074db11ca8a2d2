"""What the emulator's QPUs run: job inputs decoded, executed with qiskit, outputs encoded.

IBM jobs are Qiskit Runtime primitive calls (``program_id`` ``sampler`` or ``estimator``): the
request's ``params`` are decoded with qiskit-ibm-runtime's ``RuntimeDecoder``, the pubs run on
``BackendSamplerV2`` / ``BackendEstimatorV2`` over the named fake backend (through the local
backend's ``QiskitExecution``), and the ``PrimitiveResult`` is encoded with ``RuntimeEncoder``,
exactly what the client decodes.

Azure jobs run through ``qsession.adapters.local.azure_targets`` (the targets as data and
their input and output formats), shared with the local Azure shape; ``run_azure`` draws the
shots from one seeded generator.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
from qiskit.circuit import Qubit
from qiskit.converters import circuit_to_dag, dag_to_circuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.providers import BackendV2
from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder, fake_provider
from qiskit_ibm_runtime.fake_provider import fake_backend
from qsession.adapters.local import azure_targets
from qsession.adapters.local.azure_targets import ExecutionError, shots_of
from qsession.adapters.local.model import QiskitExecution

__all__ = ["ExecutionError", "Executors", "run_azure", "shots_of"]

#: Sampler shots when neither the pub nor the options say (Qiskit Runtime's default).
IBM_DEFAULT_SHOTS = 4096
#: Qiskit Runtime's default estimator precision (4096 shots per parameter set).
IBM_DEFAULT_PRECISION = 0.015625


@cache
def fake_backend_classes() -> Mapping[str, type[fake_backend.FakeBackendV2]]:
    """qiskit-ibm-runtime's fake backends by name (``fake_manila`` -> ``FakeManilaV2``)."""
    found: dict[str, type[fake_backend.FakeBackendV2]] = {}
    for attr in sorted(dir(fake_provider), key=lambda a: a.endswith("V2")):
        cls = getattr(fake_provider, attr)
        name = getattr(cls, "backend_name", None)
        if (
            isinstance(cls, type)
            and issubclass(cls, fake_backend.FakeBackendV2)
            and isinstance(name, str)
            and getattr(cls, "conf_filename", None)
        ):
            found[name] = cls
    return dict(sorted(found.items()))


class Executors:
    """One ``QiskitExecution`` per backend, built on first use and shared by its jobs."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._ibm: dict[str, QiskitExecution] = {}
        self._ibm_backends: dict[str, BackendV2] = {}
        self._rng = np.random.default_rng(seed)

    def ibm_backend(self, name: str) -> BackendV2:
        """The fake backend called ``name`` (raises ``KeyError`` for an unknown name)."""
        with self._lock:
            backend = self._ibm_backends.get(name)
            if backend is None:
                backend = fake_backend_classes()[name]()
                self._ibm_backends[name] = backend
            return backend

    def ibm(self, name: str) -> QiskitExecution:
        backend = self.ibm_backend(name)
        with self._lock:
            execution = self._ibm.get(name)
            if execution is None:
                execution = QiskitExecution(backend, seed=self._seed)
                self._ibm[name] = execution
            return execution

    def azure_rng(self) -> np.random.Generator:
        """The generator Azure jobs draw their shots from (seeded once per emulator; only the
        worker thread executes jobs)."""
        return self._rng


def decode_ibm_params(body: bytes | str) -> dict[str, Any]:
    """The job's ``params`` as qiskit-ibm-runtime encoded them (``RuntimeDecoder``)."""
    params = json.loads(body, cls=RuntimeDecoder)
    if not isinstance(params, dict):
        raise ExecutionError("params must be a JSON object")
    return params


def ibm_pubs(program: str, params: Mapping[str, Any]) -> list[SamplerPub] | list[EstimatorPub]:
    """The job's pubs, coerced with its options' defaults; ``ExecutionError`` if invalid."""
    if program not in ("sampler", "estimator"):
        raise ExecutionError(f"program {program!r} is not a Qiskit Runtime primitive")
    options = params.get("options") or {}
    pubs = params.get("pubs")
    if not isinstance(options, dict) or not isinstance(pubs, list) or not pubs:
        raise ExecutionError("params.pubs must be a non-empty list of pubs")
    try:
        if program == "sampler":
            shots = options.get("default_shots") or IBM_DEFAULT_SHOTS
            return [SamplerPub.coerce(_tuple(pub), shots) for pub in pubs]
        precision = options.get("default_precision")
        return [EstimatorPub.coerce(_tuple(pub), precision) for pub in pubs]
    except Exception as exc:
        raise ExecutionError(f"invalid pubs: {exc}") from exc


def _tuple(pub: Any) -> Any:
    return tuple(pub) if isinstance(pub, list) else pub


def pubs_shots(pubs: list[SamplerPub] | list[EstimatorPub]) -> int:
    """Shots the pubs ask for, for the QPU time model (sampler: shots x parameter sets;
    estimator: 1/precision**2 x parameter sets, Qiskit Runtime's default precision)."""
    total = 0
    for pub in pubs:
        if isinstance(pub, SamplerPub):
            total += (pub.shots or IBM_DEFAULT_SHOTS) * math.prod(pub.shape)
        else:
            total += math.ceil((pub.precision or IBM_DEFAULT_PRECISION) ** -2) * math.prod(
                pub.shape
            )
    return total


def _without_idle_qubits(pub: SamplerPub | EstimatorPub) -> SamplerPub | EstimatorPub:
    """The pub on its circuit's active qubits only (an ISA circuit spans the whole device;
    idle qubits stay in |0>, so an observable's X/Y on them gives 0 and Z gives 1)."""
    circuit = pub.circuit
    dag = circuit_to_dag(circuit)
    idle = [wire for wire in dag.idle_wires() if isinstance(wire, Qubit)]
    if not idle:
        return pub
    gone = {circuit.find_bit(qubit).index for qubit in idle}
    dag.remove_qubits(*idle)
    small = dag_to_circuit(dag)
    if isinstance(pub, SamplerPub):
        return SamplerPub(small, pub.parameter_values, pub.shots)
    width = circuit.num_qubits
    kept = [i for i in range(width) if i not in gone]

    def project(terms: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for pauli, coeff in terms.items():
            if any(pauli[width - 1 - i] in "XY" for i in gone):
                continue
            key = "".join(pauli[width - 1 - i] for i in reversed(kept))
            out[key] = out.get(key, 0.0) + coeff
        return out or {"I" * len(kept): 0.0}

    def walk(node: Any) -> Any:
        return project(node) if isinstance(node, dict) else [walk(item) for item in node]

    observables = ObservablesArray(walk(pub.observables.tolist()), num_qubits=len(kept))
    return EstimatorPub(small, observables, pub.parameter_values, pub.precision)


def run_ibm(
    executors: Executors, backend: str, program: str, pubs: list[SamplerPub] | list[EstimatorPub]
) -> bytes:
    """Run a sampler or estimator job's pubs; return the result as the client decodes it."""
    execution = executors.ibm(backend)
    primitive = execution.sampler if program == "sampler" else execution.estimator
    compact = [_without_idle_qubits(pub) for pub in pubs]
    result = primitive.run(compact).result()
    return json.dumps(result, cls=RuntimeEncoder).encode()


def run_azure(
    executors: Executors, target: str, input_format: str, data: bytes, attributes: Mapping[str, Any]
) -> bytes:
    """Run an Azure job's input blob on ``target``; return the output blob's bytes."""
    return azure_targets.run_program(
        azure_targets.target(target),
        input_format,
        data,
        attributes.get("inputParams") or {},
        executors.azure_rng(),
        output_format=attributes.get("outputDataFormat"),
    )
