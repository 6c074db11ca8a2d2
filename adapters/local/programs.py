"""Quantum programs, the executor's input (qiskit-ibm-runtime 0.50+), run on real primitives.

A program is a list of items, each a circuit and the arguments to bind at every element of the
item's shape (a samplex item draws them, with its twirling randomizations, from samplomatic).
Running it samples every bound circuit for the program's shots on the backend's
``BackendSamplerV2`` (or ``StatevectorSampler``) and returns, per item, the bits of each
classical register as a ``bool`` array of shape ``item.shape + (shots, creg_size)`` beside the
samplex's other outputs: what the executor program returns. The client's own post-processors
(``qiskit_ibm_runtime.decoders``) turn that into a ``PrimitiveResult``; the emulator and the
local IBM shape both run programs here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Qubit
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit_ibm_runtime.decoders.executor_estimator.decoder import ClientSideEstimatorDecoder
from qiskit_ibm_runtime.decoders.executor_sampler.decoder import ClientSideSamplerResultDecoder
from qiskit_ibm_runtime.fake_provider.executor.broadcast_sample import broadcast_sample
from qiskit_ibm_runtime.quantum_program import QuantumProgram
from qiskit_ibm_runtime.results import QuantumProgramResult
from samplomatic.quantum_program import CircuitItem, SamplexItem

from .model import QiskitExecution

#: Qubits simulated together at most when a wide circuit splits into independent parts.
_PART_QUBITS = 8


class ProgramError(ValueError):
    """A quantum program the simulators cannot run (the message says why)."""


def program_shots(program: QuantumProgram) -> int:
    """Shots a program takes on the QPU: its shots at every element of every item."""
    return program.shots * sum(math.prod(item.shape) for item in program.items)


def check_program(program: QuantumProgram) -> None:
    """Refuse, before anything is queued, a program the simulators cannot run."""
    if program.meas_level != "classified":
        raise ProgramError(
            f"meas_level {program.meas_level!r} is not supported by the simulators; use"
            " 'classified'"
        )
    for item in program.items:
        if not isinstance(item, CircuitItem | SamplexItem):
            raise ProgramError(f"unsupported quantum program item {type(item).__name__}")


def run_items(
    execution: QiskitExecution,
    program: QuantumProgram,
    randomizations: np.random.Generator,
    *,
    mock: np.random.Generator | None = None,
) -> list[dict[str, np.ndarray]]:
    """Each item's outputs; with ``mock``, every measured bit is replaced by a random one (a
    dry run's "randomized mock data"), shapes and dtypes unchanged (see ``check_program``)."""
    outputs = []
    for item in program.items:
        extra: dict[str, np.ndarray] = {}
        if isinstance(item, SamplexItem):
            samplex = item.samplex.finalize()  # a decoded samplex is not finalized yet
            extra = broadcast_sample(samplex, item.samplex_arguments, item.shape, randomizations)
            arguments = extra.pop("parameter_values")
        else:
            arguments = item.circuit_arguments
        bits = _sample_parts(execution, item.circuit, arguments, program.shots)
        if mock is not None:
            bits = {name: mock.random(b.shape) < 0.5 for name, b in bits.items()}
        outputs.append({**extra, **bits})
    return outputs


def post_process(program: QuantumProgram, outputs: list[dict[str, np.ndarray]]) -> Any:
    """The result a client sees: the client's post-processor for the program's semantic role
    (``sampler_v2``, ``estimator_v2``) applied, else the ``QuantumProgramResult`` itself."""
    result = QuantumProgramResult(outputs, passthrough_data=program.passthrough_data)
    result._semantic_role = program._semantic_role
    for decoder in (ClientSideSamplerResultDecoder, ClientSideEstimatorDecoder):
        if decoder.is_applicable(result):
            return decoder.decode(result)
    return result


def _sample_parts(
    execution: QiskitExecution, circuit: QuantumCircuit, arguments: np.ndarray, shots: int
) -> dict[str, np.ndarray]:
    """Each register's bits (``bool``, shape ``arguments.shape[:-1] + (shots, size)``) of
    ``circuit`` at every row of ``arguments``. Independent parts run separately (their joint
    outcomes are the product of theirs), so a device-wide circuit that measures every qubit,
    as the executor Estimator's do, stays within the simulator's width."""
    shape = arguments.shape[:-1]
    bits = {creg.name: np.zeros((*shape, shots, creg.size), dtype=bool) for creg in circuit.cregs}
    columns = {parameter: i for i, parameter in enumerate(circuit.parameters)}
    pubs = []
    for part in _parts(circuit):
        if part.num_parameters:
            chosen = arguments[..., [columns[p] for p in part.parameters]]
            bindings = BindingsArray({tuple(part.parameters): chosen})
        else:
            bindings = BindingsArray(shape=shape)
        pubs.append(SamplerPub(part, bindings, shots))
    for result in execution.sampler.run(pubs).result() if pubs else ():
        for name, array in dict(result.data).items():
            bits[name] |= array.to_bool_array(order="little")
    return bits


def _parts(circuit: QuantumCircuit) -> list[QuantumCircuit]:
    """``circuit`` split into independent sub-circuits that measure something: qubits joined by
    a multi-qubit instruction or writing one clbit stay together (a circuit with control flow
    stays whole); parts are packed up to ``_PART_QUBITS`` qubits. Each part keeps every
    classical bit and register, so its unmeasured bits stay 0. Barriers are dropped."""
    if circuit.has_control_flow_op():
        return [circuit]
    root = {qubit: qubit for qubit in circuit.qubits}

    def find(qubit: Qubit) -> Qubit:
        while root[qubit] is not qubit:
            root[qubit] = root[root[qubit]]
            qubit = root[qubit]
        return qubit

    writer: dict[Any, Qubit] = {}
    ops = [inst for inst in circuit.data if inst.operation.name != "barrier"]
    for inst in ops:
        linked = list(inst.qubits) + [writer.setdefault(c, inst.qubits[0]) for c in inst.clbits]
        for qubit in linked[1:]:
            root[find(qubit)] = find(linked[0])
    measured = {find(q) for inst in ops if inst.operation.name == "measure" for q in inst.qubits}
    groups: dict[Qubit, list[Qubit]] = {}
    for qubit in circuit.qubits:
        if find(qubit) in measured:
            groups.setdefault(find(qubit), []).append(qubit)
    packed: list[list[Qubit]] = []
    for group in sorted(groups.values(), key=len, reverse=True):
        home = next((p for p in packed if len(p) + len(group) <= _PART_QUBITS), None)
        if home is None:
            packed.append(list(group))
        else:
            home.extend(group)
    parts = []
    for qubits in packed:
        index = {qubit: i for i, qubit in enumerate(qubits)}
        part = QuantumCircuit(len(qubits))
        part.add_bits(list(circuit.clbits))
        for creg in circuit.cregs:
            part.add_register(creg)
        for inst in ops:
            if inst.qubits and inst.qubits[0] in index:
                part.append(
                    inst.operation, [part.qubits[index[q]] for q in inst.qubits], inst.clbits
                )
        parts.append(part)
    return parts
