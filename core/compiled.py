"""The chart's rows compiled to Python source: the hot path every session runs.

Theory of operation
-------------------
``compile_machine`` turns a ``Machine`` into one generated function per verb (``submit``,
``job_started``, ..., ``close``, ``cancel``, ``advance``, and ``handle`` for any event), plus
``fire`` for the timers, ``open`` for a fresh record and ``fork``. The source is compiled once
and registered with ``linecache`` as attrs does for its generated methods, so tracebacks and
debuggers show real lines, and ``qsession spec --compiled`` prints it. Nothing in it is
written by hand per provider: it is derived from

* the compiled table (``Machine.table``): for each state the rows of each event and timer, in
  order, and the timers each state arms (``Machine.armed``);
* the job rules (``engine.JOB_TRANSITIONS``): which job state each job event needs and leaves;
* the record's attrs fields (the opener and the fork set them slot by slot);
* the provider's own guard, action and deadline functions (``ibm.py``, ``azure.py``): their
  source is read with ``ast`` and inlined where it is a plain expression or plain statements
  over the record and the event's fields; anything else is called as it is, so a change to
  one of those functions changes the generated code the next time it is imported.

Each generated verb validates first and mutates after, and handles the ordinary case only:
time in order, a well-formed job id in the job state the event needs, a row whose guard
passes. When timers are due it fires them with the generated timer rows on a fork of the
record (in place for ``advance``), as the interpreter does, and then applies the event to the
fork. Anything else (a bad, unknown or duplicate id, a foreign target, a refused event or
timer) goes to the generic interpreter (``engine.handle``) with the same event on the untouched
record, which keeps every message and the all-or-nothing behaviour. A row recomputes the
deadline only when it changed the state or wrote a field one of the armed deadlines reads.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import itertools
import keyword
import linecache
import math
import textwrap
from collections.abc import Callable, Mapping
from enum import Enum, StrEnum
from types import FunctionType
from typing import Any

import attrs

from .effects import ExclusivityChanged, StateChanged
from .engine import JOB_TRANSITIONS, Machine, Transition
from .events import (
    Advance,
    Cancel,
    Close,
    Expire,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobStarted,
    Submit,
)
from .records import NO_JOBS, NO_TIMESTAMPS, JobState, SessionRecord

#: ``Session`` verbs as the generated methods spell them: the event each builds, its
#: parameters after ``self`` and the event's fields in constructor order.
VERBS: Mapping[str, tuple[type[Any], str, tuple[str, ...]]] = {
    "submit": (Submit, "job_id, *, at, target=None", ("job_id", "at", "target")),
    "job_started": (JobStarted, "job_id, *, at", ("job_id", "at")),
    "job_completed": (JobCompleted, "job_id, *, at", ("job_id", "at")),
    "job_failed": (JobFailed, "job_id, *, at, reason=''", ("job_id", "at", "reason")),
    "job_cancelled": (JobCancelled, "job_id, *, at", ("job_id", "at")),
    "close": (Close, "*, at", ("at",)),
    "cancel": (Cancel, "*, at", ("at",)),
}
#: Record fields the job bookkeeping of each verb writes (``_Writer.book``, which restates
#: ``engine.book`` for one verb at a time).
BOOKED: Mapping[str, frozenset[str]] = {
    "submit": frozenset({"job_rows", "in_flight", "last_submitted_at"}),
    "job_started": frozenset({"job_rows", "last_job_started", "started_at"}),
    "job_completed": frozenset({"job_rows", "in_flight", "last_job_completed"}),
    "job_failed": frozenset({"job_rows", "in_flight", "last_job_completed", "failures"}),
    "job_cancelled": frozenset({"job_rows", "in_flight", "last_job_completed"}),
    "close": frozenset(),
    "cancel": frozenset(),
}
#: Names the generated functions use for themselves; inlined code never takes them.
_RESERVED = frozenset(
    {"self", "rec", "at", "to", "job_id", "target", "reason", "job", "jobs", "state", "effects"}
    | {"_ev", "_d", "_t", "_acc", "_exc", "_ts", "_own"}
)
#: Builtins that only read the record they are given.
_READ_ONLY_BUILTINS = frozenset({getattr, hasattr, isinstance, len, str, repr, type, bool, id})


@attrs.frozen
class Compiled:
    """A machine's generated source, the name it is registered under, and the functions
    compiled from it: each verb, ``handle``, and ``open``, which builds a fresh record."""

    filename: str
    source: str
    functions: Mapping[str, Callable[..., Any]]


def compile_machine(machine: Machine, interpret: Callable[[Any, Any], Any]) -> Compiled:
    """Generate, compile and register the hot path of ``machine``.

    ``interpret(session, event)`` is the fallback: the generic interpreter applied to a
    ``Session`` (``qsession.core.session`` passes it in; this module does not import it).
    """
    writer = _Writer(machine)
    writer.namespace["_q_interpret"] = interpret
    source = writer.module()
    filename = _register(machine.name, source)
    exec(compile(source, filename, "exec"), writer.namespace)
    names = [*writer.verbs, "advance", "handle", "open"]
    return Compiled(filename, source, {n: writer.namespace[n] for n in names})


def _register(name: str, source: str) -> str:
    """Put ``source`` in ``linecache`` under a filename no other source has (attrs does the
    same for the methods it generates)."""
    base = f"<qsession compiled {name}>"
    for n in itertools.count(1):
        filename = base if n == 1 else f"{base[:-1]} #{n}>"
        lines = linecache.getlines(filename)
        if not lines or "".join(lines) == source:
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            return filename
    raise AssertionError("unreachable")  # pragma: no cover


class _Writer:
    """Writes one machine's module source; ``namespace`` collects the objects it refers to."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.namespace: dict[str, Any] = {
            "_q_inf": math.inf,
            "_q_str": str,
            "_q_type": type,
            "_q_NO_JOBS": NO_JOBS,
            "_q_NO_TIMESTAMPS": NO_TIMESTAMPS,
            "_q_SessionRecord": SessionRecord,
            "_q_StateChanged": StateChanged,
            "_q_Advance": Advance,
            "_q_object_new": object.__new__,
            "_q_list": list,
            "_q_ExclusivityChanged": ExclusivityChanged,
        }
        self.names: dict[int, str] = {}
        self.states = {state.value: f"S_{state.id}" for state in machine.chart.states}
        for value, alias in self.states.items():
            self.namespace[alias] = value
        for job_state in JobState:
            self.namespace[f"J_{job_state.name}"] = job_state
        self.verbs = [
            verb for verb in VERBS if any(verb in rows for rows in machine.table.values())
        ]

    # -- naming the objects the source refers to -------------------------------------------

    def bind(self, obj: Any, name: str) -> str:
        """A namespace name for ``obj``: ``name`` itself unless taken by something else."""
        known = self.names.get(id(obj))
        if known is not None and self.namespace.get(known) is obj:
            return known
        if not name.isidentifier() or keyword.iskeyword(name):
            name = "_q_function"
        for n in itertools.count(1):
            alias = name if n == 1 else f"{name}_{n}"
            if alias not in _RESERVED and self.namespace.get(alias, obj) is obj:
                self.namespace[alias] = obj
                self.names[id(obj)] = alias
                return alias
        raise AssertionError("unreachable")  # pragma: no cover

    def constant(self, value: Any, name: str = "_q_const") -> str:
        if isinstance(value, StrEnum) and value in self.states:
            return self.states[value]
        if isinstance(value, JobState):
            return f"J_{value.name}"
        if isinstance(value, Enum):
            return self.bind(value, f"{type(value).__name__}_{value.name}")
        return self.bind(value, name)

    # -- the module --------------------------------------------------------------------------

    def module(self) -> str:
        machine = self.machine
        parts = [
            f"# Generated by qsession.core.compiled from the {machine.name} chart"
            f" ({machine.chart.__name__}).\n"
            "# Each verb handles the ordinary case and hands anything else to the interpreter.",
            self.opener(),
        ]
        parts.extend(self.verb(verb) for verb in self.verbs)
        parts.append(self.advance())
        parts.append(self.handle())
        parts.append(self.fire())
        parts.append(self.fork())
        parts.insert(1, self.legend())
        return "\n\n".join(parts) + "\n"

    def legend(self) -> str:
        """A comment naming what each free name of the source is bound to."""
        lines = ["# Names bound in this module's namespace:"]
        for name, obj in sorted(self.namespace.items()):
            module = getattr(obj, "__module__", None)
            if isinstance(obj, Enum):
                what = f"{type(obj).__name__}.{obj.name}"
            elif isinstance(obj, frozenset):
                what = f"frozenset({sorted(obj)})"
            elif hasattr(obj, "__qualname__"):
                what = (
                    obj.__qualname__
                    if module in (None, "builtins")
                    else f"{module}.{obj.__qualname__}"
                )
            else:
                what = repr(obj)
            lines.append(f"#   {name} = {what}")
        return "\n".join(lines)

    def opener(self) -> str:
        """A fresh record in the chart's initial state, its slots set one by one from the
        record's attrs fields (their defaults; the shared empty job map and history)."""
        initial = self.machine.chart.initial_state
        assert initial is not None
        given = {
            "policy": "policy",
            "session_id": "session_id",
            "state": self.states[initial.value],
            "created_at": "at",
            "last_at": "at",
            "job_rows": "_q_NO_JOBS",
            "timestamps": "_q_NO_TIMESTAMPS",
        }
        lines = ["def open(policy, session_id, at):", "    rec = _q_object_new(_q_SessionRecord)"]
        for field in attrs.fields(SessionRecord):
            if field.validator is not None or field.converter is not None:
                raise TypeError(f"SessionRecord.{field.name}: the opener sets slots directly")
            if field.name == "deadline":
                continue  # set below, from the timers the initial state arms
            value = given.get(field.name)
            default: Any = field.default
            factory = getattr(default, "factory", None)
            if value is None and factory is not None:
                value = f"{self.bind(factory, '_q_factory')}()"
            elif value is None:
                value = self.literal(default)
            lines.append(f"    rec.{field.name} = {value}")
        return "\n".join([*lines, *self.deadline(initial.value, "    "), "    return rec"])

    def literal(self, value: Any) -> str:
        """Source for a plain default value (the namespace holds anything else)."""
        if (
            value is None
            or type(value) in (bool, int)
            or (type(value) is float and math.isfinite(value))
        ):
            return repr(value)
        return "_q_inf" if value == math.inf else self.bind(value, "_q_default")

    def advance(self) -> str:
        lines = ["def advance(self, *, to):", "    at = to"]
        lines += self.advance_body("_q_interpret(self, _q_Advance(at))", "    ")
        return "\n".join(lines)

    @staticmethod
    def advance_body(fallback: str, pad: str) -> list[str]:
        """Due timers fire in place, as the interpreter fires them for ``advance``; if one
        refuses, the interpreter takes over from there (and raises what it raises)."""
        return [
            f"{pad}rec = self._rec",
            f"{pad}if rec.last_at <= at < rec.deadline:",
            f"{pad}    rec.last_at = at",
            f"{pad}    return ()",
            f"{pad}if rec.last_at <= at < _q_inf:",
            f"{pad}    effects = []",
            f"{pad}    if fire(rec, at, effects):",
            f"{pad}        rec.last_at = at",
            f"{pad}        return tuple(effects) if effects else ()",
            f"{pad}return {fallback}",
        ]

    def fire(self) -> str:
        """``engine.fire_timers``: fire every timer due by ``upto``, each at its own deadline
        and in the order of ``Machine.timers`` on a tie; False if a timer's rows all refuse
        (the interpreter then raises the refusal)."""
        lines = [
            "def fire(rec, upto, effects):",
            "    while rec.deadline <= upto:",
            "        at = rec.deadline",
            "        state = rec.state",
        ]
        keyword = "if"
        for state, armed in self.machine.armed.items():
            if not armed:
                continue
            lines.append(f"        {keyword} state is {self.states[state]}:")
            keyword = "elif"
            for timer, function in armed:
                inlined = _Inliner(self, None, function).expression()
                call = f"{self.bind(function, function.__name__)}(rec)"
                rows = self.machine.table[state][timer]
                lines += [
                    f"            if ({call if inlined is None else inlined}) == at:  # {timer}",
                    "                rec.last_at = at",
                    *self.rows(timer, state, rows, " " * 16, timer=True),
                ]
                if all(row.guard is not None for row in rows):
                    lines.append("                return False")
        lines += ["        return False", "    return True"]
        return "\n".join(lines)

    def fork(self) -> str:
        """``SessionRecord.fork``: a copy sharing the job map, slot by slot."""
        lines = ["def fork(rec):", "    twin = _q_object_new(_q_SessionRecord)"]
        for field in attrs.fields(SessionRecord):
            copy = "_q_list(rec.timestamps)" if field.name == "timestamps" else f"rec.{field.name}"
            lines.append(f"    twin.{field.name} = {copy}")
        return "\n".join([*lines, "    return twin"])

    def verb(self, verb: str) -> str:
        event_type, params, fields = VERBS[verb]
        event = self.bind(event_type, f"_q_{event_type.__name__}")
        fallback = f"_q_interpret(self, {event}({', '.join(fields)}))"
        again = ", ".join(f if f == "job_id" else f"{f}={f}" for f in fields)
        lines = self.body(verb, fallback, f"twin.{verb}({again})", "    ")
        return "\n".join([f"def {verb}(self, {params}):", *lines])

    def handle(self) -> str:
        """``Session.handle(event)``: each verb's body again, reading the event's fields, in
        one function (a call is one frame); other events go to the interpreter."""
        lines = ["def handle(self, event):", "    kind = _q_type(event)"]
        for verb in self.verbs:
            event_type, _, fields = VERBS[verb]
            name = self.bind(event_type, f"_q_{event_type.__name__}")
            lines += [
                f"    if kind is {name}:",
                f"        {', '.join(fields)} = {', '.join(f'event.{f}' for f in fields)}",
                *self.body(verb, "_q_interpret(self, event)", "twin.handle(event)", "        "),
            ]
        lines += [
            "    if kind is _q_Advance:",
            "        at = event.at",
            *self.advance_body("_q_interpret(self, event)", "        "),
            "    return _q_interpret(self, event)",
        ]
        return "\n".join(lines)

    def body(self, verb: str, fallback: str, again: str, pad: str) -> list[str]:
        """A verb's code: check the ordinary case (else ``return fallback``), then the rows
        of the current state. When a timer is due, the timers fire on a fork of the record
        (``engine.handle`` does the same) and ``again`` applies the event to the fork."""
        fields = VERBS[verb][2]
        give_up = f"{pad}    return {fallback}"
        lines = [f"{pad}rec = self._rec"]
        checks = ["not rec.last_at <= at < rec.deadline"]
        if "job_id" in fields:
            checks.append("_q_type(job_id) is not _q_str")
        lines += [
            f"{pad}if {' or '.join(checks)}:",
            f"{pad}    if rec.deadline <= at and rec.last_at <= at < _q_inf:",
            f"{pad}        twin = _q_object_new(_q_type(self))",
            f"{pad}        twin._rec = fork(rec)",
            f"{pad}        effects = []",
            f"{pad}        if fire(twin._rec, at, effects):",
            f"{pad}            more = {again}",
            f"{pad}            self._rec = twin._rec",
            f"{pad}            return (*effects, *more)",
            give_up,
        ]
        rule = JOB_TRANSITIONS.get(verb)
        if verb == "submit":
            lines += [
                f"{pad}jobs = rec.job_rows",
                f"{pad}if not job_id or job_id in jobs:",
                give_up,
                f"{pad}if target is not None:",
                f"{pad}    _own = rec.policy.target",
                f"{pad}    if _own is not None and target != _own:",
                f"    {give_up}",
            ]
        elif rule is not None:
            needs = sorted(rule[0])
            test = (
                f"job[0] is not {self.constant(needs[0])}"
                if len(needs) == 1
                else f"job[0] not in {self.constant(rule[0], f'_q_{verb}_needs')}"
            )
            lines += [
                f"{pad}jobs = rec.job_rows",
                f"{pad}job = jobs.get(job_id)",
                f"{pad}if job is None or {test}:",
                give_up,
            ]
        lines.append(f"{pad}state = rec.state")
        keyword = "if"
        for state, rows in self.machine.table.items():
            if verb not in rows:
                continue
            lines.append(f"{pad}{keyword} state is {self.states[state]}:")
            lines += self.rows(verb, state, rows[verb], pad + "    ", timer=False)
            keyword = "elif"
        lines.append(f"{pad}return {fallback}")
        return lines

    # -- one (state, verb) row group ---------------------------------------------------------

    def rows(
        self, verb: str, source: StrEnum, rows: tuple[Transition, ...], pad: str, *, timer: bool
    ) -> list[str]:
        """The rows of ``verb`` (an event or a timer) in ``source``, first passing guard wins;
        each row returns its effects (a timer's row appends them and goes on firing)."""
        lines: list[str] = []
        for i, row in enumerate(rows):
            if row.guard is None:
                lines += [f"{pad}# row {i + 1}: -> {row.target}"]
                lines += self.row(verb, source, row, pad, timer=timer)
                return lines
            test = self.guard(verb, row.guard, lines, pad)
            lines += [f"{pad}if {test}:  # row {i + 1}: -> {row.target}"]
            lines += self.row(verb, source, row, pad + "    ", timer=timer)
        return lines

    def guard(self, verb: str, guard: Callable[..., Any], lines: list[str], pad: str) -> str:
        inlined = _Inliner(self, verb, guard).expression()
        if inlined is not None:
            return inlined
        self.event(verb, lines, pad)
        return f"{self.bind(guard, guard.__name__)}(rec, _ev)"

    def event(self, verb: str, lines: list[str], pad: str) -> None:
        """Build the event object, for a guard or action that needs it whole."""
        if verb not in VERBS:
            lines.append(f"{pad}_ev = {self.bind(Expire, '_q_Expire')}({verb!r}, at)")
            return
        event_type, _, fields = VERBS[verb]
        lines.append(
            f"{pad}_ev = {self.bind(event_type, '_q_' + event_type.__name__)}({', '.join(fields)})"
        )

    def row(
        self, verb: str, source: StrEnum, row: Transition, pad: str, *, timer: bool
    ) -> list[str]:
        """One row, validated: bookkeeping, the action, then ``engine.settle``'s work."""
        action, appends, written = self.action(verb, row, pad)
        writes = None if written is None else BOOKED.get(verb, frozenset()) | written
        moved = row.target is not source
        tracks = {
            field: writes is None or field in writes for field in ("accepting_jobs", "exclusive")
        }
        body: list[str] = []
        if tracks["accepting_jobs"] and not moved:
            body.append(f"{pad}_acc = rec.accepting_jobs")
        if tracks["exclusive"]:
            body.append(f"{pad}_exc = rec.exclusive")
        body += self.book(verb, pad)
        if appends and not timer:
            body.append(f"{pad}effects = []")
        body += action
        if moved:
            entry = f"({str(row.target)!r}, at)"
            body += [
                f"{pad}rec.state = {self.states[row.target]}",
                f"{pad}_ts = rec.timestamps",
                f"{pad}if _ts:",
                f"{pad}    _ts.append({entry})",
                f"{pad}else:",
                f"{pad}    rec.timestamps = [{entry}]",
            ]
        reads = self.reads(row.target)
        if moved or writes is None or reads is None or writes & reads:
            body += self.deadline(row.target, pad)
        if not timer:
            body.append(f"{pad}rec.last_at = at")
        changed = (
            f"_q_StateChanged(rec.session_id, at, {str(source)!r}, {str(row.target)!r},"
            f" rec.accepting_jobs, {verb!r})"
        )
        effects: list[tuple[str | None, str]] = []
        if moved:
            effects.append((None, changed))
        elif tracks["accepting_jobs"]:
            effects.append(("_acc is not rec.accepting_jobs", changed))
        if tracks["exclusive"]:
            effects.append(
                (
                    "_exc is not rec.exclusive",
                    "_q_ExclusivityChanged(rec.session_id, at, rec.exclusive)",
                )
            )
        if timer:
            for test, effect in effects:
                body += (
                    [f"{pad}effects.append({effect})"]
                    if test is None
                    else [
                        f"{pad}if {test}:",
                        f"{pad}    effects.append({effect})",
                    ]
                )
            return [*body, f"{pad}continue"]
        return body + self.effects(effects, appends, pad)

    def action(
        self, verb: str, row: Transition, pad: str
    ) -> tuple[list[str], bool, frozenset[str] | None]:
        """The row's action inlined (or called with the event), whether it may append
        effects, and the record fields it writes (None: unknown)."""
        if row.action is None:
            return [], False, frozenset()
        access = _access(row.action, 0)
        written = None if access is None else access.writes
        inliner = _Inliner(self, verb, row.action)
        statements = inliner.statements()
        if statements is not None:
            return [pad + line for line in statements], inliner.uses_effects, written
        lines: list[str] = []
        self.event(verb, lines, pad)
        lines.append(f"{pad}{self.bind(row.action, row.action.__name__)}(rec, _ev, effects)")
        return lines, True, written

    @staticmethod
    def effects(effects: list[tuple[str | None, str]], appends: bool, pad: str) -> list[str]:
        """Return the action's effects, then each ``(condition, effect)`` whose condition
        holds (None: always), as ``Session.handle`` returns them."""
        if not effects and not appends:
            return [f"{pad}return ()"]
        if not appends and all(test is None for test, _ in effects):
            return [f"{pad}return ({', '.join(effect for _, effect in effects)},)"]
        lines = [] if appends else [f"{pad}effects = []"]
        for test, effect in effects:
            if test is None:
                lines.append(f"{pad}effects.append({effect})")
            else:
                lines += [f"{pad}if {test}:", f"{pad}    effects.append({effect})"]
        lines.append(f"{pad}return tuple(effects) if effects else ()")
        return lines

    def book(self, verb: str, pad: str) -> list[str]:
        """``engine.book`` for a known verb, validated job ``job`` and job map ``jobs``."""
        if verb == "submit":
            queued = _job(self.constant(JobState.QUEUED), "at", "None", "None", "None")
            return [
                f"{pad}if not jobs:",
                f"{pad}    rec.job_rows = jobs = {{}}",
                f"{pad}jobs[job_id] = {queued}",
                f"{pad}rec.in_flight += 1",
                f"{pad}rec.last_submitted_at = at",
            ]
        rule = JOB_TRANSITIONS.get(verb)
        if rule is None:
            return []
        end = rule[1]
        if end is JobState.RUNNING:
            return [
                f"{pad}jobs[job_id] = {_job(self.constant(end), 'job[1]', 'at', 'None', 'None')}",
                f"{pad}rec.last_job_started = at",
                f"{pad}if rec.started_at is None:",
                f"{pad}    rec.started_at = at",
            ]
        reason = "reason" if verb == "job_failed" else "None"
        lines = [
            f"{pad}jobs[job_id] = {_job(self.constant(end), 'job[1]', 'job[2]', 'at', reason)}",
            f"{pad}rec.in_flight -= 1",
            f"{pad}rec.last_job_completed = at",
        ]
        if end is JobState.FAILED:
            lines.append(f"{pad}rec.failures += 1")
        return lines

    def reads(self, state: StrEnum) -> frozenset[str] | None:
        """Every record field the deadlines armed in ``state`` read (None: unknown)."""
        fields: frozenset[str] = frozenset()
        for _, deadline in self.machine.armed[state]:
            access = _access(deadline, 0)
            if access is None:
                return None
            fields |= access.reads
        return fields

    def deadline(self, state: StrEnum, pad: str) -> list[str]:
        """Set ``rec.deadline`` to the earliest armed timer (``engine.next_deadline``)."""
        armed = self.machine.armed[state]
        if not armed:
            return [f"{pad}rec.deadline = _q_inf"]
        lines = [f"{pad}_d = _q_inf"]
        for timer, function in armed:
            inlined = _Inliner(self, None, function).expression()
            call = f"{self.bind(function, function.__name__)}(rec)"
            lines += [f"{pad}_t = {call if inlined is None else inlined}  # {timer}"]
            lines += [f"{pad}if _t is not None and _t < _d:", f"{pad}    _d = _t"]
        lines.append(f"{pad}rec.deadline = _d")
        return lines


