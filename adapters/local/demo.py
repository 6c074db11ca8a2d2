"""``qsession demo``: a VQE loop in a local session, in virtual time, and what the session did.

The seeds' scenario: the H2 ground state (2 qubits) minimised with SciPy COBYLA through
``EstimatorV2(mode=session)`` (IBM: one job per measurement basis, both submitted before
either is awaited) or two sampled jobs per evaluation on ``ionq.simulator`` (Azure). Other
users' jobs share the QPU, so losing the session's priority costs queue time. At the defaults
a rule bites: the 70 s classical step outlasts IBM's 60 s interactive TTL, and Azure's session
aborts at an injected job failure; ``--max-time 5m`` expires the IBM session mid-run.

The output is for someone who has never seen a session: one row per thing that happened, at
the session time it happened, with the catalogue rule (``qsession spec``) that made it happen;
runs of evaluations that went the same way are folded; then a summary.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Mapping

import attrs
import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes
from qiskit.quantum_info import SparsePauliOp
from qsession.core import PolicyError, policies
from qsession.core.policies import IBMPolicy, Policy
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from scipy.optimize import minimize

from qsession.cli import OneLineParser

from .azure import AzureSession, Workspace
from .clock import Clock, VirtualClock, WallClock
from .errors import (
    IBMRuntimeError,
    JobFailedError,
    JobRejectedError,
    RuntimeJobFailureError,
)
from .model import IBM_QPU, IONQ_SIMULATOR, BackgroundLoad
from .runtime import EstimatorV2, QiskitRuntimeService, Session
from .scheduler import Scheduler
from .timeline import JobEntry, Moment, Timeline, describe_policy, job_label, status_of

#: H2 at 0.735 Angstrom, STO-3G, parity mapping with two-qubit reduction (electronic energy).
H2 = SparsePauliOp.from_list(
    [
        ("II", -1.052373245772859),
        ("IZ", 0.39793742484318045),
        ("ZI", -0.39793742484318045),
        ("ZZ", -0.01128010425623538),
        ("XX", 0.18093119978423156),
    ]
)
#: H2 split by measurement basis: the IBM demo sends one estimator job per group, both
#: submitted before either is awaited, so a session that ends mid-evaluation has one queued.
H2_GROUPS = (
    SparsePauliOp.from_list([(p, c) for p, c in H2.to_list() if "X" not in p]),
    SparsePauliOp.from_list([(p, c) for p, c in H2.to_list() if "X" in p]),
)


def exact_ground_energy(hamiltonian: SparsePauliOp) -> float:
    """The lowest eigenvalue, by dense diagonalisation (fine for a few qubits)."""
    return float(np.linalg.eigvalsh(hamiltonian.to_matrix()).min())


def ansatz(num_qubits: int = 2) -> QuantumCircuit:
    """A hardware-efficient ansatz: RY layers around a CX, real amplitudes."""
    return real_amplitudes(num_qubits, reps=1)


def parity_expectation(histogram: Mapping[str, float], label: str) -> float:
    """<P> for a Pauli label whose non-identity letters were all measured in their basis."""
    positions = [i for i, letter in enumerate(label) if letter != "I"]
    return float(
        sum(p * (-1) ** sum(bits[i] == "1" for i in positions) for bits, p in histogram.items())
    )


def _max_time(text: str) -> int | str:
    """``--max-time``: validated against the premium plan, as the session will be."""
    value: int | str = int(text) if text.isdigit() else text
    try:
        policies.ibm_session(max_time=value)
    except PolicyError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value


def _plot_path(text: str) -> str:
    if not text.lower().endswith((".png", ".svg")):
        raise argparse.ArgumentTypeError(f"the plot file must end in .png or .svg; got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="qsession demo",
        description="Run a VQE (H2, 2 qubits, SciPy COBYLA) in a local session, in virtual time"
        " by default, and show what the session rules did to it, moment by moment.",
    )
    parser.add_argument(
        "--provider",
        choices=("ibm", "azure"),
        default="ibm",
        help="whose session rules to run: IBM Qiskit Runtime or Azure Quantum"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=80,
        metavar="N",
        help="COBYLA evaluations at most; each is two jobs (default: %(default)s)",
    )
    parser.add_argument(
        "--think-time",
        type=float,
        default=70.0,
        metavar="SECONDS",
        help="classical work between evaluations, in session seconds; over 60 the IBM"
        " interactive TTL lapses each time (default: %(default)g)",
    )
    parser.add_argument(
        "--max-time",
        type=_max_time,
        default=None,
        metavar="TIME",
        help="IBM max_time: seconds or whole units in d h m s order such as '5m' or '2h 30m'"
        " (default: the plan's 8h)",
    )
    parser.add_argument(
        "--job-failure-policy",
        choices=("abort", "continue"),
        default="abort",
        help="Azure: what a failed job does to the session (default: %(default)s)",
    )
    parser.add_argument(
        "--fail-at",
        type=int,
        default=8,
        metavar="N",
        help="Azure: inject a job failure at evaluation N, 0 for none (default: %(default)s)",
    )
    parser.add_argument(
        "--load",
        type=float,
        default=0.3,
        metavar="FRACTION",
        help="fraction of the QPU other users keep busy, 0 to 0.9 (default: %(default)g)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        help="seed of the starting point, the other users' jobs and the sampling"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--wall",
        action="store_true",
        help="run on the wall clock, sped up by --speed (default: virtual time)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        metavar="FACTOR",
        help="session seconds per real second on the wall clock; implies --wall (default: 50)",
    )
    parser.add_argument(
        "--plot",
        type=_plot_path,
        default=None,
        metavar="FILE",
        help="also draw the session's timeline to FILE (.png or .svg; needs matplotlib,"
        " pip install 'qsession[plot]')",
    )
    return parser


@attrs.define
class Run:
    """One demo run: where it prints, its clock, its session once open, the energies found and
    what stopped it."""

    console: Console
    clock: Clock
    session: Session | AzureSession | None = None
    energies: list[float] = attrs.Factory(list)
    notes: list[tuple[str, tuple[str, ...]]] = attrs.Factory(list)
    interrupted: bool = False

    def opened(self, session: Session | AzureSession, args: argparse.Namespace) -> None:
        """The session is open: keep it, and say what the reader is about to see."""
        self.session = session
        _print_intro(self.console, args, session.timeline().policy, self.clock)


class Progress:
    """The ``--wall`` progress line: evaluation, session time and status, updated in place."""

    def __init__(self, console: Console, scheduler: Scheduler, enabled: bool) -> None:
        self._scheduler = scheduler
        self._status = console.status("starting", spinner="dots") if enabled else None

    def __enter__(self) -> Progress:
        if self._status is not None:
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def update(self, evaluation: int, status: str) -> None:
        if self._status is not None:
            self._status.update(
                f"evaluation {evaluation} at t={self._scheduler.now():.0f} s; session {status}"
                " (Ctrl-C stops and shows what happened so far)"
            )


def main(argv: list[str] | None = None, *, console: Console | None = None) -> int:
    """Run the demo; print what happened and a summary; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.provider == "azure" and args.max_time is not None:
        parser.error("--max-time is an IBM session setting; Azure sessions have none")
    if not 0 <= args.load <= 0.9:
        parser.error(f"--load must be from 0 to 0.9; got {args.load:g}")
    if args.iterations < 1 or args.think_time < 0:
        parser.error("--iterations must be positive and --think-time at least 0")
    if args.speed is not None and not args.speed > 0:
        parser.error(f"--speed must be positive; got {args.speed:g}")
    if args.plot is not None:
        from . import plot as _  # noqa: F401, PLC0415 - fail now, not after the run, if absent
    console = console or Console(highlight=False)
    wall = args.wall or args.speed is not None
    clock: Clock = WallClock(args.speed or 50.0) if wall else VirtualClock()
    scheduler = Scheduler(clock)
    load = (
        BackgroundLoad.utilisation(args.load, duration=10.0, backlog=3, seed=args.seed)
        if args.load > 0
        else None
    )
    started = time.perf_counter()
    run = Run(console, clock)
    with Progress(console, scheduler, wall) as progress:
        try:
            if args.provider == "ibm":
                _run_ibm(args, scheduler, load, run, progress)
            else:
                _run_azure(args, scheduler, load, run, progress)
        except KeyboardInterrupt:
            run.interrupted = True
            run.notes.append(("interrupted (Ctrl-C): above is what happened up to then", ()))
    if run.session is None:
        console.print("interrupted before the session opened: nothing happened yet")
        return 130
    timeline = run.session.timeline()
    console.print(_moments_table(timeline))
    for text, rules in run.notes:
        console.print(
            f"[bold]{text}[/bold]" + (f"  [dim]{', '.join(rules)}[/dim]" if rules else "")
        )
    console.print(_summary_table(args, run, timeline, time.perf_counter() - started))
    if args.plot is not None:
        timeline.plot(args.plot)
        console.print(f"timeline drawn to {args.plot}")
    if run.interrupted:
        return 130
    return 0


