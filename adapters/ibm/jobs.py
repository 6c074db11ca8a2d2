"""Tracked jobs: the SDK's job objects, adopted so their status changes reach the mirror.

A local testing mode job (``LocalRuntimeJob``) reports its end to the tracker when its thread
finishes, and, when the session ended it (max TTL, ``cancel()``) under ``enforce=True``, reports
``ERROR`` or ``CANCELLED`` and refuses ``result()`` with the client's own errors. A service job
(``RuntimeJobV2``) reports each status change its polls see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qiskit.providers import JobStatus
from qiskit_ibm_runtime import RuntimeJobV2
from qiskit_ibm_runtime.exceptions import RuntimeInvalidStateError, RuntimeJobFailureError
from qiskit_ibm_runtime.fake_provider.local_runtime_job import LocalRuntimeJob

if TYPE_CHECKING:
    from .tracking import Tracker

SDKJob = Any
"""A ``LocalRuntimeJob`` or a ``RuntimeJobV2`` (the SDK types them loosely)."""


class TrackedLocalJob(LocalRuntimeJob):
    """A local testing mode job whose end and session verdict the tracker knows."""

    _qsession: Tracker

    def status(self) -> JobStatus:
        self._seen_done()
        verdict = self._qsession.verdict(self.job_id())
        return super().status() if verdict is None else JobStatus[verdict.status]

    def result(self) -> Any:
        self._refuse()
        try:
            return super().result()
        finally:
            self._seen_done()
            self._refuse()

    def error_message(self) -> str:
        verdict = self._qsession.verdict(self.job_id())
        return super().error_message() if verdict is None else verdict.reason

    def _seen_done(self) -> None:
        if self._future is not None and self._future.done():
            self._qsession.job_done(self.job_id(), self._future)

    def _refuse(self) -> None:
        verdict = self._qsession.verdict(self.job_id())
        if verdict is None:
            return
        if verdict.status == "ERROR":
            raise RuntimeJobFailureError(f"Unable to retrieve job result. {verdict.reason}")
        raise RuntimeInvalidStateError(
            f"Unable to retrieve result for job {self.job_id()}. Job was cancelled."
        )


class TrackedServiceJob(RuntimeJobV2):
    """A service job whose every status change (polled or cancelled) the tracker learns."""

    _qsession: Tracker

    def _set_status_and_error_message(self) -> None:
        before, polled_at = self._status, self._qsession.mirror.now()
        super()._set_status_and_error_message()
        if self._status != before:
            self._qsession.job_moved(self, polled_at)

    def cancel(self) -> None:
        polled_at = self._qsession.mirror.now()
        super().cancel()
        self._qsession.job_moved(self, polled_at)


def adopt_job(job: SDKJob, tracker: Tracker) -> None:
    """Make ``job`` report to ``tracker`` (in place: the caller's object is the same)."""
    mixin = TrackedLocalJob if isinstance(job, LocalRuntimeJob) else TrackedServiceJob
    job.__class__ = _tracked_class(mixin, type(job))
    job._qsession = tracker


_TRACKED: dict[tuple[type, type], type] = {}


def _tracked_class(mixin: type, cls: type) -> type:
    """``cls`` with ``mixin`` first (``mixin`` itself for the SDK's own class), built once."""
    if (mixin, cls) not in _TRACKED:
        own = cls in mixin.__bases__
        _TRACKED[mixin, cls] = mixin if own else type(f"Tracked{cls.__name__}", (mixin, cls), {})
    return _TRACKED[mixin, cls]
