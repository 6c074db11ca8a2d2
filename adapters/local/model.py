"""How long jobs take, who else uses the QPU, and what executes the circuits.

Job duration model: ``overhead + per_shot * shots`` seconds of session time, per backend.
``shots`` is what the job asks for: a sampler pub's shots times its parameter sets; an estimator
pub's ``default_shots``, else ``ceil(1 / precision**2)`` with Qiskit Runtime's default precision
0.015625 (4096 shots), times its parameter sets. Other users' jobs (``BackgroundLoad``) queue on
the same QPU, so a job that loses its session's priority waits behind them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs
import numpy as np
from qiskit.primitives import (
    BackendEstimatorV2,
    BackendSamplerV2,
    BaseEstimatorV2,
    BaseSamplerV2,
    StatevectorEstimator,
    StatevectorSampler,
)
from qiskit_ibm_runtime.utils.utils import is_isa_circuit

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.providers import BackendV2

#: Qiskit Runtime's default estimator precision; the duration model times 1/precision**2 shots.
RUNTIME_DEFAULT_PRECISION = 0.015625
#: Qiskit Runtime's default sampler shots.
RUNTIME_DEFAULT_SHOTS = 4096


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, int | float) and 0 <= value < math.inf):
        raise ValueError(f"{attribute.name} must be a finite number >= 0; got {value!r}")


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, int | float) and 0 < value < math.inf):
        raise ValueError(f"{attribute.name} must be a finite number > 0; got {value!r}")


@attrs.frozen
class DurationModel:
    """A job runs ``overhead + per_shot * shots`` seconds once it reaches the QPU."""

    overhead: float = attrs.field(default=4.0, validator=_non_negative)
    per_shot: float = attrs.field(default=250e-6, validator=_non_negative)

    def seconds(self, shots: int) -> float:
        return self.overhead + self.per_shot * shots


#: A superconducting QPU: ~3.5 s of compilation and loading, 250 us per shot (4096 shots ~ 1 s).
IBM_QPU = DurationModel(overhead=3.5, per_shot=250e-6)
#: Azure targets (illustrative: cloud simulators are quick, trapped ions slow per shot).
IONQ_SIMULATOR = DurationModel(overhead=3.0, per_shot=0.0)
IONQ_QPU = DurationModel(overhead=20.0, per_shot=0.01)
QUANTINUUM_SIMULATOR = DurationModel(overhead=5.0, per_shot=0.0)
QUANTINUUM_QPU = DurationModel(overhead=30.0, per_shot=0.2)
RIGETTI_SIMULATOR = DurationModel(overhead=2.0, per_shot=0.0)


@attrs.frozen
class BackgroundLoad:
    """Other users' jobs: one arrives every ``every`` seconds on average (exponential gaps,
    seeded), each runs ``duration`` seconds; ``backlog`` of them are already queued at start.

    Utilisation is ``duration / every``; keep it below 1 or the queue grows without bound.
    """

    every: float = attrs.field(validator=_positive)
    duration: float = attrs.field(validator=_positive)
    backlog: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    seed: int = 0

    @classmethod
    def utilisation(
        cls, fraction: float, *, duration: float = 10.0, backlog: int = 0, seed: int = 0
    ) -> BackgroundLoad:
        """The load that keeps the QPU busy ``fraction`` of the time with other users' jobs."""
        if not 0 < fraction < 1:
            raise ValueError(f"utilisation must be between 0 and 1 (exclusive); got {fraction!r}")
        return cls(every=duration / fraction, duration=duration, backlog=backlog, seed=seed)


class QiskitExecution:
    """The qiskit primitives a backend runs jobs with, built on first use.

    Without ``backend``: ``StatevectorEstimator`` and ``StatevectorSampler``; the estimator's
    values carry shot noise at the precision asked for (Qiskit Runtime's default 0.015625 when
    none is), unless ``exact``: a backend that says it is an exact statevector simulator. With
    a ``BackendV2`` (e.g. a qiskit-ibm-runtime fake backend): ``BackendEstimatorV2`` /
    ``BackendSamplerV2`` over it, which need ISA circuits and are never exact.
    """

    def __init__(
        self, backend: BackendV2 | None = None, *, seed: int | None = None, exact: bool = False
    ) -> None:
        if exact and backend is not None:
            raise ValueError(
                f"a backend over {backend.name} runs shots; only the statevector backend can be"
                " exact (exact=True without a qiskit backend)"
            )
        self.backend = backend
        self.exact = exact
        self._seed = seed
        self._estimator: BaseEstimatorV2 | None = None
        self._sampler: BaseSamplerV2 | None = None

    @property
    def estimator(self) -> BaseEstimatorV2:
        if self._estimator is None:
            if self.backend is None:
                precision = 0.0 if self.exact else RUNTIME_DEFAULT_PRECISION
                self._estimator = StatevectorEstimator(
                    default_precision=precision, seed=self._rng()
                )
            else:
                self._estimator = BackendEstimatorV2(
                    backend=self.backend, options={"seed_simulator": self._seed}
                )
        return self._estimator

    @property
    def sampler(self) -> BaseSamplerV2:
        if self._sampler is None:
            if self.backend is None:
                self._sampler = StatevectorSampler(
                    default_shots=RUNTIME_DEFAULT_SHOTS, seed=self._rng()
                )
            else:
                self._sampler = BackendSamplerV2(
                    backend=self.backend, options={"seed_simulator": self._seed}
                )
        return self._sampler

    def generator(self) -> np.random.Generator:
        """A generator for other draws (twirling randomizations): seeded if ``seed`` was."""
        return np.random.default_rng(self._seed)

    def _rng(self) -> np.random.Generator | None:
        return None if self._seed is None else np.random.default_rng(self._seed)


def isa_problem(circuit: QuantumCircuit, backend: BackendV2) -> str:
    """Why ``circuit`` is not an ISA circuit of ``backend`` (``""`` if it is): qiskit-ibm-runtime's
    own check (``utils.is_isa_circuit``: width, and every instruction on the qubits the target
    defines it for), which the service applies to every job, with how to fix it."""
    problem: str = is_isa_circuit(circuit, backend.target)
    if not problem:
        return ""
    return (
        f"{problem} Circuits must match the target hardware definition: transpile them for"
        f" {backend.name} first, e.g. generate_preset_pass_manager(backend=backend,"
        " optimization_level=1).run(circuit)"
        " (https://quantum.cloud.ibm.com/docs/guides/transpile)."
    )
