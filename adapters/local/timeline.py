"""Session timelines: what happened to a session and its jobs, as frozen records.

``LocalSession.timeline()`` (and the SDK adapters' ``timeline()``) returns a ``Timeline``.
``Timeline.moments()`` reads it as a newcomer would: one ``Moment`` per thing that happened, at
the time it happened, each naming the catalogue rule that made it happen (``MOMENT_RULES``).
``render_timeline`` prints the moments; ``Timeline.plot()`` draws them (matplotlib, the
``plot`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
from qsession.core import ibm_status
from qsession.core.policies import AzurePolicy, IBMPolicy, Policy

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: Colours of session states (both providers) and job states, for the pictures of a timeline
#: (``Timeline.plot()``, the emulator's dashboard).
STATE_COLOURS = {
    "open": "#c6dbef",
    "active": "#31a354",
    "inactive": "#fdae6b",
    "closed": "#969696",
    "Waiting": "#c6dbef",
    "Executing": "#31a354",
    "Failure(s)": "#fdae6b",
    "Succeeded": "#969696",
    "Failed": "#de2d26",
    "TimedOut": "#756bb1",
}
JOB_COLOURS = {
    "completed": "#3182bd",
    "failed": "#de2d26",
    "cancelled": "#969696",
    "running": "#6baed6",
    "queued": "#c6dbef",
}


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

    def moments(self) -> tuple[Moment, ...]:
        """What happened, one ``Moment`` per thing, in the order it happened."""
        return _moments(self)

    def plot(
        self, path: str | Path | None = None, *, width: float = 10.0, dpi: int = 100
    ) -> Figure:
        """Draw the timeline: state bands, each job's queue and run interval, the TTL
        deadlines and the moments rules fired; saved to ``path`` (``.png``, ``.svg``) if given.
        Needs matplotlib (``pip install 'qsession[plot]'``)."""
        from .plot import plot_timeline  # noqa: PLC0415 - matplotlib is the plot extra

        figure = plot_timeline(self, width=width, dpi=dpi)
        if path is not None:
            figure.savefig(path, dpi=dpi)
        return figure


@attrs.frozen
class Moment:
    """One thing that happened at ``at``: a state change, an exclusivity change, or a job
    submitted, started or ended (``kind``), in a sentence, with the catalogue ids of the rules
    that made it happen (empty when the user did it and no rule was involved)."""

    at: float
    kind: str
    text: str
    rules: tuple[str, ...] = ()
    job_id: str | None = None


#: The rule behind each change, by provider, cause (the event or timer) and a detail (which
#: reading of the cause applies; ``None`` matches any). Checked against the catalogue by a test.
MOMENT_RULES: dict[tuple[str, str, str | None], str] = {
    ("ibm", "open", None): "IBM-START-ON-FIRST-JOB-START",
    ("ibm", "job_started", "first"): "IBM-START-ON-FIRST-JOB-START",
    ("ibm", "job_started", "again"): "IBM-REACTIVATE",
    ("ibm", "interactive_ttl_expired", None): "IBM-ITTL-DEACTIVATE",
    ("ibm", "max_ttl_reached", None): "IBM-MAXTTL-FROM-START",
    ("ibm", "close", None): "IBM-CLOSE-DRAINS",
    ("ibm", "job_end", None): "IBM-CLOSE-DRAINS",
    ("ibm", "cancel", None): "IBM-CANCEL",
    ("ibm", "unused_timeout", None): "IBM-UNUSED-30MIN",
    ("ibm", "exclusive", None): "IBM-EXCLUSIVE-WHEN-ACTIVE",
    ("ibm", "job_failed", "max TTL reached"): "IBM-MAXTTL-QUEUED-FAIL",
    ("ibm", "job_cancelled", "session cancelled"): "IBM-CANCEL",
    ("ibm", "job_finished_late", None): "IBM-RUNNING-FINISHES",
    ("azure", "open", None): "AZ-WAITING-UNTIL-FIRST-JOB",
    ("azure", "submit", None): "AZ-WAITING-UNTIL-FIRST-JOB",
    ("azure", "job_failed", "abort"): "AZ-ABORT",
    ("azure", "job_failed", "continue"): "AZ-CONTINUE",
    ("azure", "close", "ended"): "AZ-CLOSE-IDLE",
    ("azure", "close", None): "AZ-CLOSE-DRAINS",
    ("azure", "job_end", None): "AZ-CLOSE-DRAINS",
    ("azure", "idle_timeout", None): "AZ-TIMEOUT-10MIN",
    ("azure", "exclusive", None): "AZ-QUANTINUUM-EXCLUSIVE",
    ("azure", "exclusivity_lapsed", None): "AZ-QUANTINUUM-EXCLUSIVE",
    ("azure", "job_cancelled", "aborted"): "AZ-ABORT",
}
_JOB_ENDS = ("job_completed", "job_failed", "job_cancelled")
#: Order of moments that share a time: a job ends, then one is submitted, then one starts (a
#: QPU frees before it takes the next job); a state change follows the job event that caused
#: it, and a timer's or a verb's comes after every job event at that time.
_RANK = {"ended": 1.0, "queued": 2.0, "started": 3.0}
_CAUSE_RANK = {"open": 0.0, "submit": 2.5, "job_started": 3.5, **dict.fromkeys(_JOB_ENDS, 1.5)}


def _provider(policy: Policy) -> str:
    return "ibm" if isinstance(policy, IBMPolicy) else "azure"


def _rule(provider: str, cause: str, detail: str | None = None) -> tuple[str, ...]:
    found = MOMENT_RULES.get((provider, cause, detail)) or MOMENT_RULES.get((provider, cause, None))
    return () if found is None else (found,)


def status_of(policy: Policy, entry: StateEntry) -> str:
    """The status the provider's SDK shows for a timeline state (IBM-STATUS; Azure's are the
    states themselves)."""
    if isinstance(policy, IBMPolicy):
        return ibm_status(entry.state, entry.accepting_jobs)
    return entry.state


def duration_text(seconds: float) -> str:
    """``28800`` -> ``'8h'``, ``5400`` -> ``'1h 30m'``, ``60`` -> ``'60 s'``."""
    whole = round(seconds)
    if whole < 120:
        return f"{seconds:g} s"
    parts = [(whole // 3600, "h"), (whole % 3600 // 60, "m"), (whole % 60, "s")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n)


def _ibm_text(policy: IBMPolicy, entry: StateEntry, previous: StateEntry | None) -> str | None:
    shown = f"'{status_of(policy, entry)}'"
    max_time = duration_text(policy.max_time)
    ittl = duration_text(policy.interactive_ttl)
    cause = entry.cause
    if cause == "open":
        kind = "session" if policy.mode == "dedicated" else "batch"
        return (
            f"{kind} opened, status {shown}; it starts when its first job starts"
            f" (max_time {max_time}, interactive TTL {ittl})"
        )
    if cause == "job_started" and previous is not None and previous.state == "open":
        return f"first job started: the session is active ({shown}) and its max TTL runs"
    if cause == "job_started":
        return f"a job started: the session is active again ({shown})"
    if cause == "interactive_ttl_expired":
        return (
            f"no job for {ittl}: the interactive TTL lapsed; the session is inactive ({shown})"
            " and its next job queues like anyone's"
        )
    if cause == "max_ttl_reached":
        return f"max TTL reached, {max_time} after the session started: closed, status {shown}"
    if cause == "unused_timeout":
        unused = duration_text(policy.unused_timeout)
        return f"no job was submitted within {unused} of opening: closed, status {shown}"
    return None


def _azure_text(policy: AzurePolicy, entry: StateEntry, previous: StateEntry | None) -> str | None:
    shown = f"'{entry.state}'"
    cause = entry.cause
    if cause == "open":
        return (
            f"session opened on {policy.target}, status {shown}"
            f" (job_failure_policy {policy.job_failure_policy!r})"
        )
    if cause == "submit":
        return f"its first job was submitted: status {shown}"
    if cause == "job_failed" and entry.state == "Failure(s)":
        return f"a job failed under job_failure_policy 'continue': status {shown}, still accepting"
    if cause == "job_failed" and previous is not None and previous.accepting_jobs:
        return f"a job failed under job_failure_policy 'abort': the session ended {shown}"
    if cause == "idle_timeout":
        idle = duration_text(policy.idle_timeout)
        return f"{idle} with no job in flight and no submission: the session ended {shown}"
    return None


def _state_text(policy: Policy, entry: StateEntry, previous: StateEntry | None) -> str:
    if isinstance(policy, IBMPolicy):
        text = _ibm_text(policy, entry, previous)
    else:
        assert isinstance(policy, AzurePolicy)
        text = _azure_text(policy, entry, previous)
    if text is not None:
        return text
    shown = f"'{status_of(policy, entry)}'"
    cause = entry.cause
    if cause == "close" and previous is not None and previous.state == entry.state:
        return "close(): no new jobs; the ones already submitted still run"
    if cause == "close":
        return f"close() with nothing in flight: the session ended, status {shown}"
    if cause == "cancel":
        return f"cancel(): the session closed at once, status {shown}"
    if cause in _JOB_ENDS:
        return f"its last job ended: the closing session ended, status {shown}"
    return f"{cause}: state {entry.state}, status {shown}"


def _state_rules(provider: str, entry: StateEntry, previous: StateEntry | None) -> tuple[str, ...]:
    cause = entry.cause
    if provider == "ibm" and cause == "job_started":
        first = previous is not None and previous.state == "open"
        return _rule(provider, cause, "first" if first else "again")
    if provider == "azure" and cause == "job_failed":
        if entry.state == "Failure(s)":
            return _rule(provider, cause, "continue")
        if previous is not None and previous.accepting_jobs:
            return _rule(provider, cause, "abort")
    if provider == "azure" and cause == "close":
        drained = previous is not None and previous.state == entry.state
        return _rule(provider, cause, None if drained else "ended")
    if cause in _JOB_ENDS:
        return _rule(provider, "job_end")
    return _rule(provider, cause)


def job_label(job: JobEntry) -> str:
    """How a job is named to the user: its name, else its tags, else its id."""
    return job.name or (", ".join(job.tags) if job.tags else job.job_id)


def _job_moments(provider: str, job: JobEntry, closed_early: float | None) -> list[Moment]:
    label = job_label(job)
    found = [Moment(job.submitted_at, "queued", f"job {label} submitted", (), job.job_id)]
    if job.started_at is not None:
        found.append(Moment(job.started_at, "started", f"job {label} started", (), job.job_id))
    if job.ended_at is None:
        return found
    rules: tuple[str, ...] = ()
    text = f"job {label} {job.state}"
    if job.reason == "max TTL reached":
        text = f"job {label} failed: it was still queued when the max TTL was reached"
    elif job.reason:
        text += f" ({job.reason})"
    if job.reason:
        detail = "aborted" if job.reason.startswith("session aborted") else job.reason
        rules = _rule(provider, f"job_{job.state}", detail)
    if (
        closed_early is not None
        and job.started_at is not None
        and job.started_at <= closed_early < job.ended_at
    ):
        rules = _rule(provider, "job_finished_late")
        text += ": it was running when the session closed, so it ran to its end"
    found.append(Moment(job.ended_at, "ended", text, rules, job.job_id))
    return found


def _moments(timeline: Timeline) -> tuple[Moment, ...]:
    provider = _provider(timeline.policy)
    keyed: list[tuple[float, float, int, Moment]] = []
    previous: StateEntry | None = None
    closed_early: float | None = None
    for entry in timeline.entries:
        if isinstance(entry, StateEntry):
            if entry.cause in ("max_ttl_reached", "cancel"):
                closed_early = entry.at
            text = _state_text(timeline.policy, entry, previous)
            moment = Moment(entry.at, "state", text, _state_rules(provider, entry, previous))
            keyed.append((entry.at, _CAUSE_RANK.get(entry.cause, 4.0), len(keyed), moment))
            previous = entry
        elif isinstance(entry, ExclusivityEntry):
            text = "it holds the QPU exclusively" if entry.exclusive else "it releases the QPU"
            rules = _rule(provider, "exclusive")
            last = keyed[-1] if keyed else None
            if last is not None and last[0] == entry.at and last[3].kind == "state":
                joined = attrs.evolve(
                    last[3], text=f"{last[3].text}; {text}", rules=(*last[3].rules, *rules)
                )
                keyed[-1] = (*last[:3], joined)
            else:
                moment = Moment(entry.at, "exclusive", text, rules)
                keyed.append((entry.at, 4.0, len(keyed), moment))
    for job in timeline.jobs:
        for moment in _job_moments(provider, job, closed_early):
            keyed.append((moment.at, _RANK[moment.kind], len(keyed), moment))
    keyed.sort(key=lambda item: item[:3])
    return tuple(item[3] for item in keyed)


def describe_policy(policy: Policy) -> str:
    """One line naming the provider, mode and timers of a session policy."""
    if isinstance(policy, IBMPolicy):
        kind = "session" if policy.mode == "dedicated" else "batch"
        return (
            f"IBM Qiskit Runtime {kind} (max_time {duration_text(policy.max_time)},"
            f" interactive TTL {duration_text(policy.interactive_ttl)}, plan {policy.plan})"
        )
    assert isinstance(policy, AzurePolicy)
    exclusive = (
        f", exclusive while jobs come within {duration_text(policy.exclusive_window)}"
        if policy.exclusive_window is not None
        else ""
    )
    return (
        f"Azure Quantum session on {policy.target} (job_failure_policy"
        f" {policy.job_failure_policy}, idle timeout {duration_text(policy.idle_timeout)}"
        f"{exclusive})"
    )


def render_timeline(timeline: Timeline, *, max_lines: int | None = None) -> str:
    """The timeline as text: one moment per line, with its session time and rule ids;
    ``max_lines`` keeps only the first and last lines."""
    body = [
        f"{m.at:10.1f}  {m.text}" + (f"  [{', '.join(m.rules)}]" if m.rules else "")
        for m in timeline.moments()
    ]
    if max_lines is not None and len(body) > max_lines:
        head = max_lines // 2
        body = [
            *body[:head],
            f"{'':10}  ... {len(body) - max_lines} more lines ...",
            *body[len(body) - (max_lines - head) :],
        ]
    header = [
        f"session {timeline.session_id} on {timeline.backend}: {describe_policy(timeline.policy)}",
        f"{'t (s)':>10}  what happened  [rule]",
    ]
    return "\n".join(header + body)