def _job(*fields: str) -> str:
    """A job row (``records.JobRow``): the fields of ``Job`` as a plain tuple."""
    return f"({', '.join(fields)})"


@attrs.frozen
class _Access:
    reads: frozenset[str]
    writes: frozenset[str]


_ACCESS: dict[tuple[Callable[..., Any], int], _Access | None] = {}


def _access(function: Callable[..., Any], position: int) -> _Access | None:
    """The record fields ``function`` reads and writes through its parameter ``position``
    (following calls it passes the record to); None when that cannot be told from its source."""
    key = (function, position)
    if key not in _ACCESS:
        _ACCESS[key] = None  # a recursive call is unknown until the outer one is done
        _ACCESS[key] = _analyse(function, position)
    return _ACCESS[key]


def _analyse(function: Callable[..., Any], position: int) -> _Access | None:
    tree = _function_ast(function, inline=False)
    if tree is None or position >= len(tree.args.args):
        return None
    name = tree.args.args[position].arg
    reads: set[str] = set()
    writes: set[str] = set()
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and node.id == name):
            continue
        if isinstance(node.ctx, ast.Store | ast.Del):
            return None
        parent = parents[id(node)]
        if isinstance(parent, ast.Attribute):
            owner = parents[id(parent)]
            method = getattr(SessionRecord, parent.attr, None)
            if isinstance(owner, ast.Call) and owner.func is parent:
                inner = _access(method, 0) if isinstance(method, FunctionType) else None
                if inner is None:
                    return None
                reads |= inner.reads
                writes |= inner.writes
            elif isinstance(parent.ctx, ast.Store | ast.Del):
                writes.add(parent.attr)
            elif (
                isinstance(owner, ast.Subscript)
                and owner.value is parent
                and isinstance(owner.ctx, ast.Store | ast.Del)
            ) or (isinstance(owner, ast.Attribute) and owner.value is parent):
                reads.add(parent.attr)
                writes.add(parent.attr)
            else:
                reads.add(parent.attr)
            if isinstance(owner, ast.AugAssign) and owner.target is parent:
                reads.add(parent.attr)
        elif isinstance(parent, ast.Call) and node in parent.args:
            callee = _resolve(function, parent.func)
            if callee in _READ_ONLY_BUILTINS:
                continue
            inner = (
                _access(callee, parent.args.index(node))
                if isinstance(callee, FunctionType)
                else None
            )
            if inner is None:
                return None
            reads |= inner.reads
            writes |= inner.writes
        else:
            return None
    return _Access(frozenset(reads), frozenset(writes))