def _print_intro(console: Console, args: argparse.Namespace, policy: Policy, clock: Clock) -> None:
    ibm = args.provider == "ibm"
    kind = f"the wall clock, x{clock.speed:g}" if isinstance(clock, WallClock) else "virtual time"
    lines = [
        f"[bold]qsession demo[/bold]: a VQE run through a local"
        f" {'IBM Qiskit Runtime' if ibm else 'Azure Quantum'} session, in {kind}.",
        f"Session: {describe_policy(policy)}.",
        f"COBYLA minimises the energy of H2 ({H2.num_qubits} qubits, {len(H2)} Pauli terms)."
        f" Each [bold]evaluation[/bold] of the energy sends [bold]2 jobs[/bold], one per"
        f" measurement basis (Z: {_terms(H2_GROUPS[0])}; X: {_terms(H2_GROUPS[1])}), both"
        " submitted before either is awaited.",
        (
            "Estimator: qiskit's StatevectorEstimator on local_qpu, a backend that says it is"
            " exact (exact=True): no shot noise."
            if ibm
            else f"Each job samples {SHOTS} shots on the simulator, so energies carry shot noise."
        ),
        f"Between evaluations your classical step takes {args.think_time:g} s; other users"
        f" keep the QPU {args.load:.0%} busy"
        + (" (3 of their jobs are queued at the start)." if args.load > 0 else "."),
    ]
    console.print(Panel("\n".join(lines), title="what you are looking at", expand=False))


