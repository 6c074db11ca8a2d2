"""What the emulator's QPUs run: job inputs decoded, executed with qiskit, outputs encoded.

IBM jobs are Qiskit Runtime primitive calls (``program_id`` ``sampler`` or ``estimator``): the
request's ``params`` are decoded with qiskit-ibm-runtime's ``RuntimeDecoder``, the pubs run on
``BackendSamplerV2`` / ``BackendEstimatorV2`` over the named fake backend (through the local
backend's ``QiskitExecution``), and the ``PrimitiveResult`` is encoded with ``RuntimeEncoder``,
exactly what the client decodes.

``executor`` jobs (what qiskit-ibm-runtime 0.50+'s ``executor_sampler.Sampler`` and
``executor_estimator.Estimator`` submit) carry a quantum program in the executor schema v2.0
(``ibm_quantum_schemas.executor.version_2_0.ParamsModel``), decoded with the client's own
converter. Each item's circuit runs on ``BackendSamplerV2`` for the program's shots at every
element of the item's shape (a samplex item's randomizations are drawn with samplomatic first),
and the result is the schema's ``QuantumProgramResultModel``: per item, the bits of each
classical register as a ``bool`` array of shape ``item.shape + (shots, creg_size)`` (the
samplex's outputs beside them), the program's passthrough data and semantic role returned as
sent. The client does the pre- and post-processing, as against the service.

On a mock backend (``mock_*``, what ``dry_run=True`` selects) the circuits are validated and
timed as on the real one, but every measured bit (and every expectation value) is replaced by
seeded random data of the same shape and dtype: the service's dry run returns "randomized mock
data" (qiskit-ibm-runtime 0.51 ``Executor.run``).

Azure jobs run through ``qsession.adapters.local.azure_targets`` (the targets as data and
their input and output formats), shared with the local Azure shape; ``run_azure`` draws the
shots from one seeded generator.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

import numpy as np
from ibm_quantum_schemas.common import CompressedTensorModel
from ibm_quantum_schemas.executor.version_2_0 import (
    ItemMetadataModel,
    MetadataModel,
    ParamsModel,
    QuantumProgramResultItemModel,
    QuantumProgramResultModel,
)
from qiskit import QuantumCircuit
from qiskit.circuit import Qubit
from qiskit.converters import circuit_to_dag, dag_to_circuit
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, PubResult, SamplerPubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.providers import BackendV2
from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder, fake_provider
from qiskit_ibm_runtime.fake_provider import fake_backend
from qiskit_ibm_runtime.quantum_program.converters import quantum_program_from_2_0
from qsession.adapters.local import azure_targets, programs
from qsession.adapters.local.azure_targets import ExecutionError, shots_of
from qsession.adapters.local.model import QiskitExecution

__all__ = ["ExecutionError", "Executors", "run_azure", "shots_of"]

#: Sampler shots when neither the pub nor the options say (Qiskit Runtime's default).
IBM_DEFAULT_SHOTS = 4096
#: Qiskit Runtime's default estimator precision (4096 shots per parameter set).
IBM_DEFAULT_PRECISION = 0.015625
#: The most shots an IBM job may ask for (shots x parameter sets over its pubs; an estimator
#: pub's shots are 1/precision**2): the emulator's bound, so every job's QPU time is finite.
MAX_JOB_SHOTS = 10_000_000
#: The finest estimator precision a pub may ask for (1/precision**2 = ``MAX_JOB_SHOTS``).
MIN_PRECISION = MAX_JOB_SHOTS**-0.5


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
        self._seeds = np.random.SeedSequence(seed)

    def rng(self) -> np.random.Generator:
        """A fresh generator for one IBM job (twirling draws, mock data): a child of the seed,
        so a seeded emulator repeats its draws whichever thread asks."""
        with self._lock:
            return np.random.default_rng(self._seeds.spawn(1)[0])

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


#: The programs an IBM job may name: the V2 primitives and the executor (quantum programs).
IBM_PROGRAMS = ("sampler", "estimator", "executor")
#: A mock backend's name: ``dry_run=True`` turns ``ibm_x`` (here ``fake_x``) into ``mock_x``.
MOCK_PREFIX = "mock_"


class ExecutorProgram:
    """An executor job's quantum program, decoded from its v2.0 params, and the model it came
    from (whose passthrough data and semantic role go back in the result untouched)."""

    def __init__(self, model: ParamsModel) -> None:
        self.model = model
        self.program, _ = quantum_program_from_2_0(model)

    @property
    def circuits(self) -> list[QuantumCircuit]:
        return [item.circuit for item in self.program.items]

    def shots(self) -> int:
        return programs.program_shots(self.program)


IbmWork = list[SamplerPub] | list[EstimatorPub] | ExecutorProgram


def ibm_work(program: str, params: Mapping[str, Any]) -> IbmWork:
    """What an IBM job runs: a primitive's pubs or the executor's quantum program."""
    if program == "executor":
        return executor_program(params)
    return ibm_pubs(program, params)


def work_shots(work: IbmWork) -> int:
    """Shots a job's work takes, for the QPU time model."""
    return work.shots() if isinstance(work, ExecutorProgram) else pubs_shots(work)


