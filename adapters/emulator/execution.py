"""What the emulator's QPUs run: job inputs decoded, executed with qiskit, outputs encoded.

IBM jobs are Qiskit Runtime primitive calls (``program_id`` ``sampler`` or ``estimator``): the
request's ``params`` are decoded with qiskit-ibm-runtime's ``RuntimeDecoder``, the pubs run on
``BackendSamplerV2`` / ``BackendEstimatorV2`` over the named fake backend (through the local
backend's ``QiskitExecution``), and the ``PrimitiveResult`` is encoded with ``RuntimeEncoder``,
exactly what the client decodes.

Azure jobs read their input blob in one of three formats and run it on a noiseless simulator
(``BasicSimulator`` through ``BackendSamplerV2``):

- ``ionq.circuit.v1`` (IonQ JSON) -> ``ionq.quantum-results.v1`` (a probability histogram);
- ``honeywell.openqasm.v1`` (OpenQASM 2) -> ``honeywell.quantum-results.v1`` (shots per register);
- ``qir.v1`` (base-profile QIR as LLVM text, what ``qsharp.compile`` and the Qiskit backends
  of azure-quantum 3.13 upload) -> ``microsoft.quantum-results.v2`` (histogram and shots of
  the recorded output).

Anything else, or input that does not parse, makes the job fail with ``ExecutionError``, as a
real target fails a job whose input it cannot run.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from qiskit import QuantumCircuit, qasm2
from qiskit.circuit import Qubit
from qiskit.converters import circuit_to_dag, dag_to_circuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.providers import BackendV2
from qiskit.providers.basic_provider import BasicSimulator
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder, fake_provider
from qiskit_ibm_runtime.fake_provider import fake_backend
from qsession.adapters.local.model import QiskitExecution

#: Sampler shots when neither the pub nor the options say (Qiskit Runtime's default).
IBM_DEFAULT_SHOTS = 4096
#: Qiskit Runtime's default estimator precision (4096 shots per parameter set).
IBM_DEFAULT_PRECISION = 0.015625
#: Shots of an Azure job whose input params name none (the IonQ default in azure-quantum).
AZURE_DEFAULT_SHOTS = 500


class ExecutionError(Exception):
    """The job's input cannot be run; ``code`` is the service's error code."""

    def __init__(self, message: str, code: str = "InvalidInputData") -> None:
        super().__init__(message)
        self.code = code


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
        self._simulator: QiskitExecution | None = None

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

    def simulator(self) -> QiskitExecution:
        with self._lock:
            if self._simulator is None:
                self._simulator = QiskitExecution(BasicSimulator(), seed=self._seed)
            return self._simulator


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


# Azure ---------------------------------------------------------------------------------------

#: Input format -> the output format its results are written in.
AZURE_FORMATS: Mapping[str, str] = {
    "ionq.circuit.v1": "ionq.quantum-results.v1",
    "honeywell.openqasm.v1": "honeywell.quantum-results.v1",
    "qir.v1": "microsoft.quantum-results.v2",
}


def azure_shots(input_params: Mapping[str, Any]) -> int:
    """The shots an Azure job asks for (``shots``, or Quantinuum's ``count``); 0 if invalid."""
    shots = input_params.get("shots", input_params.get("count", AZURE_DEFAULT_SHOTS))
    valid = isinstance(shots, int) and not isinstance(shots, bool) and 0 < shots <= 1_000_000
    return shots if valid else 0


def run_azure(
    executors: Executors, input_format: str, data: bytes, input_params: Mapping[str, Any]
) -> bytes:
    """Run an Azure job's input blob; return the output blob's bytes."""
    runner = _AZURE_RUNNERS.get(input_format)
    if runner is None:
        raise ExecutionError(
            f"input data format {input_format!r} is not supported by the emulator; supported:"
            f" {sorted(_AZURE_RUNNERS)}",
            code="InvalidInputDataFormat",
        )
    shots = azure_shots(input_params)
    if not shots:
        raise ExecutionError(
            "shots must be a whole number from 1 to 1000000; got"
            f" {input_params.get('shots', input_params.get('count'))!r}"
        )
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise ExecutionError(f"input data is not text: {exc}") from exc
    return runner(executors, text, shots)


def _sample_memory(executors: Executors, circuit: QuantumCircuit, shots: int) -> list[str]:
    """Per-shot bitstrings (qiskit order: clbit 0 rightmost) of ``circuit``."""
    execution = executors.simulator()
    assert execution.backend is not None
    isa = generate_preset_pass_manager(optimization_level=0, backend=execution.backend).run(circuit)
    result = execution.sampler.run([(isa,)], shots=shots).result()[0]
    bitstrings: list[str] = result.join_data().get_bitstrings()
    return bitstrings


_IONQ_GATES: Mapping[str, Callable[[QuantumCircuit, list[int], list[int], float | None], None]] = {
    "x": lambda qc, c, t, r: qc.mcx(c, t[0]) if c else qc.x(t[0]),
    "y": lambda qc, c, t, r: qc.y(t[0]),
    "z": lambda qc, c, t, r: qc.mcp(math.pi, c, t[0]) if c else qc.z(t[0]),
    "h": lambda qc, c, t, r: qc.h(t[0]),
    "s": lambda qc, c, t, r: qc.s(t[0]),
    "si": lambda qc, c, t, r: qc.sdg(t[0]),
    "t": lambda qc, c, t, r: qc.t(t[0]),
    "ti": lambda qc, c, t, r: qc.tdg(t[0]),
    "v": lambda qc, c, t, r: qc.sx(t[0]),
    "vi": lambda qc, c, t, r: qc.sxdg(t[0]),
    "cnot": lambda qc, c, t, r: qc.mcx(c, t[0]),
    "swap": lambda qc, c, t, r: qc.swap(t[0], t[1]),
    "rx": lambda qc, c, t, r: qc.rx(_angle(r), t[0]),
    "ry": lambda qc, c, t, r: qc.ry(_angle(r), t[0]),
    "rz": lambda qc, c, t, r: qc.rz(_angle(r), t[0]),
}


def _angle(rotation: float | None) -> float:
    if rotation is None:
        raise ExecutionError("a rotation gate needs a numeric 'rotation'")
    return rotation


def _ionq_circuit(program: Any) -> QuantumCircuit:
    if not isinstance(program, dict):
        raise ExecutionError("an ionq.circuit.v1 input is a JSON object")
    qubits, gates = program.get("qubits"), program.get("circuit")
    if isinstance(qubits, bool) or not isinstance(qubits, int) or not 0 < qubits <= 29:
        raise ExecutionError(f"'qubits' must be a whole number from 1 to 29; got {qubits!r}")
    if not isinstance(gates, list):
        raise ExecutionError("'circuit' must be a list of gates")
    qc = QuantumCircuit(qubits, qubits)
    for gate in gates:
        if not isinstance(gate, dict) or gate.get("gate") not in _IONQ_GATES:
            raise ExecutionError(f"unsupported gate {gate!r}; supported: {sorted(_IONQ_GATES)}")
        targets = gate.get("targets", [gate.get("target")])
        controls = gate.get("controls", [] if gate.get("control") is None else [gate["control"]])
        rotation = gate.get("rotation")
        wires = [*targets, *controls]
        if not all(isinstance(w, int) and not isinstance(w, bool) for w in wires) or not all(
            0 <= w < qubits for w in wires
        ):
            raise ExecutionError(f"gate {gate!r} acts on a qubit outside 0..{qubits - 1}")
        if rotation is not None and (
            isinstance(rotation, bool) or not isinstance(rotation, int | float)
        ):
            raise ExecutionError(f"gate {gate!r}: 'rotation' must be a number")
        try:
            _IONQ_GATES[gate["gate"]](qc, controls, targets, rotation)
        except ExecutionError:
            raise
        except Exception as exc:
            raise ExecutionError(f"gate {gate!r}: {exc}") from exc
    qc.measure(range(qubits), range(qubits))
    return qc


def _run_ionq(executors: Executors, text: str, shots: int) -> bytes:
    try:
        program = json.loads(text)
    except ValueError as exc:
        raise ExecutionError(f"input is not JSON: {exc}") from exc
    memory = _sample_memory(executors, _ionq_circuit(program), shots)
    counts = Counter(int(bits, 2) for bits in memory)
    histogram = {str(k): counts[k] / shots for k in sorted(counts)}
    return json.dumps({"histogram": histogram}).encode()


def _run_openqasm(executors: Executors, text: str, shots: int) -> bytes:
    try:
        circuit = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except Exception as exc:
        raise ExecutionError(f"input is not OpenQASM 2: {exc}") from exc
    if not circuit.cregs:
        raise ExecutionError("the program measures nothing (no classical register)")
    memory = _sample_memory(executors, circuit, shots)
    registers: dict[str, list[str]] = {creg.name: [] for creg in circuit.cregs}
    for bits in memory:
        words = bits.split(" ")[::-1] if " " in bits else [bits]
        for creg, word in zip(circuit.cregs, words, strict=True):
            registers[creg.name].append(word)
    return json.dumps(registers).encode()


# Base-profile QIR ---------------------------------------------------------------------------

_QIR_CALL = re.compile(r"^\s*call\s+\S+\s+@(__quantum__\w+)\((.*)\)\s*(?:#\d+)?\s*$")
_QIR_ARG = re.compile(
    r"(double)\s+([-+0-9.eE]+|0x[0-9A-Fa-f]+)"
    r"|%(Qubit|Result)\*\s+(?:null|inttoptr\s*\(i64\s+(\d+)\s+to\s+%(?:Qubit|Result)\*\))"
    r"|(i64)\s+(-?\d+)"
    r"|(i8\*)\s+(?:null|getelementptr[^)]*\))"
)
_QIR_DEFINE = re.compile(r"^define\s+\S+\s+@([\w.]+)\(\)\s*(#\d+)?\s*\{")
_QIR_ATTRS = re.compile(r"^attributes\s+(#\d+)\s*=\s*\{(.*)\}")
_QIR_RUNTIME_NOOPS = frozenset({"__quantum__rt__initialize", "__quantum__qis__barrier__body"})
_QIR_GATES: Mapping[str, tuple[str, int, int]] = {
    # QIR intrinsic -> (QuantumCircuit method, angles, qubits)
    "h": ("h", 0, 1),
    "x": ("x", 0, 1),
    "y": ("y", 0, 1),
    "z": ("z", 0, 1),
    "s": ("s", 0, 1),
    "s__adj": ("sdg", 0, 1),
    "t": ("t", 0, 1),
    "t__adj": ("tdg", 0, 1),
    "sx": ("sx", 0, 1),
    "rx": ("rx", 1, 1),
    "ry": ("ry", 1, 1),
    "rz": ("rz", 1, 1),
    "cnot": ("cx", 0, 2),
    "cx": ("cx", 0, 2),
    "cy": ("cy", 0, 2),
    "cz": ("cz", 0, 2),
    "swap": ("swap", 0, 2),
    "rxx": ("rxx", 1, 2),
    "ryy": ("ryy", 1, 2),
    "rzz": ("rzz", 1, 2),
    "ccx": ("ccx", 0, 3),
    "reset": ("reset", 0, 1),
}


class _Output:
    """The output recording of one QIR entry point: a tree of tuples, arrays and results."""

    def __init__(self) -> None:
        self.root: list[Any] = []
        self._open: list[tuple[str, int, list[Any]]] = []

    def container(self, kind: str, size: int) -> None:
        items: list[Any] = []
        self._add((kind, items))
        if size:
            self._open.append((kind, size, items))

    def result(self, index: int) -> None:
        self._add(index)

    def _add(self, item: Any) -> None:
        if self._open:
            _, size, items = self._open[-1]
            items.append(item)
            if len(items) == size:
                self._open.pop()
        else:
            self.root.append(item)

    def value(self, results: str) -> Any:
        """This shot's output from its result bits (``results[i]`` is result ``i``)."""

        def build(node: Any) -> Any:
            if isinstance(node, int):
                return int(results[node])
            kind, items = node
            values = [build(item) for item in items]
            return values if kind == "array" else tuple(values)

        values = [build(node) for node in self.root]
        return values[0] if len(values) == 1 else tuple(values)


def _qir_entry_points(text: str) -> list[tuple[str, QuantumCircuit, _Output]]:
    """Each entry point of a base-profile QIR module as a circuit and its output recording."""
    attributes = {
        m.group(1): m.group(2) for line in text.splitlines() if (m := _QIR_ATTRS.match(line))
    }
    entries: list[tuple[str, QuantumCircuit, _Output]] = []
    lines = iter(text.splitlines())
    for line in lines:
        define = _QIR_DEFINE.match(line)
        if define is None:
            continue
        name, group = define.group(1), define.group(2)
        if group is None or "entry_point" not in attributes.get(group, ""):
            raise ExecutionError(f"@{name} is defined but only entry points are supported")
        body: list[str] = []
        for inner in lines:
            if inner.strip() == "}":
                break
            body.append(inner)
        entries.append((name, *_qir_body(name, body, attributes[group])))
    if not entries:
        raise ExecutionError("no QIR entry point found (is this base-profile QIR text?)")
    return entries


def _required(attributes: str, name: str) -> int | None:
    match = re.search(rf'"{name}"="(\d+)"', attributes)
    return None if match is None else int(match.group(1))


def _qir_body(name: str, body: list[str], attributes: str) -> tuple[QuantumCircuit, _Output]:
    calls: list[tuple[str, list[tuple[str, Any]]]] = []
    qubits = _required(attributes, "required_num_qubits") or 0
    results = _required(attributes, "required_num_results") or 0
    for line in body:
        stripped = line.strip()
        if not stripped or stripped.endswith(":") or stripped.startswith(";"):
            continue
        if stripped.startswith("ret"):
            continue
        call = _QIR_CALL.match(line)
        if call is None:
            raise ExecutionError(
                f"@{name}: only straight-line base-profile QIR is supported; cannot run"
                f" {stripped!r}"
            )
        args: list[tuple[str, Any]] = []
        for arg in _QIR_ARG.finditer(call.group(2)):
            if arg.group(1):
                args.append(
                    (
                        "double",
                        float.fromhex(arg.group(2)) if "x" in arg.group(2) else float(arg.group(2)),
                    )
                )
            elif arg.group(3):
                index = int(arg.group(4) or 0)
                args.append((arg.group(3), index))
                if arg.group(3) == "Qubit":
                    qubits = max(qubits, index + 1)
                else:
                    results = max(results, index + 1)
            elif arg.group(5):
                args.append(("i64", int(arg.group(6))))
        calls.append((call.group(1), args))
    circuit = QuantumCircuit(max(qubits, 1), max(results, 1))
    output = _Output()
    for function, args in calls:
        _qir_apply(name, circuit, output, function, args)
    return circuit, output


def _qir_apply(
    name: str,
    circuit: QuantumCircuit,
    output: _Output,
    function: str,
    args: list[tuple[str, Any]],
) -> None:
    if function in _QIR_RUNTIME_NOOPS:
        return
    values = [value for _, value in args]
    if function in ("__quantum__rt__tuple_record_output", "__quantum__rt__array_record_output"):
        output.container("tuple" if "tuple" in function else "array", int(values[0]))
        return
    if function == "__quantum__rt__result_record_output":
        output.result(int(values[0]))
        return
    match = re.fullmatch(r"__quantum__qis__(\w+?)__(body|adj)", function)
    gate = None if match is None else match.group(1) + ("__adj" if match.group(2) == "adj" else "")
    if gate in ("m", "mz", "mresetz"):
        qubit = next(v for kind, v in args if kind == "Qubit")
        result = next(v for kind, v in args if kind == "Result")
        circuit.measure(qubit, result)
        if gate == "mresetz":
            circuit.reset(qubit)
        return
    spec = None if gate is None else _QIR_GATES.get(gate)
    if spec is None:
        raise ExecutionError(f"@{name}: the emulator cannot run {function}")
    method, n_angles, n_qubits = spec
    angles = [v for kind, v in args if kind == "double"]
    wires = [v for kind, v in args if kind == "Qubit"]
    if len(angles) != n_angles or len(wires) != n_qubits:
        raise ExecutionError(f"@{name}: {function} takes {n_angles} angles and {n_qubits} qubits")
    getattr(circuit, method)(*angles, *wires)


def _display(value: Any) -> str:
    return repr(value)


def _outcome(value: Any) -> Any:
    """A shot's value as the service writes it: tuples become ``{"Item1": ...}`` objects."""
    if isinstance(value, tuple):
        return {f"Item{i + 1}": _outcome(item) for i, item in enumerate(value)}
    if isinstance(value, list):
        return [_outcome(item) for item in value]
    return value


def _run_qir(executors: Executors, text: str, shots: int) -> bytes:
    results = []
    for _, circuit, output in _qir_entry_points(text):
        memory = _sample_memory(executors, circuit, shots)
        values = [output.value(bits[::-1]) for bits in memory]
        counts = Counter(_display(v) for v in values)
        first: dict[str, Any] = {}
        for value in values:
            first.setdefault(_display(value), value)
        histogram = [
            {"Outcome": _outcome(first[key]), "Display": key, "Count": count}
            for key, count in counts.items()
        ]
        results.append({"Histogram": histogram, "Shots": [_outcome(v) for v in values]})
    return json.dumps({"DataFormat": "microsoft.quantum-results.v2", "Results": results}).encode()


_AZURE_RUNNERS: Mapping[str, Callable[[Executors, str, int], bytes]] = {
    "ionq.circuit.v1": _run_ionq,
    "honeywell.openqasm.v1": _run_openqasm,
    "qir.v1": _run_qir,
}