def _terms(group: SparsePauliOp) -> str:
    return " ".join(label for label, _ in group.to_list())


#: The evaluation a job belongs to, from its name or tags ("evaluation 12 Z").
_EVALUATION = re.compile(r"evaluation (\d+)")


def _evaluation(job: JobEntry) -> int | None:
    found = _EVALUATION.search(job_label(job))
    return None if found is None else int(found.group(1))


@attrs.frozen
class Row:
    """A line of the demo's table: a moment, or one evaluation's jobs submitted or done."""

    at: float
    text: str
    rules: tuple[str, ...] = ()
    evaluation: int | None = None
    opens: bool = False


def _rows(timeline: Timeline) -> list[Row]:
    """Moments, with each evaluation's job moments merged into a submitted and a done row
    (a job that did not complete keeps its own row, with the rule that ended it)."""
    by_id = {job.job_id: job for job in timeline.jobs}
    groups: dict[int, list[JobEntry]] = {}
    for job in timeline.jobs:
        k = _evaluation(job)
        if k is not None:
            groups.setdefault(k, []).append(job)
    rows: list[Row] = []
    for moment in timeline.moments():
        job = by_id.get(moment.job_id) if moment.job_id is not None else None
        k = None if job is None else _evaluation(job)
        failed = moment.kind == "ended" and job is not None and job.state != "completed"
        if job is None or k is None or moment.rules or failed:
            rows.append(Row(moment.at, moment.text, moment.rules, k))
            continue
        group = groups[k]
        if moment.kind == "queued" and job is group[0]:
            rows.append(Row(moment.at, f"evaluation {k}: {len(group)} jobs submitted", (), k, True))
        elif moment.kind == "ended" and _last_to_complete(moment, group):
            rows.append(Row(moment.at, _done(k, group), (), k))
    return rows


def _last_to_complete(moment: Moment, group: list[JobEntry]) -> bool:
    """Whether ``moment`` is the end of the last job of an evaluation whose jobs all completed."""
    if any(j.state != "completed" for j in group):
        return False
    return moment.at == max(j.ended_at or 0.0 for j in group)


def _done(k: int, group: list[JobEntry]) -> str:
    waited = max(j.queue_time or 0.0 for j in group)
    ran = sum(j.run_time or 0.0 for j in group)
    wait = f"waited {waited:.1f} s in the queue" if waited >= 0.05 else "no queue wait"
    return f"evaluation {k}: done; {wait}, {ran:.1f} s on the QPU"


def _signature(block: list[Row]) -> tuple[tuple[bool, tuple[str, ...]], ...]:
    return tuple((row.evaluation is None, row.rules) for row in block)