def work_circuits(work: IbmWork) -> list[QuantumCircuit]:
    return work.circuits if isinstance(work, ExecutorProgram) else [pub.circuit for pub in work]


def executor_program(params: Mapping[str, Any]) -> ExecutorProgram:
    """An ``executor`` job's quantum program; ``ExecutionError`` naming what is wrong."""
    version = params.get("schema_version")
    if version != "v2.0":
        raise ExecutionError(
            f"executor params schema_version {version!r} is not supported; the emulator takes"
            " 'v2.0' (what qiskit-ibm-runtime 0.50+ sends)"
        )
    try:
        model = ParamsModel.model_validate(dict(params))
    except Exception as exc:
        raise ExecutionError(f"invalid executor params: {exc}") from exc
    timing = ("scheduler_timing", "stretch_values")
    asked = [name for name in timing if getattr(model.options, name)]
    if asked:
        raise ExecutionError(
            f"executor option(s) {asked} are not supported by the emulator (its simulators have"
            " no pulse schedule); leave them False"
        )
    try:
        work = ExecutorProgram(model)
    except Exception as exc:
        raise ExecutionError(f"invalid quantum program: {exc}") from exc
    try:
        programs.check_program(work.program)
    except programs.ProgramError as exc:
        raise ExecutionError(str(exc)) from None
    return work


def ibm_pubs(program: str, params: Mapping[str, Any]) -> list[SamplerPub] | list[EstimatorPub]:
    """The job's pubs, coerced with its options' defaults; ``ExecutionError`` if invalid."""
    if program not in ("sampler", "estimator"):
        raise ExecutionError(
            f"program {program!r} is not a Qiskit Runtime program the emulator runs; it runs"
            f" {list(IBM_PROGRAMS)}"
        )
    options = params.get("options") or {}
    pubs = params.get("pubs")
    if not isinstance(options, dict) or not isinstance(pubs, list) or not pubs:
        raise ExecutionError("params.pubs must be a non-empty list of pubs")
    shots = options.get("default_shots")
    if shots is not None and not _whole(shots, MAX_JOB_SHOTS):
        raise ExecutionError(
            f"options.default_shots must be a whole number from 1 to {MAX_JOB_SHOTS}; got {shots!r}"
        )
    precision = options.get("default_precision")
    if precision is not None:
        _check_precision("options.default_precision", precision)
    try:
        if program == "sampler":
            return [SamplerPub.coerce(_tuple(pub), shots or IBM_DEFAULT_SHOTS) for pub in pubs]
        coerced = [EstimatorPub.coerce(_tuple(pub), precision) for pub in pubs]
    except Exception as exc:
        raise ExecutionError(f"invalid pubs: {exc}") from exc
    for index, pub in enumerate(coerced):
        if pub.precision is not None:
            _check_precision(f"the precision of pub {index}", pub.precision)
    return coerced


