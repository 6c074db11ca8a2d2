"""``qiskit_ibm_runtime.executor_sampler`` on the local backend: the executor-based Sampler."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qiskit.primitives.containers.sampler_pub import SamplerPubLike
from qiskit_ibm_runtime.executor_sampler.prepare import prepare
from qiskit_ibm_runtime.options_models import SamplerOptions

from .runtime import ClientSidePrimitive, RuntimeJobV2, Session, _sdk_options
from .scheduler import LocalBackend


class Sampler(ClientSidePrimitive):
    """``executor_sampler.Sampler``: the pubs become a quantum program (qiskit-ibm-runtime's
    ``prepare``), the program runs as one job, the bits come back as ``SamplerPubResult``s."""

    def __init__(
        self,
        mode: Session | LocalBackend | None = None,
        options: SamplerOptions | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(mode)
        self.options = _sdk_options(SamplerOptions, options)

    def run(
        self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None, dry_run: bool = False
    ) -> RuntimeJobV2:
        program, _ = prepare(pubs, self.options, shots, backend=self._backend.execution.backend)
        program._semantic_role = "sampler_v2"
        return self._run_program(program, self.options, dry_run=dry_run)


__all__ = ["Sampler", "SamplerOptions"]
