"""The Azure targets' simulator against qiskit's reference statevector: exact outcome
distributions for end-measured circuits, and the deferred-measurement and reset identities for
circuits with mid-circuit measurement, classical control and reset."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector
from qsession.adapters.local.azure_targets import (
    TARGETS,
    ExecutionError,
    gate_counts,
    outcome_probabilities,
)

WIDTH = 3
GATES = ("h", "x", "sx", "t", "ry", "rz", "cx", "cz", "swap")


@st.composite
def circuits(draw: st.DrawFn, width: int = WIDTH) -> QuantumCircuit:
    """A random unitary circuit on ``width`` qubits (no measurements yet)."""
    qc = QuantumCircuit(width, width)
    for _ in range(draw(st.integers(0, 8))):
        gate = draw(st.sampled_from(GATES))
        a, b = draw(st.permutations(range(width)))[:2]
        if gate in ("ry", "rz"):
            getattr(qc, gate)(draw(st.floats(-math.pi, math.pi)), a)
        elif gate in ("cx", "cz", "swap"):
            getattr(qc, gate)(a, b)
        else:
            getattr(qc, gate)(a)
    return qc


def reference(qc: QuantumCircuit) -> dict[tuple[int, ...], float]:
    """qiskit's exact distribution of every qubit of a unitary circuit (clbit i = qubit i)."""
    probabilities = Statevector(qc).probabilities()
    return {
        tuple((index >> i) & 1 for i in range(qc.num_qubits)): float(p)
        for index, p in enumerate(probabilities)
        if p > 1e-12
    }


def assert_same(left: dict[tuple[int, ...], float], right: dict[tuple[int, ...], float]) -> None:
    keys = {k for k, p in left.items() if p > 1e-9} | {k for k, p in right.items() if p > 1e-9}
    for key in keys:
        assert left.get(key, 0.0) == pytest.approx(right.get(key, 0.0), abs=1e-9), key


@settings(max_examples=60, deadline=None)
@given(circuits())
def test_end_measured_circuits_match_qiskits_statevector(qc: QuantumCircuit) -> None:
    unitary = qc.copy()
    qc.measure(range(WIDTH), range(WIDTH))
    assert_same(outcome_probabilities(qc), reference(unitary))


@settings(max_examples=60, deadline=None)
@given(circuits(), st.sampled_from(("x", "h", "z")))
def test_feed_forward_equals_the_deferred_controlled_gate(
    prefix: QuantumCircuit, gate: str
) -> None:
    """measure q0; if (c0 == 1) U q1  ==  controlled-U(q0 -> q1); measure q0 (deferred
    measurement principle)."""
    dynamic = prefix.copy()
    dynamic.measure(0, 0)
    with dynamic.if_test((dynamic.clbits[0], 1)):
        getattr(dynamic, gate)(1)
    dynamic.measure([1, 2], [1, 2])
    deferred = prefix.copy()
    {"x": deferred.cx, "h": deferred.ch, "z": deferred.cz}[gate](0, 1)
    assert_same(outcome_probabilities(dynamic), reference(deferred))


@settings(max_examples=60, deadline=None)
@given(circuits())
def test_reset_leaves_zero_and_the_other_qubits_marginal(prefix: QuantumCircuit) -> None:
    reset = prefix.copy()
    reset.reset(0)
    reset.measure(range(WIDTH), range(WIDTH))
    expected: dict[tuple[int, ...], float] = {}
    for key, p in reference(prefix).items():
        zeroed = (0, *key[1:])
        expected[zeroed] = expected.get(zeroed, 0.0) + p
    assert_same(outcome_probabilities(reset), expected)


def test_a_qubit_measured_twice_gives_both_bits_the_same_value() -> None:
    qc = QuantumCircuit(1, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.measure(0, 1)
    assert_same(outcome_probabilities(qc), {(0, 0): 0.5, (1, 1): 0.5})


def test_a_loop_is_refused_with_a_clear_error() -> None:
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    with qc.while_loop((qc.clbits[0], 1)):
        qc.x(0)
    with pytest.raises(ExecutionError, match="cannot run 'while_loop'"):
        outcome_probabilities(qc)


def test_gate_counts_bill_multi_qubit_gates_as_six_per_extra_qubit() -> None:
    qc = QuantumCircuit(4, 4)
    qc.h(0)
    qc.cx(0, 1)
    qc.mcx([0, 1, 2], 3)
    qc.measure(range(4), range(4))
    assert gate_counts(qc) == (1, 1 + 6 * 2, 4)


def test_every_target_names_a_default_output_for_each_input_format() -> None:
    for spec in TARGETS.values():
        for input_format, produced in spec.formats.items():
            assert spec.output_format(input_format, None) == produced[0]
