"""The ``qsession`` command: ``qsession demo`` runs the main job, ``qsession serve`` runs the
local IBM Runtime and Azure Quantum emulator, ``qsession spec`` prints the rule catalogue
(``--diagram ibm|ibm-batch|azure`` prints a Mermaid state diagram)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from qsession.core import policies
from qsession.core.policies import Policy
from qsession.spec import RULES

DIAGRAMS: dict[str, tuple[Policy, str]] = {
    "ibm": (policies.ibm_session(), "IBM Qiskit Runtime session (premium plan)"),
    "ibm-batch": (policies.ibm_batch(), "IBM Qiskit Runtime batch"),
    "azure": (policies.azure_session("ionq.simulator"), "Azure Quantum session"),
}


def print_spec(diagram: str | None) -> None:
    if diagram is not None:
        policy, title = DIAGRAMS[diagram]
        print(f"%% {title}: {policy!r}")
        print(format(policy.machine.chart, "mermaid"))
        return
    for rule in RULES:
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
    print(f"{len(RULES)} rules")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["demo"]:
        from qsession.adapters.local.demo import main as demo  # noqa: PLC0415 - local extra

        return demo(args[1:])
    if args[:1] == ["serve"]:
        from qsession.adapters.emulator.serve import main as serve  # noqa: PLC0415 - serve extra

        return serve(args[1:])
    parser = argparse.ArgumentParser(prog="qsession", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the VQE session demo (see `qsession demo --help`)")
    commands.add_parser("serve", help="run the local cloud emulator (`qsession serve --help`)")
    spec = commands.add_parser("spec", help="print the rule catalogue with its sources")
    spec.add_argument("--diagram", choices=sorted(DIAGRAMS), help="print a Mermaid diagram")
    options = parser.parse_args(args)
    print_spec(options.diagram)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