def _resolve(function: Callable[..., Any], node: ast.expr) -> Any:
    """The object a global name in ``function``'s source refers to (None if not a name)."""
    if not isinstance(node, ast.Name):
        return None
    scope = getattr(function, "__globals__", {})
    return scope.get(node.id, getattr(builtins, node.id, None))


def _function_ast(function: Any, *, inline: bool = True) -> ast.FunctionDef | None:
    """The parsed ``def`` of a plain module-level function, or None (lambdas, closures,
    functions without source; with ``inline``, also those with decorators or ``*args``)."""
    if not isinstance(function, FunctionType) or function.__code__.co_freevars:
        return None
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef) or node.name != function.__name__:
        return None
    if inline and (
        node.decorator_list or node.args.vararg or node.args.kwarg or node.args.kwonlyargs
    ):
        return None
    return node


class _Inliner:
    """Inlines a guard, action or deadline into a generated verb.

    The function's parameters become the verb's locals: the record is ``rec``, the event's
    fields are the verb's arguments (``event.at`` is ``at``), the effects list is
    ``effects``; its own locals are renamed apart and its globals bound in the namespace.
    Calls to plain ``(rec, event, effects)`` helpers are inlined in turn. A function that
    needs the event object itself, returns early, or defines nested scopes is not inlined.
    """

    def __init__(self, writer: _Writer, verb: str | None, function: Callable[..., Any]) -> None:
        self.writer = writer
        self.verb = verb
        self.function = function
        self.uses_effects = False

    def expression(self) -> str | None:
        """A guard or deadline as one expression, or None."""
        tree = _function_ast(self.function)
        if tree is None:
            return None
        body = _strip_docstring(tree.body)
        expr = _as_expression(body)
        if expr is None:
            return None
        rewritten = self.rewrite(self.function, tree, [ast.Expr(expr)], depth=-1)
        if rewritten is None or self.uses_effects:
            return None
        node = rewritten[0]
        assert isinstance(node, ast.Expr)
        return ast.unparse(node.value)

    def statements(self) -> list[str] | None:
        """An action as statements, or None."""
        tree = _function_ast(self.function)
        if tree is None:
            return None
        rewritten = self.rewrite(self.function, tree, _strip_docstring(tree.body), depth=0)
        if rewritten is None:
            return None
        module = ast.Module(body=rewritten or [ast.Pass()], type_ignores=[])
        return ast.unparse(ast.fix_missing_locations(module)).splitlines()

    def rewrite(
        self, function: Callable[..., Any], tree: ast.FunctionDef, body: list[ast.stmt], depth: int
    ) -> list[ast.stmt] | None:
        params = [arg.arg for arg in tree.args.args]
        if len(params) > 3 or depth > 4:
            return None
        roles = dict(zip(params, ("rec", "event", "effects"), strict=False))
        stored = {
            node.id
            for node in ast.walk(ast.Module(body=body, type_ignores=[]))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
        }
        if stored & set(params):
            return None
        renamed = {name: f"_{function.__name__.lstrip('_')}_{name}" for name in stored}
        out: list[ast.stmt] = []
        for statement in body:
            inlined = None if depth < 0 else self.inline_call(function, statement, roles, depth)
            if inlined is not None:
                out += inlined
                continue
            if any(
                isinstance(node, (*_SCOPES, ast.Return, ast.Global, ast.Nonlocal))
                for node in ast.walk(statement)
            ):
                return None
            transformed = _Rewriter(self, function, roles, renamed).visit(statement)
            if transformed is None or _Rewriter.failed(transformed):
                return None
            out.append(transformed)
        return out

    def inline_call(
        self, function: Callable[..., Any], statement: ast.stmt, roles: dict[str, str], depth: int
    ) -> list[ast.stmt] | None:
        """The body of ``helper(rec, event, effects)`` when ``statement`` is such a call."""
        if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
            return None
        call = statement.value
        if call.keywords or not all(
            isinstance(arg, ast.Name) and roles.get(arg.id) for arg in call.args
        ):
            return None
        callee = _resolve(function, call.func)
        tree = _function_ast(callee) if callee is not None else None
        if tree is None or len(tree.args.args) != len(call.args):
            return None
        passed = [roles[arg.id] for arg in call.args if isinstance(arg, ast.Name)]
        if passed != ["rec", "event", "effects"][: len(passed)]:
            return None
        return self.rewrite(callee, tree, _strip_docstring(tree.body), depth + 1)


