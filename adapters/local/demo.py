"""``qsession demo``: a VQE loop in a local session, in virtual time, and what the session did.

The seeds' scenario: the H2 ground state (2 qubits) minimised with SciPy COBYLA through
``EstimatorV2(mode=session)`` (IBM: one job per measurement basis, both submitted before
either is awaited) or two sampled jobs per evaluation on ``ionq.simulator`` (Azure). Other
users' jobs share the QPU, so losing the session's priority costs queue time. Options make the
rules bite: ``--think-time 70`` outlasts the interactive TTL, ``--max-time 5m`` expires the
session mid-run, ``--provider azure --job-failure-policy abort`` ends the session at an
injected job failure.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes
from qiskit.quantum_info import SparsePauliOp
from qsession.core.policies import IBMPolicy, parse_max_time
from scipy.optimize import minimize

from .azure import Workspace
from .clock import Clock, VirtualClock, WallClock
from .errors import (
    IBMRuntimeError,
    JobFailedError,
    JobRejectedError,
    RuntimeJobFailureError,
)
from .model import IBM_QPU, IONQ_SIMULATOR, BackgroundLoad, DurationModel
from .runtime import EstimatorV2, QiskitRuntimeService, Session
from .scheduler import Scheduler
from .timeline import Timeline, render_timeline

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
#: Lines of timeline the demo prints (the first and last halves of longer ones).
TIMELINE_LINES = 48


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
    value: int | str = int(text) if text.isdigit() else text
    try:
        parse_max_time(value, limit=float("inf"), plan="premium")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qsession demo",
        description="Run a VQE in a local session (virtual time by default) and show what the"
        " session rules did to it.",
    )
    parser.add_argument("--provider", choices=("ibm", "azure"), default="ibm")
    parser.add_argument(
        "--iterations", type=int, default=80, help="COBYLA evaluations at most (default 80)"
    )
    parser.add_argument(
        "--think-time",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="classical work between evaluations, in session seconds (default 0)",
    )
    parser.add_argument(
        "--max-time",
        type=_max_time,
        default=None,
        metavar="TIME",
        help="IBM max_time: seconds or a string like '5m', '2h 30m' (default: the plan's 8h)",
    )
    parser.add_argument(
        "--job-failure-policy",
        choices=("abort", "continue"),
        default="abort",
        help="Azure: what a failed job does to the session (default abort)",
    )
    parser.add_argument(
        "--fail-at",
        type=int,
        default=8,
        metavar="N",
        help="Azure: inject a job failure at evaluation N (0: none; default 8)",
    )
    parser.add_argument(
        "--load",
        type=float,
        default=0.3,
        help="fraction of the QPU other users keep busy (0 to 0.9; default 0.3)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--wall", action="store_true", help="run on the wall clock")
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="wall clock speed-up factor (implies --wall; default 50)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the demo; print the timeline and the energies; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.provider == "azure" and args.max_time is not None:
        parser.error("--max-time is an IBM session setting; Azure sessions have none")
    if not 0 <= args.load <= 0.9:
        parser.error("--load must be between 0 and 0.9")
    if args.iterations < 1 or args.think_time < 0:
        parser.error("--iterations must be positive and --think-time non-negative")
    wall = args.wall or args.speed is not None
    clock: Clock = WallClock(args.speed or 50.0) if wall else VirtualClock()
    scheduler = Scheduler(clock)
    load = (
        BackgroundLoad.utilisation(args.load, duration=10.0, backlog=3, seed=args.seed)
        if args.load > 0
        else None
    )
    started = time.perf_counter()
    run = _run_ibm if args.provider == "ibm" else _run_azure
    print(
        f"qsession demo: VQE for H2 ({H2.num_qubits} qubits, {len(H2)} Pauli terms), COBYLA,"
        f" at most {args.iterations} evaluations"
    )
    kind = f"wall, x{clock.speed:g}" if isinstance(clock, WallClock) else "virtual"
    print(
        f"clock: {kind}; other users keep the QPU {args.load:.0%} busy"
        f"{' (3 of their jobs queued at the start)' if load else ''}"
        f"; classical step between evaluations: {args.think_time:g} s"
    )
    timeline, energies, notes = run(args, scheduler, load)
    print()
    print(render_timeline(timeline, max_lines=TIMELINE_LINES))
    print()
    for line in [*_summary(timeline), *notes]:
        print(line)
    exact = exact_ground_energy(H2)
    if energies:
        best = min(energies)
        print(
            f"energy: {best:.6f} Ha (best of {len(energies)} evaluations); exact ground state"
            f" {exact:.6f} Ha; error {abs(best - exact):.2e} Ha"
        )
    else:
        print(f"energy: no evaluation finished; exact ground state {exact:.6f} Ha")
    print(
        f"session time simulated: {scheduler.now():.1f} s in"
        f" {time.perf_counter() - started:.2f} s of wall time"
    )
    return 0


def _job_model(duration: DurationModel) -> str:
    return f"jobs take {duration.overhead:g} s + {duration.per_shot * 1e6:g} us/shot"


def _run_ibm(
    args: argparse.Namespace, scheduler: Scheduler, load: BackgroundLoad | None
) -> tuple[Timeline, list[float], list[str]]:
    scheduler.add_backend("local_qpu", duration=IBM_QPU, load=load, seed=args.seed)
    backend = QiskitRuntimeService(scheduler=scheduler).backend("local_qpu")
    print(f"provider: IBM Qiskit Runtime (local) on {backend.name}; {_job_model(IBM_QPU)}")
    circuit = ansatz(H2.num_qubits)
    x0 = np.random.default_rng(args.seed).uniform(-np.pi, np.pi, circuit.num_parameters)
    energies: list[float] = []
    notes: list[str] = []
    with Session(backend=backend, max_time=args.max_time) as session:
        estimator = EstimatorV2(mode=session)

        def cost(x: np.ndarray) -> float:
            jobs = [estimator.run([(circuit, group, x)]) for group in H2_GROUPS]
            energy = sum(float(job.result()[0].data.evs) for job in jobs)
            energies.append(energy)
            scheduler.clock.advance(args.think_time)
            return energy

        try:
            minimize(cost, x0, method="COBYLA", options={"maxiter": args.iterations})
        except (IBMRuntimeError, RuntimeJobFailureError) as err:
            notes.append(f"stopped: {type(err).__name__}: {err}")
    timeline = session.timeline()
    notes[:0] = _max_ttl_note(timeline)
    return timeline, energies, notes


def _max_ttl_note(timeline: Timeline) -> list[str]:
    expiry = next((s for s in timeline.states if s.cause == "max_ttl_reached"), None)
    if expiry is None or not isinstance(timeline.policy, IBMPolicy):
        return []
    at = expiry.at
    running = [j for j in timeline.jobs if j.started_at is not None and j.started_at < at]
    running = [j for j in running if j.ended_at is None or j.ended_at > at]
    failed = [j for j in timeline.jobs if j.state == "failed" and j.reason == "max TTL reached"]
    return [
        f"max TTL reached at t={at:.1f} s (max_time {timeline.policy.max_time:g} s after the"
        " first job started): the session closed at once;"
        + (" the running job was allowed to finish;" if running else " no job was running;")
        + (f" {len(failed)} queued job(s) failed;" if failed else " no job was queued;")
        + " every later submission is refused ('The session is closed.')."
    ]


def _run_azure(
    args: argparse.Namespace, scheduler: Scheduler, load: BackgroundLoad | None
) -> tuple[Timeline, list[float], list[str]]:
    name = "ionq.simulator"
    scheduler.add_backend(name, duration=IONQ_SIMULATOR, load=load, seed=args.seed)
    workspace = Workspace(scheduler=scheduler, targets={name: IONQ_SIMULATOR})
    target = workspace.get_targets(name)
    assert not isinstance(target, list)
    fail_at = args.fail_at if args.fail_at > 0 else None
    print(
        f"provider: Azure Quantum (local) on {name}; {_job_model(IONQ_SIMULATOR)};"
        f" job_failure_policy {args.job_failure_policy}"
        + (f"; a job failure is injected at evaluation {fail_at}" if fail_at else "")
    )
    circuit = ansatz(H2.num_qubits)
    z_basis = circuit.measure_all(inplace=False)
    x_basis = circuit.copy()
    x_basis.h(range(circuit.num_qubits))
    x_basis.measure_all()
    x0 = np.random.default_rng(args.seed).uniform(-np.pi, np.pi, circuit.num_parameters)
    energies: list[float] = []
    notes: list[str] = []
    shots = 4000

    def evaluate(x: np.ndarray, k: int) -> list[Mapping[str, float]]:
        jobs = [
            target.submit(c.assign_parameters(x), name=f"eval {k} {basis}", shots=shots)
            for c, basis in ((z_basis, "Z"), (x_basis, "X"))
        ]
        return [job.get_results() for job in jobs]

    with target.open_session(name="VQE", job_failure_policy=args.job_failure_policy) as session:

        def cost(x: np.ndarray) -> float:
            k = len(energies) + 1
            if k == fail_at:
                target.fail_next_job("injected failure")
            try:
                z, xx = evaluate(x, k)
            except JobFailedError as err:
                if args.job_failure_policy != "continue":
                    raise
                notes.append(f"evaluation {k}: {err}; the session continues, so it is retried")
                z, xx = evaluate(x, k)
            energy = _energy(z, xx)
            energies.append(energy)
            scheduler.clock.advance(args.think_time)
            return energy

        try:
            minimize(cost, x0, method="COBYLA", options={"maxiter": args.iterations})
        except JobRejectedError as err:
            notes.append(f"stopped: the session refused a job: {err}")
        except JobFailedError as err:
            notes.append(f"stopped: {err}")
            cancelled = [j for j in session.list_jobs() if j.details.status == "Cancelled"]
            notes.append(
                f"abort: the session turned {session.details.status!r} and cancelled"
                f" {len(cancelled)} job(s) still in flight"
            )
            try:
                target.submit(z_basis.assign_parameters(x0), name="after abort", shots=shots)
            except JobRejectedError as rejected:
                notes.append(f"the next submission was refused before any work: {rejected}")
    status = session.details.status
    notes.append(f"session status after close: {status!r}; {len(session.list_jobs())} jobs")
    return session.timeline(), energies, notes


def _energy(z: Mapping[str, float], x: Mapping[str, float]) -> float:
    energy = 0.0
    for label, coeff in H2.label_iter():
        letters = set(label) - {"I"}
        histogram = x if letters == {"X"} else z
        value = parity_expectation(histogram, label) if letters else 1.0
        energy += float(np.real(coeff)) * value
    return energy


def _summary(timeline: Timeline) -> list[str]:
    jobs = timeline.jobs
    states = [j.state for j in jobs]
    queue = sum(j.queue_time or 0.0 for j in jobs)
    run = sum(j.run_time or 0.0 for j in jobs)
    deactivations = sum(1 for s in timeline.states if s.cause == "interactive_ttl_expired")
    counts = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
    lines = [
        f"jobs: {len(jobs)} ({counts}); queue wait {queue:.1f} s in total, QPU time {run:.1f} s",
        f"session: {timeline.states[-1].state} since t={timeline.states[-1].at:.1f} s",
    ]
    if deactivations:
        lines[-1] += (
            f"; the interactive TTL lapsed {deactivations} time(s), and each later job went"
            " back through the normal queue"
        )
    return lines