def _fold(rows: list[Row]) -> list[Row | str]:
    """Runs of four or more evaluations that went the same way (the same rules fired in the
    same order) shown as the first, a line saying how many more, and the last."""
    blocks: list[list[Row]] = [[]]
    for row in rows:
        if row.opens:
            blocks.append([])
        blocks[-1].append(row)
    out: list[Row | str] = []
    i = 0
    while i < len(blocks):
        j = i
        while (
            j + 1 < len(blocks)
            and blocks[j + 1]
            and blocks[i]
            and (blocks[i][0].opens and _signature(blocks[j + 1]) == _signature(blocks[i]))
        ):
            j += 1
        if j - i >= 3:
            first, last = blocks[i + 1][0].evaluation, blocks[j - 1][0].evaluation
            out.extend(blocks[i])
            out.append(
                f"... evaluations {first} to {last} went the same way ({j - i - 1} more) ..."
            )
            out.extend(blocks[j])
        else:
            for block in blocks[i : j + 1]:
                out.extend(block)
        i = j + 1
    return out


def _moments_table(timeline: Timeline) -> Table:
    table = Table(title="what happened, in session time", title_justify="left", expand=False)
    table.add_column("t (s)", justify="right", no_wrap=True)
    table.add_column("what happened")
    table.add_column("rule (qsession spec)", style="cyan", no_wrap=True)
    for row in _fold(_rows(timeline)):
        if isinstance(row, str):
            table.add_row("", f"[dim]{row}[/dim]", "")
        else:
            style = "bold" if row.rules else None
            table.add_row(f"{row.at:.1f}", row.text, "\n".join(row.rules), style=style)
    return table


