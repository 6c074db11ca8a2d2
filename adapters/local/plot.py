"""``Timeline.plot()``: a session drawn as a timeline with matplotlib (the ``plot`` extra).

One lane for the session's states (a coloured band per state), lanes for its jobs (each job's
queue interval hatched, its run interval solid, coloured by outcome; jobs that do not overlap
share a lane), the interactive-TTL and max-TTL (Azure: idle-timeout) deadlines as marks, and a
tick for every moment a rule fired, labelled with the rule id the first time it fires. Every
artist carries a ``gid`` naming what it shows, so a figure can be inspected as data.
"""

from __future__ import annotations

try:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        f"Timeline.plot() needs matplotlib ({exc}): pip install 'qsession[plot]'", name=exc.name
    ) from None

from qsession.core.policies import IBMPolicy

from .timeline import JOB_COLOURS, STATE_COLOURS, JobEntry, Timeline, duration_text

#: States a session never leaves: no deadline is armed after them.
ENDED = frozenset({"closed", "Succeeded", "Failed", "TimedOut"})


def _lanes(jobs: tuple[JobEntry, ...], end: float) -> list[int]:
    """A lane per job: the first whose previous job ended before this one was submitted."""
    free_at: list[float] = []
    lanes = []
    for job in jobs:
        finish = job.ended_at if job.ended_at is not None else end
        lane = next((i for i, t in enumerate(free_at) if t <= job.submitted_at), len(free_at))
        if lane == len(free_at):
            free_at.append(finish)
        else:
            free_at[lane] = finish
        lanes.append(lane)
    return lanes


def _ttl_deadlines(timeline: Timeline) -> list[float]:
    """When the interactive TTL (IBM) or the idle timeout (Azure) was armed to lapse: after
    each job end that left nothing in flight, plus the session's opening for Azure."""
    policy = timeline.policy
    ttl = policy.interactive_ttl if isinstance(policy, IBMPolicy) else policy.idle_timeout
    jobs = timeline.jobs
    ends = sorted(j.ended_at for j in jobs if j.ended_at is not None)
    marks = [] if isinstance(policy, IBMPolicy) else [timeline.opened_at + ttl]
    for end in ends:
        busy = any(j.submitted_at <= end and (j.ended_at is None or j.ended_at > end) for j in jobs)
        if not busy:
            marks.append(end + ttl)
    return marks


def plot_timeline(timeline: Timeline, *, width: float = 10.0, dpi: int = 100) -> Figure:
    """The figure ``Timeline.plot()`` returns (see the module doc)."""
    last = max(timeline.at, timeline.opened_at + 1.0)
    end = last + 0.03 * (last - timeline.opened_at)  # room to see the final state
    jobs = timeline.jobs
    lanes = _lanes(jobs, end)
    lane_count = max(lanes, default=-1) + 1
    figure = Figure(figsize=(width, 3.0 + 0.35 * lane_count), dpi=dpi, layout="constrained")
    ax = figure.add_subplot()
    session_y = lane_count + 1.0
    states = timeline.states
    for entry, following in zip(states, [*states[1:], None], strict=True):
        stop = end if following is None else following.at
        ax.broken_barh(
            [(entry.at, max(stop - entry.at, end * 1e-3))],
            (session_y - 0.4, 0.8),
            facecolors=STATE_COLOURS.get(entry.state, "#bdbdbd"),
            gid=f"state:{entry.state}",
        )
    for job, lane in zip(jobs, lanes, strict=True):
        y = lane_count - lane - 0.4
        queued_until = job.started_at if job.started_at is not None else job.ended_at
        queued_until = end if queued_until is None else queued_until
        ax.broken_barh(
            [(job.submitted_at, queued_until - job.submitted_at)],
            (y, 0.8),
            facecolors="white",
            edgecolors=JOB_COLOURS[job.state],
            hatch="///",
            gid=f"queue:{job.job_id}",
        )
        if job.started_at is not None:
            ran_until = end if job.ended_at is None else job.ended_at
            ax.broken_barh(
                [(job.started_at, ran_until - job.started_at)],
                (y, 0.8),
                facecolors=JOB_COLOURS[job.state],
                gid=f"run:{job.job_id}",
            )
    ttl_name = "interactive TTL" if isinstance(timeline.policy, IBMPolicy) else "idle timeout"
    ended = next((s.at for s in states if s.state in ENDED), end)
    for at in _ttl_deadlines(timeline):
        if at <= ended:
            ax.plot([at], [session_y + 0.55], "v", color="#e6550d", gid=f"deadline:{ttl_name}")
    if isinstance(timeline.policy, IBMPolicy):
        started = next((s.at for s in states if s.state == "active"), None)
        if started is not None:
            deadline = started + timeline.policy.max_time
            shown = min(deadline, end)
            ax.axvline(shown, color="#de2d26", linestyle="--", gid="deadline:max TTL")
            label = f"max TTL at {deadline:g} s" + ("" if deadline <= end else ", later ->")
            ax.annotate(label, (shown, 0.45), ha="right", fontsize=8, color="#de2d26")
    labelled: set[str] = set()
    for moment in timeline.moments():
        for rule in moment.rules:
            ax.plot([moment.at], [session_y + 0.55], "|", color="black", gid=f"rule:{rule}")
            if rule not in labelled and moment.kind == "state":
                labelled.add(rule)
                late = moment.at - timeline.opened_at > 0.75 * (end - timeline.opened_at)
                ax.annotate(
                    rule,
                    (moment.at, session_y + 0.7),
                    rotation=-30 if late else 30,
                    rotation_mode="anchor",
                    ha="right" if late else "left",
                    fontsize=7,
                    gid=f"rule-label:{rule}",
                )
    ax.set_yticks(
        [session_y, *range(1, lane_count + 1)],
        ["session", *(f"jobs {i}" for i in range(lane_count, 0, -1))],
    )
    ax.set_ylim(0.3, session_y + 2.2)
    ax.set_xlim(timeline.opened_at, end)
    ax.set_xlabel("session time (s)")
    ax.set_title(
        f"session {timeline.session_id} on {timeline.backend}"
        f" ({duration_text(end - timeline.opened_at)})",
        fontsize=10,
    )
    seen_states = list(dict.fromkeys(s.state for s in states))
    seen_jobs = list(dict.fromkeys(j.state for j in jobs))
    handles = [
        *(Patch(facecolor=STATE_COLOURS.get(s, "#bdbdbd"), label=s) for s in seen_states),
        *(Patch(facecolor=JOB_COLOURS[s], label=f"job {s}") for s in seen_jobs),
        Patch(facecolor="white", edgecolor="black", hatch="///", label="job queued"),
        Line2D([], [], marker="v", color="#e6550d", linestyle="", label=f"{ttl_name} deadline"),
        Line2D([], [], marker="|", color="black", linestyle="", label="a rule fired"),
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=5, fontsize=8)
    return figure