_SCOPES = (ast.Lambda, ast.FunctionDef, ast.ClassDef, ast.comprehension, ast.AsyncFunctionDef)


class _Rewriter(ast.NodeTransformer):
    """Maps one inlined statement's names onto the generated verb's (see ``_Inliner``)."""

    _FAILED = "_q_cannot_inline"

    def __init__(
        self,
        inliner: _Inliner,
        function: Callable[..., Any],
        roles: dict[str, str],
        renamed: dict[str, str],
    ) -> None:
        self.inliner = inliner
        self.function = function
        self.roles = roles
        self.renamed = renamed

    @classmethod
    def failed(cls, node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id == cls._FAILED for n in ast.walk(node))

    def fail(self) -> ast.Name:
        return ast.Name(self._FAILED, ast.Load())

    def event_field(self, field: str, default: ast.expr | None) -> ast.expr:
        verb = self.inliner.verb
        if verb is None:
            return self.fail()
        if field == "at" or (verb in VERBS and field in VERBS[verb][2]):
            return ast.Name(field, ast.Load())
        if field == "name" or (field == "timer" and verb not in VERBS):
            return ast.Constant(verb)
        return default if default is not None else self.fail()

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        value = node.value
        if isinstance(value, ast.Name) and self.roles.get(value.id) == "event":
            return self.event_field(node.attr, None)
        if isinstance(value, ast.Name) and isinstance(node.ctx, ast.Load):
            owner = _resolve(self.function, value)
            if (
                value.id not in self.roles
                and value.id not in self.renamed
                and isinstance(owner, type)
                and issubclass(owner, Enum)
                and node.attr in owner.__members__
            ):
                return ast.Name(self.inliner.writer.constant(owner[node.attr]), ast.Load())
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        args = node.args
        if (
            isinstance(node.func, ast.Name)
            and _resolve(self.function, node.func) is getattr
            and len(args) in (2, 3)
            and isinstance(args[0], ast.Name)
            and self.roles.get(args[0].id) == "event"
            and isinstance(args[1], ast.Constant)
            and isinstance(args[1].value, str)
        ):
            default = self.visit(args[2]) if len(args) == 3 else None
            return self.event_field(args[1].value, default)
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        role = self.roles.get(node.id)
        if role == "event":
            return self.fail()
        if role == "effects":
            self.inliner.uses_effects = True
        if role is not None:
            return ast.Name(role, node.ctx)
        if node.id in self.renamed:
            return ast.Name(self.renamed[node.id], node.ctx)
        scope = getattr(self.function, "__globals__", {})
        if node.id in scope:
            obj = scope[node.id]
        elif hasattr(builtins, node.id):
            obj = getattr(builtins, node.id)
        else:
            return self.fail()
        return ast.Name(self.inliner.writer.bind(obj, node.id), node.ctx)


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:]
    return body


