"""Session timelines: what happened to a session and its jobs, as frozen records, and a renderer.

``LocalSession.timeline()`` returns a ``Timeline``; ``render_timeline`` turns it into the text
``qsession demo`` prints: state changes, exclusivity, each job's queue and run times, and the
idle gap before each job (which is what lets an IBM session's interactive TTL lapse).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
from qsession.core import ibm_status
from qsession.core.policies import AzurePolicy, IBMPolicy, Policy


@attrs.frozen
class StateEntry:
    """The session changed state or ``accepting_jobs`` at ``at`` because of ``cause``."""

    at: float
    state: str
    accepting_jobs: bool
    cause: str


@attrs.frozen
class ExclusivityEntry:
    """The session gained or lost exclusive use of its QPU at ``at``."""

    at: float
    exclusive: bool


@attrs.frozen
class JobEntry:
    """One job of the session with its transition times (``state`` is a core ``JobState``)."""

    job_id: str
    name: str | None
    tags: tuple[str, ...]
    state: str
    submitted_at: float
    started_at: float | None
    ended_at: float | None
    reason: str | None

    @property
    def at(self) -> float:
        return self.submitted_at

    @property
    def queue_time(self) -> float | None:
        """Seconds from submission to start (or to its end, if it never started)."""
        left = self.started_at if self.started_at is not None else self.ended_at
        return None if left is None else left - self.submitted_at

    @property
    def run_time(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


Entry = StateEntry | ExclusivityEntry | JobEntry


@attrs.frozen
class Timeline:
    """Everything a session went through, in time order, up to ``at``."""

    session_id: str
    backend: str
    policy: Policy
    opened_at: float
    at: float
    entries: tuple[Entry, ...]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    @property
    def jobs(self) -> tuple[JobEntry, ...]:
        return tuple(e for e in self.entries if isinstance(e, JobEntry))

    @property
    def states(self) -> tuple[StateEntry, ...]:
        return tuple(e for e in self.entries if isinstance(e, StateEntry))


def describe_policy(policy: Policy) -> str:
    """One line naming the provider, mode and timers of a session policy."""
    if isinstance(policy, IBMPolicy):
        kind = "session" if policy.mode == "dedicated" else "batch"
        return (
            f"IBM Qiskit Runtime {kind} (max_time {policy.max_time:g} s,"
            f" interactive TTL {policy.interactive_ttl:g} s, plan {policy.plan})"
        )
    assert isinstance(policy, AzurePolicy)
    exclusive = (
        f", exclusive while jobs come within {policy.exclusive_window:g} s"
        if policy.exclusive_window is not None
        else ""
    )
    return (
        f"Azure Quantum session on {policy.target} (job_failure_policy"
        f" {policy.job_failure_policy}, idle timeout {policy.idle_timeout:g} s{exclusive})"
    )


def _status(policy: Policy, entry: StateEntry) -> str:
    if isinstance(policy, IBMPolicy):
        return ibm_status(entry.state, entry.accepting_jobs)
    return entry.state


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _job_times(job: JobEntry) -> str:
    outcome = job.state.upper() + (f" ({job.reason})" if job.reason else "")
    return f"queued {_seconds(job.queue_time)}, ran {_seconds(job.run_time)} -> {outcome}"


def _label(job: JobEntry) -> str:
    return job.name or job.job_id


def _tags(job: JobEntry) -> str:
    return f" [{', '.join(job.tags)}]" if job.tags else ""


def _shape(job: JobEntry, gap: float | None) -> tuple[object, ...]:
    def tenth(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    return (job.state, job.reason, job.tags, tenth(job.queue_time), tenth(job.run_time), tenth(gap))


def render_timeline(
    timeline: Timeline, *, compact: bool = True, max_lines: int | None = None
) -> str:
    """The timeline as text, one event per line with its session time in seconds.

    ``compact`` folds runs of consecutive jobs that look alike (same outcome, tags and queue, run
    and idle times to 0.1 s) into one line; ``max_lines`` keeps the first and last lines only.
    """
    rows: list[tuple[float, str]] = []
    merge_at: float | None = None
    fold: list[JobEntry] = []
    fold_gap: float | None = None
    last_end: float | None = None

    def flush() -> None:
        if not fold:
            return
        first = fold[0]
        idle = f", after {fold_gap:.1f} s idle" if fold_gap else ""
        if len(fold) == 1:
            text = f"job {_label(first)}{_tags(first)}: {_job_times(first)}{idle}"
        else:
            text = (
                f"jobs {_label(first)} .. {_label(fold[-1])}{_tags(first)} ({len(fold)} jobs):"
                f" each {_job_times(first)}{idle}"
            )
        rows.append((first.at, text))
        fold.clear()

    for entry in timeline.entries:
        if isinstance(entry, JobEntry):
            gap = None if last_end is None else max(0.0, entry.submitted_at - last_end)
            if entry.ended_at is not None:
                last_end = entry.ended_at if last_end is None else max(last_end, entry.ended_at)
            if not (compact and fold and _shape(fold[0], fold_gap) == _shape(entry, gap)):
                flush()
                fold_gap = gap
            fold.append(entry)
            merge_at = None
            continue
        flush()
        if isinstance(entry, ExclusivityEntry):
            note = "holds the QPU exclusively" if entry.exclusive else "releases the QPU"
            if merge_at == entry.at:
                rows[-1] = (entry.at, f"{rows[-1][1]}; {note}")
            else:
                rows.append((entry.at, note))
            merge_at = None
            continue
        accepting = "" if entry.accepting_jobs else ", not accepting jobs"
        status = _status(timeline.policy, entry)
        shown = "" if status == entry.state else f": status {status!r}"
        rows.append((entry.at, f"{entry.state} ({entry.cause}{accepting}){shown}"))
        merge_at = entry.at
    flush()

    body = [f"{at:10.1f}  {text}" for at, text in rows]
    if max_lines is not None and len(body) > max_lines:
        head = max_lines // 2
        body = [
            *body[:head],
            f"{'':10}  ... {len(body) - max_lines} more lines ...",
            *body[len(body) - (max_lines - head) :],
        ]
    header = [
        f"session {timeline.session_id} on {timeline.backend}: {describe_policy(timeline.policy)}",
        f"{'t (s)':>10}  event",
    ]
    return "\n".join(header + body)
