"""Azure Quantum targets as data, and how their jobs run: the one home of both for the local
Azure shape and the emulator (``qsession serve``).

``TARGETS`` lists each target the emulator and the local workspace offer: its provider id as
``providerStatus`` lists it, its duration model, the input formats it accepts with the output
formats it can produce from each, whether it returns exact probabilities, and how its cost is
estimated. ``run_program`` executes one job's input blob on a target:

- ``ionq.circuit.v1`` (IonQ JSON) -> ``ionq.quantum-results.v1``: a probability histogram,
  exact on ``ionq.simulator`` (IonQ's idealized simulator returns probabilities, not counts),
  sampled from the shots elsewhere;
- ``honeywell.openqasm.v1`` (OpenQASM 2, with ``if (c==n)`` classical control, mid-circuit
  measurement and reset) -> ``honeywell.quantum-results.v1`` (each register's bits per shot);
- ``qir.v1`` (base-profile QIR as LLVM text, what ``qsharp.compile`` and the azure-quantum
  Qiskit backends upload) -> ``microsoft.quantum-results.v2`` (histogram and shots);
- Microsoft's echo targets (provider ``Microsoft.Test.FirstParty``) return the input blob as
  their output, as the SDK's own tests expect of ``echo-output``.

Circuits run on an exact statevector that branches at each measurement whose outcome matters
later (a condition reads it, or a gate or reset touches the qubit again); measurements nothing
depends on stay unresolved until the end, so a circuit measured only at the end costs one
statevector. Shots are then drawn from the exact outcome distribution.

A requested output format the target cannot produce fails the job with the service's
``CannotTranslateOutputData``; an input format it does not accept with
``InvalidInputDataFormat``; input that does not parse with ``InvalidInputData``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np
from qiskit import QuantumCircuit, qasm2
from qiskit.circuit import ClassicalRegister, Clbit, IfElseOp
from qiskit.circuit.library import XGate
from qiskit.quantum_info import Statevector

from .model import (
    IONQ_QPU,
    IONQ_SIMULATOR,
    QUANTINUUM_QPU,
    QUANTINUUM_SIMULATOR,
    RIGETTI_SIMULATOR,
    DurationModel,
)

#: Shots of a job whose input params name none (the IonQ default in azure-quantum).
DEFAULT_SHOTS = 500
#: Most qubits a job may use: the statevector of 24 qubits is 256 MiB.
MAX_QUBITS = 24
#: Most shots a job may ask for.
MAX_SHOTS = 1_000_000

IONQ_JSON = "ionq.circuit.v1"
IONQ_RESULTS = "ionq.quantum-results.v1"
OPENQASM = "honeywell.openqasm.v1"
QUANTINUUM_RESULTS = "honeywell.quantum-results.v1"
QIR = "qir.v1"
QIR_RESULTS = "microsoft.quantum-results.v2"
QUANTINUUM_QIR_RESULTS = "honeywell.qir.v1"
QUANTUM_LOG = "microsoft.quantum-log.v1"
#: The provider of Microsoft's echo targets, as ``providerStatus`` lists it.
ECHO_PROVIDER = "Microsoft.Test.FirstParty"
#: Echo targets answer at once.
ECHO = DurationModel(overhead=1.0, per_shot=0.0)


class ExecutionError(Exception):
    """The job's input cannot be run; ``code`` is the service's error code."""

    def __init__(self, message: str, code: str = "InvalidInputData") -> None:
        super().__init__(message)
        self.code = code


@attrs.frozen
class AzureTarget:
    """One target: ``formats`` maps each accepted input format to the output formats the
    target can produce from it (the first is the default)."""

    name: str
    provider_id: str
    duration: DurationModel
    formats: Mapping[str, tuple[str, ...]]
    exact: bool = False
    echo: bool = False
    #: Key of ``COST_MODELS``; None: the service reports no cost estimate.
    pricing: str | None = None

    def output_format(self, input_format: str, requested: str | None) -> str:
        """The output format a job gets, or ``ExecutionError`` as the service fails it."""
        produced = self.formats.get(input_format)
        if produced is None:
            raise ExecutionError(
                f"Target {self.name!r} does not accept input data format {input_format!r};"
                f" it accepts {sorted(self.formats)}.",
                code="InvalidInputDataFormat",
            )
        if requested is None or requested == "":
            return produced[0]
        if requested not in produced:
            raise ExecutionError(
                f"The output returned by '{self.provider_id.lower()}' cannot be translated as"
                f" specified by 'outputDataFormat'. Please ensure that 'outputDataFormat' is"
                f" correct: {self.name} produces {list(produced)} from {input_format};"
                f" got {requested!r}.",
                code="CannotTranslateOutputData",
            )
        return requested


_IONQ_FORMATS = {IONQ_JSON: (IONQ_RESULTS,), QIR: (QIR_RESULTS,)}
_QUANTINUUM_FORMATS = {OPENQASM: (QUANTINUUM_RESULTS,), QIR: (QIR_RESULTS,)}
_RIGETTI_FORMATS = {QIR: (QIR_RESULTS,)}

#: Rigetti QPUs (no duration is published; a QPU-like guess beside the simulator's).
RIGETTI_QPU = DurationModel(overhead=10.0, per_shot=0.001)

#: Every target, by name: the ones ``providerStatus`` lists for IonQ, Quantinuum, Rigetti and
#: Microsoft's test provider, with their provider ids (recorded in microsoft/azure-quantum-python
#: ``tests/unit/recordings/test_configuration_quantinuum_backends.yaml``, API
#: 2025-12-01-preview; the preview target ``quantinuum.sim.h1-2e-preview`` is left out).
TARGETS: Mapping[str, AzureTarget] = {
    target.name: target
    for target in (
        AzureTarget(
            "ionq.simulator", "ionq", IONQ_SIMULATOR, _IONQ_FORMATS, exact=True, pricing="ionq"
        ),
        *(
            AzureTarget(name, "ionq", IONQ_QPU, _IONQ_FORMATS, pricing="ionq")
            for name in ("ionq.qpu.aria-1", "ionq.qpu.forte-1", "ionq.qpu.forte-enterprise-1")
        ),
        *(
            AzureTarget(
                name, "quantinuum", QUANTINUUM_SIMULATOR, _QUANTINUUM_FORMATS, pricing="hqc"
            )
            for name in (
                "quantinuum.sim.h2-1sc",
                "quantinuum.sim.h2-1e",
                "quantinuum.sim.h2-2sc",
                "quantinuum.sim.h2-2e",
            )
        ),
        *(
            AzureTarget(name, "quantinuum", QUANTINUUM_QPU, _QUANTINUUM_FORMATS, pricing="hqc")
            for name in ("quantinuum.qpu.h2-1", "quantinuum.qpu.h2-2")
        ),
        AzureTarget("rigetti.sim.qvm", "rigetti", RIGETTI_SIMULATOR, _RIGETTI_FORMATS),
        *(
            AzureTarget(name, "rigetti", RIGETTI_QPU, _RIGETTI_FORMATS)
            for name in ("rigetti.qpu.ankaa-3", "rigetti.qpu.cepheus-1-36q")
        ),
        AzureTarget("echo-ionq", ECHO_PROVIDER, ECHO, _IONQ_FORMATS, echo=True),
        AzureTarget(
            "echo-quantinuum",
            ECHO_PROVIDER,
            ECHO,
            {QIR: (QUANTINUUM_QIR_RESULTS, QIR_RESULTS)},
            echo=True,
        ),
        AzureTarget("echo-rigetti", ECHO_PROVIDER, ECHO, _RIGETTI_FORMATS, echo=True),
        AzureTarget("echo-output", ECHO_PROVIDER, ECHO, {QUANTUM_LOG: (QUANTUM_LOG,)}, echo=True),
    )
}


def target(name: str) -> AzureTarget:
    """The target called ``name``; a name outside ``TARGETS`` (a test's own QPU) is a generic
    target of the provider its prefix names, accepting every format the emulator runs."""
    known = TARGETS.get(name)
    if known is not None:
        return known
    formats = {IONQ_JSON: (IONQ_RESULTS,), OPENQASM: (QUANTINUUM_RESULTS,), QIR: (QIR_RESULTS,)}
    return AzureTarget(name, name.split(".", 1)[0].lower(), DurationModel(), formats)


def shots_of(input_params: Mapping[str, Any]) -> int:
    """The shots a job asks for (``shots``, or Quantinuum's ``count``); 0 if invalid."""
    shots = input_params.get("shots", input_params.get("count", DEFAULT_SHOTS))
    valid = isinstance(shots, int) and not isinstance(shots, bool) and 0 < shots <= MAX_SHOTS
    return shots if valid else 0


# Running a job ---------------------------------------------------------------------------------


@attrs.frozen
class Program:
    """A parsed job input: its circuits (one per QIR entry point) and how to write results."""

    input_format: str
    circuits: tuple[QuantumCircuit, ...]
    outputs: tuple[Any, ...]


def parse_program(input_format: str, data: bytes) -> Program:
    """The job input as circuits; ``ExecutionError`` if it does not parse."""
    parser = _PARSERS.get(input_format)
    if parser is None:
        raise ExecutionError(
            f"input data format {input_format!r} is not executed by qsession; it executes"
            f" {sorted(_PARSERS)}",
            code="InvalidInputDataFormat",
        )
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise ExecutionError(f"input data is not text: {exc}") from exc
    program = parser(text)
    for circuit in program.circuits:
        if circuit.num_qubits > MAX_QUBITS:
            raise ExecutionError(
                f"the program uses {circuit.num_qubits} qubits; qsession simulates at most"
                f" {MAX_QUBITS}"
            )
    return program


def run_program(
    spec: AzureTarget,
    input_format: str,
    data: bytes,
    input_params: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    output_format: str | None = None,
) -> bytes:
    """Run a job's input blob on ``spec``; return the output blob's bytes."""
    produced = spec.output_format(input_format, output_format)
    if spec.echo:
        return data
    shots = shots_of(input_params)
    if not shots:
        raise ExecutionError(
            f"shots must be a whole number from 1 to {MAX_SHOTS}; got"
            f" {input_params.get('shots', input_params.get('count'))!r}"
        )
    program = parse_program(input_format, data)
    return _ENCODERS[produced](spec, program, shots, rng)


def outcome_probabilities(circuit: QuantumCircuit) -> dict[tuple[int, ...], float]:
    """The exact distribution of the circuit's classical bits at the end (``key[i]`` is clbit
    ``i``), with mid-circuit measurement, reset and ``if_else`` on measured bits."""
    width = circuit.num_qubits
    amplitudes = np.zeros(2**width, dtype=complex)
    amplitudes[0] = 1.0
    start = _Branch(Statevector(amplitudes), {}, {}, 1.0)
    branches = _apply(circuit, list(range(width)), list(range(circuit.num_clbits)), [start])
    found: Counter[tuple[int, ...]] = Counter()
    for branch in branches:
        measured = sorted(set(branch.pending.values()))
        marginal = branch.state.probabilities(measured)
        for index, p in enumerate(marginal):
            if p * branch.p < _NEGLIGIBLE:
                continue
            bits = dict(branch.fixed)
            for clbit, qubit in branch.pending.items():
                bits[clbit] = (index >> measured.index(qubit)) & 1
            key = tuple(bits.get(c, 0) for c in range(circuit.num_clbits))
            found[key] += float(p) * branch.p
    total = sum(found.values())
    return {key: p / total for key, p in found.items()}


def sample(
    distribution: Mapping[tuple[int, ...], float], shots: int, rng: np.random.Generator
) -> list[tuple[int, ...]]:
    """``shots`` outcomes drawn from ``distribution``, in shot order."""
    keys = sorted(distribution)
    weights = np.array([distribution[k] for k in keys])
    picks = rng.choice(len(keys), size=shots, p=weights / weights.sum())
    return [keys[i] for i in picks]


_NEGLIGIBLE = 1e-12


@attrs.define
class _Branch:
    """One measurement history: the state, bits already resolved, measured bits still to
    resolve (clbit -> qubit), and the probability of this history."""

    state: Statevector
    fixed: dict[int, int]
    pending: dict[int, int]
    p: float


def _project(branch: _Branch, qubit: int) -> list[tuple[_Branch, int]]:
    """The branch split on the value of ``qubit``: each outcome with its projected state."""
    data = branch.state.data
    ones = ((np.arange(len(data)) >> qubit) & 1).astype(bool)
    out = []
    for outcome, mask in ((0, ~ones), (1, ones)):
        projected = np.where(mask, data, 0)
        weight = float(np.vdot(projected, projected).real)
        if weight * branch.p < _NEGLIGIBLE:
            continue
        state = Statevector(projected / math.sqrt(weight))
        out.append(
            (_Branch(state, dict(branch.fixed), dict(branch.pending), branch.p * weight), outcome)
        )
    return out


def _resolve(
    branches: list[_Branch], *, qubits: Sequence[int] = (), clbits: Sequence[int] = ()
) -> list[_Branch]:
    """Resolve the pending measurements of ``qubits`` or into ``clbits`` (a gate, reset or
    condition is about to depend on them)."""
    result = []
    todo = list(branches)
    while todo:
        branch = todo.pop()
        due = next((c for c, q in branch.pending.items() if q in qubits or c in clbits), None)
        if due is None:
            result.append(branch)
            continue
        qubit = branch.pending[due]
        for child, outcome in _project(branch, qubit):
            for clbit, measured in list(child.pending.items()):
                if measured == qubit:
                    child.fixed[clbit] = outcome
                    del child.pending[clbit]
            todo.append(child)
    return result


def _condition(op: IfElseOp, cmap: Sequence[int], circuit: QuantumCircuit) -> tuple[list[int], int]:
    """The clbits an ``if_else`` reads (outer indices, little-endian) and the value it wants."""
    target, value = op.condition
    if isinstance(target, Clbit):
        return [cmap[circuit.find_bit(target).index]], int(value)
    if isinstance(target, ClassicalRegister):
        return [cmap[circuit.find_bit(bit).index] for bit in target], int(value)
    raise ExecutionError(f"unsupported classical condition {op.condition!r}")


def _apply(
    circuit: QuantumCircuit, qmap: Sequence[int], cmap: Sequence[int], branches: list[_Branch]
) -> list[_Branch]:
    for instruction in circuit.data:
        op = instruction.operation
        qubits = [qmap[circuit.find_bit(q).index] for q in instruction.qubits]
        clbits = [cmap[circuit.find_bit(c).index] for c in instruction.clbits]
        if op.name == "barrier":
            continue
        if op.name == "measure":
            branches = _resolve(branches, clbits=clbits)
            for branch in branches:
                branch.fixed.pop(clbits[0], None)
                branch.pending[clbits[0]] = qubits[0]
        elif op.name == "reset":
            branches = _resolve(branches, qubits=qubits)
            reset = []
            for branch in branches:
                for child, outcome in _project(branch, qubits[0]):
                    if outcome:
                        child.state = child.state.evolve(XGate(), [qubits[0]])
                    reset.append(child)
            branches = reset
        elif isinstance(op, IfElseOp):
            read, wanted = _condition(op, cmap, circuit)
            branches = _resolve(branches, clbits=read)
            true_body, false_body = op.blocks[0], op.blocks[1] if len(op.blocks) > 1 else None
            taken: list[_Branch] = []
            for branch in branches:
                value = sum(branch.fixed.get(c, 0) << i for i, c in enumerate(read))
                body = true_body if value == wanted else false_body
                taken += [branch] if body is None else _apply(body, qubits, clbits, [branch])
            branches = taken
        elif op.num_clbits or getattr(op, "blocks", None):
            raise ExecutionError(f"the emulator cannot run {op.name!r}")
        else:
            branches = _resolve(branches, qubits=qubits)
            try:
                for branch in branches:
                    branch.state = branch.state.evolve(op, qubits)
            except Exception as exc:
                raise ExecutionError(f"cannot simulate {op.name!r}: {exc}") from exc
    return branches


# Input formats -------------------------------------------------------------------------------

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


def ionq_circuit(program: Any) -> QuantumCircuit:
    """An IonQ JSON circuit (``{"qubits": n, "circuit": [gates]}``), every qubit measured."""
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


def _parse_ionq(text: str) -> Program:
    try:
        program = json.loads(text)
    except ValueError as exc:
        raise ExecutionError(f"input is not JSON: {exc}") from exc
    return Program(IONQ_JSON, (ionq_circuit(program),), (None,))


def _parse_openqasm(text: str) -> Program:
    try:
        circuit = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except Exception as exc:
        raise ExecutionError(f"input is not OpenQASM 2: {exc}") from exc
    if not circuit.cregs:
        raise ExecutionError("the program measures nothing (no classical register)")
    return Program(OPENQASM, (circuit,), (None,))


# Base-profile QIR ------------------------------------------------------------------------------

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

    def value(self, results: Sequence[int]) -> Any:
        """This shot's output from its result bits (``results[i]`` is result ``i``)."""

        def build(node: Any) -> Any:
            if isinstance(node, int):
                return int(results[node])
            kind, items = node
            values = [build(item) for item in items]
            return values if kind == "array" else tuple(values)

        values = [build(node) for node in self.root]
        return values[0] if len(values) == 1 else tuple(values)


def _parse_qir(text: str) -> Program:
    """Each entry point of a base-profile QIR module as a circuit and its output recording."""
    attributes = {
        m.group(1): m.group(2) for line in text.splitlines() if (m := _QIR_ATTRS.match(line))
    }
    circuits: list[QuantumCircuit] = []
    outputs: list[_Output] = []
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
        circuit, output = _qir_body(name, body, attributes[group])
        circuits.append(circuit)
        outputs.append(output)
    if not circuits:
        raise ExecutionError("no QIR entry point found (is this base-profile QIR text?)")
    return Program(QIR, tuple(circuits), tuple(outputs))


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


_PARSERS: Mapping[str, Callable[[str], Program]] = {
    IONQ_JSON: _parse_ionq,
    OPENQASM: _parse_openqasm,
    QIR: _parse_qir,
}


# Output formats --------------------------------------------------------------------------------


def _ionq_results(
    spec: AzureTarget, program: Program, shots: int, rng: np.random.Generator
) -> bytes:
    """IonQ's histogram: each measured state (qubit 0 the lowest bit) -> its probability."""
    distribution = outcome_probabilities(program.circuits[0])
    if not spec.exact:
        counts = Counter(sample(distribution, shots, rng))
        distribution = {key: counts[key] / shots for key in counts}
    histogram: dict[int, float] = {}
    for key, p in distribution.items():
        state = sum(bit << i for i, bit in enumerate(key))
        histogram[state] = histogram.get(state, 0.0) + p
    return json.dumps(
        {"histogram": {str(k): round(histogram[k], 12) for k in sorted(histogram)}}
    ).encode()


def _quantinuum_results(
    spec: AzureTarget, program: Program, shots: int, rng: np.random.Generator
) -> bytes:
    """Each classical register's bits (highest first) for every shot."""
    circuit = program.circuits[0]
    memory = sample(outcome_probabilities(circuit), shots, rng)
    registers = {
        creg.name: [
            "".join(str(key[circuit.find_bit(bit).index]) for bit in reversed(creg))
            for key in memory
        ]
        for creg in circuit.cregs
    }
    return json.dumps(registers).encode()


def _outcome(value: Any) -> Any:
    """A shot's value as the service writes it: tuples become ``{"Item1": ...}`` objects."""
    if isinstance(value, tuple):
        return {f"Item{i + 1}": _outcome(item) for i, item in enumerate(value)}
    if isinstance(value, list):
        return [_outcome(item) for item in value]
    return value


def _qir_results(
    spec: AzureTarget, program: Program, shots: int, rng: np.random.Generator
) -> bytes:
    results = []
    for circuit, output in zip(program.circuits, program.outputs, strict=True):
        values = [output.value(key) for key in sample(outcome_probabilities(circuit), shots, rng)]
        counts = Counter(repr(v) for v in values)
        first: dict[str, Any] = {}
        for value in values:
            first.setdefault(repr(value), value)
        histogram = [
            {"Outcome": _outcome(first[key]), "Display": key, "Count": count}
            for key, count in counts.items()
        ]
        results.append({"Histogram": histogram, "Shots": [_outcome(v) for v in values]})
    return json.dumps({"DataFormat": QIR_RESULTS, "Results": results}).encode()


_ENCODERS: Mapping[str, Callable[[AzureTarget, Program, int, np.random.Generator], bytes]] = {
    IONQ_RESULTS: _ionq_results,
    QUANTINUUM_RESULTS: _quantinuum_results,
    QIR_RESULTS: _qir_results,
}


# Cost estimates --------------------------------------------------------------------------------

#: IonQ on Azure Quantum (https://learn.microsoft.com/azure/quantum/pricing#ionq):
#: AQT = m + 0.000220 * (N1q * C) + 0.000975 * (N2q * C), m = 97.50 USD with error mitigation,
#: 12.4166 USD without; a gate on N >= 3 qubits bills as 6 * (N - 2) two-qubit gates.
IONQ_1Q_PRICE = 0.000220
IONQ_2Q_PRICE = 0.000975
IONQ_MINIMUM = 12.4166
IONQ_MINIMUM_ERROR_MITIGATION = 97.50
#: Quantinuum H-System Quantum Credits (https://learn.microsoft.com/azure/quantum/pricing#quantinuum):
#: HQC = 5 + C * (N1q + 10 * N2q + 5 * Nm) / 5000; syntax checkers are free.
HQC_BASE = 5.0


def gate_counts(circuit: QuantumCircuit) -> tuple[int, int, int]:
    """(one-qubit gates, two-qubit gates as billed, measurements) of a circuit."""
    one = two = measures = 0
    for instruction in circuit.data:
        op = instruction.operation
        blocks = getattr(op, "blocks", ())
        if blocks:
            for block in blocks:
                inner = gate_counts(block)
                one, two, measures = one + inner[0], two + inner[1], measures + inner[2]
        elif op.name == "measure":
            measures += 1
        elif op.name in ("barrier", "reset"):
            continue
        elif op.num_qubits == 1:
            one += 1
        elif op.num_qubits == 2:
            two += 1
        else:
            two += 6 * (op.num_qubits - 2)
    return one, two, measures


def _event(dimension: str, name: str, unit: str, amount: float, price: float) -> dict[str, Any]:
    return {
        "dimensionId": dimension,
        "dimensionName": name,
        "measureUnit": unit,
        "amountBilled": amount,
        "amountConsumed": amount,
        "unitPrice": price,
    }


def _ionq_cost(
    spec: AzureTarget, program: Program, input_params: Mapping[str, Any]
) -> dict[str, Any]:
    shots = shots_of(input_params)
    one = sum(gate_counts(c)[0] for c in program.circuits) * shots
    two = sum(gate_counts(c)[1] for c in program.circuits) * shots
    if spec.exact:  # the simulator is free: the service reports zero gate-shots at zero price
        one = two = 0
    mitigation = input_params.get("error-mitigation")
    debias = isinstance(mitigation, dict) and mitigation.get("debias") is True
    minimum = 0.0 if spec.exact else IONQ_MINIMUM_ERROR_MITIGATION if debias else IONQ_MINIMUM
    price_1q, price_2q = (0.0, 0.0) if spec.exact else (IONQ_1Q_PRICE, IONQ_2Q_PRICE)
    events = [
        _event("gs1q", "1Q Gate Shot", "1q gate shot", float(one), price_1q),
        _event("gs2q", "2Q Gate Shot", "2q gate shot", float(two), price_2q),
    ]
    if minimum:
        events.append(_event("minimum", "Minimum price per program", "program", 1.0, minimum))
    total = minimum + one * price_1q + two * price_2q
    return {"currencyCode": "USD", "events": events, "estimatedTotal": round(total, 6)}


def _hqc_cost(
    spec: AzureTarget, program: Program, input_params: Mapping[str, Any]
) -> dict[str, Any]:
    shots = shots_of(input_params)
    one, two, measures = (
        sum(x) for x in zip(*(gate_counts(c) for c in program.circuits), strict=True)
    )
    free = ".sim." in spec.name and spec.name.endswith("sc")
    hqc = 0.0 if free else HQC_BASE + shots * (one + 10 * two + 5 * measures) / 5000
    events = [_event("hqc", "H-System Quantum Credit", "hqc", round(hqc, 6), 0.0)]
    return {"currencyCode": "HQC", "events": events, "estimatedTotal": round(hqc, 6)}


COST_MODELS: Mapping[str, Callable[[AzureTarget, Program, Mapping[str, Any]], dict[str, Any]]] = {
    "ionq": _ionq_cost,
    "hqc": _hqc_cost,
}


def cost_estimate(
    spec: AzureTarget, input_format: str, data: bytes, input_params: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The service's ``costEstimate`` for a job, or None where the target reports none (echo
    targets, Rigetti) or the input does not parse (the job will fail)."""
    if spec.pricing is None or input_format not in spec.formats:
        return None
    try:
        program = parse_program(input_format, data)
    except ExecutionError:
        return None
    return COST_MODELS[spec.pricing](spec, program, input_params)