def _as_expression(body: list[ast.stmt]) -> ast.expr | None:
    """``return e`` as ``e``; ``if t: <a>`` then ``<b>`` as ``(a) if t else (b)``; a local
    bound to a plain attribute read is substituted where it is used. None otherwise."""
    if not body:
        return None
    first, rest = body[0], body[1:]
    if isinstance(first, ast.Return) and first.value is not None and not rest:
        return first.value
    if isinstance(first, ast.If):
        then = _as_expression(first.body)
        other = _as_expression(first.orelse + rest if first.orelse else rest)
        if then is None or other is None or (first.orelse and rest):
            return None
        return ast.IfExp(first.test, then, other)
    if (
        isinstance(first, ast.Assign)
        and len(first.targets) == 1
        and isinstance(first.targets[0], ast.Name)
        and _is_plain_read(first.value)
    ):
        local, value = first.targets[0].id, first.value
        rest_expr = _as_expression(rest)
        if rest_expr is None:
            return None
        return _Substitute(local, value).visit(rest_expr)  # type: ignore[no-any-return]
    return None


def _is_plain_read(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) or (
        isinstance(node, ast.Attribute) and _is_plain_read(node.value)
    )


class _Substitute(ast.NodeTransformer):
    def __init__(self, name: str, value: ast.expr) -> None:
        self.name = name
        self.value = value

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return self.value if node.id == self.name else node