def _whole(value: Any, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most


def _check_precision(what: str, value: Any) -> None:
    finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not finite or value < MIN_PRECISION:
        raise ExecutionError(
            f"{what} must be a finite number of at least {MIN_PRECISION:.3g} (at most"
            f" {MAX_JOB_SHOTS} shots); got {value!r}"
        )


def _tuple(pub: Any) -> Any:
    return tuple(pub) if isinstance(pub, list) else pub


def pubs_shots(pubs: list[SamplerPub] | list[EstimatorPub]) -> int:
    """Shots the pubs ask for, for the QPU time model (sampler: shots x parameter sets;
    estimator: 1/precision**2 x parameter sets, Qiskit Runtime's default precision);
    ``ExecutionError`` above ``MAX_JOB_SHOTS``."""
    total = 0
    for pub in pubs:
        if isinstance(pub, SamplerPub):
            total += (pub.shots or IBM_DEFAULT_SHOTS) * math.prod(pub.shape)
        else:
            precision = IBM_DEFAULT_PRECISION if pub.precision is None else pub.precision
            total += math.ceil(precision**-2) * math.prod(pub.shape)
    if total > MAX_JOB_SHOTS:
        raise ExecutionError(
            f"the job asks for {total} shots (shots x parameter sets over its pubs); at most"
            f" {MAX_JOB_SHOTS} are allowed"
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


def run_ibm(executors: Executors, backend: str, program: str, work: IbmWork) -> bytes:
    """Run a job's work; return the result as the client decodes it. A mock backend runs on
    its real twin (``mock_x`` on ``fake_x``) and returns random data of the same shapes."""
    execution = executors.ibm(device(backend))
    rng = executors.rng() if is_mock(backend) else None
    if isinstance(work, ExecutorProgram):
        return _run_executor(execution, work, executors.rng(), rng)
    primitive = execution.sampler if program == "sampler" else execution.estimator
    compact = [_without_idle_qubits(pub) for pub in work]
    result = _as_arrays(primitive.run(compact).result())
    if rng is not None:
        result = _randomized(result, rng)
    return json.dumps(result, cls=RuntimeEncoder).encode()


def mock_backends(names: Iterable[str]) -> list[str]:
    """The mock twin of every fake backend: ``fake_manila`` -> ``mock_manila``."""
    return [MOCK_PREFIX + n.removeprefix("fake_") for n in names if n.startswith("fake_")]


def is_mock(name: str) -> bool:
    return name.startswith(MOCK_PREFIX)


def mock_twin(name: str) -> str:
    """The fake backend a mock backend mirrors: ``mock_manila`` -> ``fake_manila``."""
    return "fake_" + name.removeprefix(MOCK_PREFIX)


def device(name: str) -> str:
    """The fake backend whose target and simulator serve ``name``: itself, or a mock's twin."""
    return mock_twin(name) if is_mock(name) else name


def _run_executor(
    execution: QiskitExecution,
    work: ExecutorProgram,
    randomizations: np.random.Generator,
    rng: np.random.Generator | None,
) -> bytes:
    """Run a quantum program (``rng``: replace its measured bits with mock data) and encode
    the result in the executor schema v2.0."""
    data = programs.run_items(execution, work.program, randomizations, mock=rng)
    items = [
        QuantumProgramResultItemModel(
            results={name: CompressedTensorModel.from_numpy(v) for name, v in item.items()},
            metadata=ItemMetadataModel(),
        )
        for item in data
    ]
    sent = work.model.quantum_program
    result = QuantumProgramResultModel(
        data=items,
        metadata=MetadataModel(chunk_timing=[]),
        passthrough_data=sent.passthrough_data,
        semantic_role=sent.semantic_role,
    )
    return result.model_dump_json().encode()


def _randomized(result: PrimitiveResult[Any], rng: np.random.Generator) -> PrimitiveResult[Any]:
    """``result`` with every bit and value replaced by random data of the same shape/dtype."""

    def noise(name: str, value: Any) -> Any:
        if isinstance(value, BitArray):
            shape = (*value.shape, value.num_shots, value.num_bits)
            return BitArray.from_bool_array(rng.random(shape) < 0.5)
        array = np.asarray(value)
        low = -1.0 if name == "evs" else 0.0
        return rng.uniform(low, 1.0, array.shape).astype(array.dtype)

    return _map_fields(result, noise)


def _as_arrays(result: PrimitiveResult[Any]) -> PrimitiveResult[Any]:
    """``result`` with numpy scalars as 0-d arrays: ``RuntimeEncoder`` writes a scalar as a
    JSON number, which the client would decode to a Python float without ``.shape``."""
    return _map_fields(
        result, lambda name, value: np.asarray(value) if isinstance(value, np.generic) else value
    )


def _map_fields(
    result: PrimitiveResult[Any], change: Callable[[str, Any], Any]
) -> PrimitiveResult[Any]:
    pubs = []
    for pub in result:
        fields = {name: change(name, value) for name, value in dict(pub.data).items()}
        data = DataBin(**fields, shape=pub.data.shape)
        cls = SamplerPubResult if isinstance(pub, SamplerPubResult) else PubResult
        pubs.append(cls(data, metadata=pub.metadata))
    return PrimitiveResult(pubs, metadata=result.metadata)


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
