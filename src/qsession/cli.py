"""The qsession command.

Every failure is one line on stderr that says what was wrong and what to do: a usage error, a
missing optional extra (with the pip command that installs it), a refused session setting.
Ctrl-C ends a command with what it did so far; a closed pipe (``qsession spec | head``) ends it
quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import NoReturn

import attrs

from qsession.core import SessionError, policies
from qsession.core.policies import Policy
from qsession.core.session import compiled_source
from qsession.spec import RULES, SERVICE_READINGS

DESCRIPTION = (
    "IBM Qiskit Runtime and Azure Quantum session rules, executable. 'qsession demo' runs a"
    " VQE in a local session and shows what the rules did to it; 'qsession serve' runs a local"
    " cloud the unmodified SDK clients talk to; 'qsession spec' prints the rule catalogue."
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with usage errors printed as one line that points at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


@attrs.frozen
class Command:
    """A subcommand whose code lives in an optional extra: its module (with a ``main(argv)``),
    that extra, and its line in ``qsession --help``."""

    module: str
    extra: str
    help: str


COMMANDS: dict[str, Command] = {
    "demo": Command(
        "qsession.adapters.local.demo",
        "local",
        "run a VQE in a local session and show what the session rules did to it",
    ),
    "serve": Command(
        "qsession.adapters.emulator.serve",
        "serve",
        "run the local IBM Qiskit Runtime and Azure Quantum cloud, with a dashboard",
    ),
}
#: Modules of extras a command may need besides its own (``demo --plot`` draws with matplotlib).
MODULE_EXTRAS: dict[str, str] = {"matplotlib": "plot"}

DIAGRAMS: dict[str, tuple[Policy, str]] = {
    "ibm": (policies.ibm_session(), "IBM Qiskit Runtime session (premium plan)"),
    "ibm-batch": (policies.ibm_batch(), "IBM Qiskit Runtime batch"),
    "azure": (policies.azure_session("ionq.simulator"), "Azure Quantum session"),
}


def build_parser() -> OneLineParser:
    """``qsession`` and its options (``demo`` and ``serve`` parse their own)."""
    parser = OneLineParser(prog="qsession", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=f"{command.help} (see 'qsession {name} --help')")
    spec = commands.add_parser(
        "spec",
        help="print the rule catalogue with the sources of each rule",
        description="Print the rule catalogue: each rule's id, sentence, source and reading.",
    )
    spec.add_argument(
        "--diagram",
        choices=sorted(DIAGRAMS),
        help="print the Mermaid state diagram of one machine instead",
    )
    spec.add_argument(
        "--compiled",
        choices=sorted(DIAGRAMS),
        help="print the Python the core generated from one machine's chart instead",
    )
    return parser


def print_spec(diagram: str | None) -> None:
    if diagram is not None:
        policy, title = DIAGRAMS[diagram]
        print(f"%% {title}: {policy!r}")
        print(format(policy.machine.chart, "mermaid"))
        return
    for rule in (*RULES, *SERVICE_READINGS):
        print(f"{rule.id}  [{rule.provider}]")
        print(textwrap.fill(rule.sentence, 96, initial_indent="  ", subsequent_indent="  "))
        print(
            textwrap.fill(
                f"source: {rule.source}", 96, initial_indent="  ", subsequent_indent="    "
            )
        )
        if rule.reading:
            print(
                textwrap.fill(
                    f"reading: {rule.reading}", 96, initial_indent="  ", subsequent_indent="    "
                )
            )
        print()
    print(f"{len(RULES)} rules; {len(SERVICE_READINGS)} readings of the emulated services")


def print_compiled(machine: str) -> None:
    policy, title = DIAGRAMS[machine]
    print(f"# {title}: the generated hot path of every {policy.machine.name} session")
    print(compiled_source(policy.machine), end="")


def _missing_extra(command: str, exc: ImportError) -> str | None:
    """The one-line message for a module of an uninstalled extra, or None if it is not one."""
    if exc.name is None:
        return None
    top = exc.name.split(".")[0]
    extra = MODULE_EXTRAS.get(top) or (COMMANDS[command].extra if command in COMMANDS else None)
    if extra is None or top == "qsession":
        return None
    return (
        f"qsession {command} needs the '{extra}' extra, which is not installed (no module"
        f" named {exc.name!r}); install it with: pip install 'qsession[{extra}]'"
    )


def _run(args: Sequence[str]) -> int:
    name = args[0] if args else ""
    if name in COMMANDS:
        module = importlib.import_module(COMMANDS[name].module)
        entry: Callable[[list[str]], int] = module.main
        return entry(list(args[1:]))
    options = build_parser().parse_args(args)
    if options.compiled:
        print_compiled(options.compiled)
        return 0
    print_spec(options.diagram)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qsession``; every failure becomes one line on stderr and an exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else ""
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (``| head``): stop writing, and let the interpreter's final
        # flush go to /dev/null instead of raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"qsession {command}: interrupted", file=sys.stderr)
        return 130
    except ImportError as exc:
        message = _missing_extra(command, exc)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 1
    except SessionError as exc:
        print(f"qsession {command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
