"""Draw the state machines of domain/states.py as Mermaid diagrams in docs/architecture.md.

    python scripts/state_diagrams.py          # rewrite the diagrams in the doc
    python scripts/state_diagrams.py --check  # exit 1 if the doc is out of step (tests run this)
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

from taskloom.domain.states import RUN_TERMINAL, RUN_TRANSITIONS, TASK_TERMINAL, TASK_TRANSITIONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
BEGIN, END = "<!-- state diagrams: begin (scripts/state_diagrams.py) -->", "<!-- state diagrams: end -->"


def _diagram(title: str, initial: list[str], table: dict[StrEnum, frozenset[StrEnum]],
             terminal: frozenset[StrEnum]) -> str:
    order = list(table)
    lines = [f"**{title}**", "", "```mermaid", "stateDiagram-v2"]
    lines += [f"    [*] --> {s}" for s in initial]
    for source in order:
        for target in sorted(table[source], key=order.index):
            lines.append(f"    {source.value} --> {target.value}")
    lines += [f"    {s.value} --> [*]" for s in sorted(terminal, key=order.index)]
    lines.append("```")
    return "\n".join(lines)


def render() -> str:
    return "\n\n".join([
        BEGIN,
        _diagram("Task", ["draft", "pending"], dict(TASK_TRANSITIONS), TASK_TERMINAL),
        _diagram("Run", ["queued"], dict(RUN_TRANSITIONS), RUN_TERMINAL),
        END,
    ])


def updated(doc: str) -> str:
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{DOC} has no {BEGIN} ... {END} block")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + render() + tail


def main(argv: list[str]) -> int:
    doc = DOC.read_text()
    new = updated(doc)
    if "--check" in argv:
        if new != doc:
            print(f"{DOC} is out of step with domain/states.py: run python scripts/state_diagrams.py")
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