def _summary_table(
    args: argparse.Namespace, run: Run, timeline: Timeline, wall_seconds: float
) -> Table:
    jobs = timeline.jobs
    states = [j.state for j in jobs]
    counts = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
    queue = sum(j.queue_time or 0.0 for j in jobs)
    qpu = sum(j.run_time or 0.0 for j in jobs)
    last = timeline.states[-1]
    lapses = sum(1 for s in timeline.states if s.cause == "interactive_ttl_expired")
    table = Table(title="summary", title_justify="left", show_header=False, expand=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row(
        "evaluations",
        f"{len(run.energies)} finished"
        + (" (stopped by Ctrl-C)" if run.interrupted else f" of at most {args.iterations}"),
    )
    table.add_row("jobs", f"{len(jobs)} ({counts}): two per evaluation, one per measurement basis")
    table.add_row("session", f"status '{status_of(timeline.policy, last)}' since t={last.at:.1f} s")
    table.add_row("queue wait", f"{queue:.1f} s in total; QPU time {qpu:.1f} s")
    if isinstance(timeline.policy, IBMPolicy):
        ittl = f"{timeline.policy.interactive_ttl:g} s"
        table.add_row(
            "interactive TTL",
            f"lapsed {lapses} time(s) (IBM-ITTL-DEACTIVATE): each next evaluation queued behind"
            f" other users' jobs; keep the classical step under {ittl} to hold the QPU"
            if lapses
            else f"never lapsed: no gap between jobs reached {ittl}",
        )
    exact = exact_ground_energy(H2)
    if run.energies:
        best = min(run.energies)
        how = (
            "the estimator is exact, so the gap is the optimiser's"
            if args.provider == "ibm"
            else f"sampled with {SHOTS} shots per job, so the gap includes shot noise"
        )
        table.add_row(
            "energy",
            f"{best:.6f} Ha found; exact ground state {exact:.6f} Ha;"
            f" error {abs(best - exact):.1e} Ha ({how})",
        )
    else:
        table.add_row("energy", f"no evaluation finished; exact ground state {exact:.6f} Ha")
    table.add_row(
        "time", f"{timeline.at:.1f} s of session time in {wall_seconds:.2f} s of wall time"
    )
    table.add_row("try", TRY[args.provider])
    return table


#: Options worth trying next, per provider.
TRY = {
    "ibm": "--think-time 30 (the session stays active), --max-time 5m (the max TTL ends the"
    " run), --provider azure, --plot session.png",
    "azure": "--job-failure-policy continue (a failure does not end the session), --fail-at 0"
    " --think-time 700 (the 10-minute timeout), --provider ibm, --plot session.png",
}


def _run_ibm(
    args: argparse.Namespace,
    scheduler: Scheduler,
    load: BackgroundLoad | None,
    run: Run,
    progress: Progress,
) -> None:
    scheduler.add_backend("local_qpu", duration=IBM_QPU, load=load, seed=args.seed, exact=True)
    backend = QiskitRuntimeService(scheduler=scheduler).backend("local_qpu")
    circuit = ansatz(H2.num_qubits)
    x0 = np.random.default_rng(args.seed).uniform(-np.pi, np.pi, circuit.num_parameters)
    with Session(backend=backend, max_time=args.max_time) as session:
        run.opened(session, args)
        estimator = EstimatorV2(mode=session)

        def cost(x: np.ndarray) -> float:
            k = len(run.energies) + 1
            progress.update(k, session.status())
            jobs = []
            for group, basis in zip(H2_GROUPS, "ZX", strict=True):
                estimator.options.environment.job_tags = [f"evaluation {k} {basis}"]
                jobs.append(estimator.run([(circuit, group, x)]))
            energy = sum(float(job.result()[0].data.evs) for job in jobs)
            run.energies.append(energy)
            scheduler.clock.advance(args.think_time)
            return energy

        try:
            minimize(cost, x0, method="COBYLA", options={"maxiter": args.iterations})
        except IBMRuntimeError as err:
            run.notes.append((f"the next submission was refused: {err}", ("IBM-SUBMIT-CLOSED",)))
        except RuntimeJobFailureError as err:
            run.notes.append((f"an evaluation's job failed, so COBYLA stopped: {err}", ()))
            try:
                estimator.run([(circuit, H2_GROUPS[0], x0)])
            except IBMRuntimeError as refused:
                note = f"the next submission was refused: {refused}"
                run.notes.append((note, ("IBM-SUBMIT-CLOSED",)))


SHOTS = 4000


def _run_azure(
    args: argparse.Namespace,
    scheduler: Scheduler,
    load: BackgroundLoad | None,
    run: Run,
    progress: Progress,
) -> None:
    name = "ionq.simulator"
    scheduler.add_backend(name, duration=IONQ_SIMULATOR, load=load, seed=args.seed)
    workspace = Workspace(scheduler=scheduler, targets={name: IONQ_SIMULATOR})
    target = workspace.get_targets(name)
    assert not isinstance(target, list)
    fail_at = args.fail_at if args.fail_at > 0 else None
    circuit = ansatz(H2.num_qubits)
    z_basis = circuit.measure_all(inplace=False)
    x_basis = circuit.copy()
    x_basis.h(range(circuit.num_qubits))
    x_basis.measure_all()
    x0 = np.random.default_rng(args.seed).uniform(-np.pi, np.pi, circuit.num_parameters)

    def evaluate(x: np.ndarray, k: int) -> list[Mapping[str, float]]:
        jobs = [
            target.submit(c.assign_parameters(x), name=f"evaluation {k} {basis}", shots=SHOTS)
            for c, basis in ((z_basis, "Z"), (x_basis, "X"))
        ]
        return [job.get_results() for job in jobs]

    with target.open_session(name="VQE", job_failure_policy=args.job_failure_policy) as session:
        run.opened(session, args)

        def cost(x: np.ndarray) -> float:
            k = len(run.energies) + 1
            progress.update(k, session.details.status)
            if k == fail_at:
                target.fail_next_job("injected failure")
            try:
                z, xx = evaluate(x, k)
            except JobFailedError as err:
                if args.job_failure_policy != "continue":
                    raise
                run.notes.append(
                    (f"evaluation {k}: {err}; the session continues, so it is retried", ())
                )
                z, xx = evaluate(x, k)
            energy = _energy(z, xx)
            run.energies.append(energy)
            scheduler.clock.advance(args.think_time)
            return energy

        try:
            minimize(cost, x0, method="COBYLA", options={"maxiter": args.iterations})
        except JobRejectedError as err:
            run.notes.append((f"the session refused a job: {err}", ("AZ-SUBMIT-CLOSED",)))
        except JobFailedError as err:
            run.notes.append((f"an evaluation's job failed, so COBYLA stopped: {err}", ()))
            try:
                target.submit(z_basis.assign_parameters(x0), name="after abort", shots=SHOTS)
            except JobRejectedError as rejected:
                run.notes.append(
                    (
                        f"the next submission was refused before any work: {rejected}",
                        ("AZ-SUBMIT-CLOSED",),
                    )
                )


def _energy(z: Mapping[str, float], x: Mapping[str, float]) -> float:
    energy = 0.0
    for label, coeff in H2.label_iter():
        letters = set(label) - {"I"}
        histogram = x if letters == {"X"} else z
        value = parity_expectation(histogram, label) if letters else 1.0
        energy += float(np.real(coeff)) * value
    return energy
