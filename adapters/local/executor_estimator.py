"""``qiskit_ibm_runtime.executor_estimator`` on the local backend: the executor-based
Estimator. Its values come from sampled bits (the client computes them), so they carry shot
noise on every backend, as on the service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qiskit.primitives.containers.estimator_pub import EstimatorPubLike
from qiskit_ibm_runtime.executor_estimator.prepare import prepare
from qiskit_ibm_runtime.options_models import EstimatorOptions

from .runtime import ClientSidePrimitive, RuntimeJobV2, Session, _sdk_options
from .scheduler import LocalBackend


class Estimator(ClientSidePrimitive):
    """``executor_estimator.Estimator``: measurement bases, twirling and TREx are prepared by
    qiskit-ibm-runtime's ``prepare`` and undone by its post-processor."""

    def __init__(
        self,
        mode: Session | LocalBackend | None = None,
        options: EstimatorOptions | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(mode)
        self.options = _sdk_options(EstimatorOptions, options)

    def run(
        self,
        pubs: Iterable[EstimatorPubLike],
        *,
        precision: float | None = None,
        dry_run: bool = False,
    ) -> RuntimeJobV2:
        backend = self._backend.execution.backend
        program, _ = prepare(pubs, self.options, precision, backend=backend)
        program._semantic_role = "estimator_v2"
        return self._run_program(program, self.options, dry_run=dry_run)


__all__ = ["Estimator", "EstimatorOptions"]
