"""The results table (stdout and bench/RESULTS.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class Row:
    part: str
    measure: str
    result: str
    target: str = "—"
    verdict: str = ""  # PASS / MISS / "" (no target)


@dataclass
class Report:
    machine: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the bottleneck in one line per finding
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    runtime_s: float = 0.0
    command: str = "python -m bench"

    def add(self, *args: str) -> None:
        self.rows.append(Row(*args))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def section(self, title: str, lines: list[str]) -> None:
        self.sections.append((title, lines))

    def table(self) -> list[str]:
        head = ("#", "measure", "result", "target", "")
        rows = [head, *[(r.part, r.measure, r.result, r.target, r.verdict) for r in self.rows]]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = []
        for n, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return lines

    def print_table(self) -> None:
        print("\n== Results ==")
        for line in self.table():
            print("  " + line)
        if self.notes:
            print("\n== What bounds the misses ==")
            for note in self.notes:
                print(f"  - {note}")

    def markdown(self) -> str:
        out = ["# YABOT benchmark results\n",
               f"Run {self.started:%Y-%m-%d %H:%M} UTC with `{self.command}` "
               f"({self.runtime_s / 60:.1f} min). Regenerate with `make bench`; this file is "
               "overwritten by every run.\n",
               "## Machine\n"]
        out += [f"- {k}: {v}" for k, v in self.machine.items()]
        out += ["", "## Results", "",
                "| # | measure | result | target | |", "|---|---|---|---|---|"]
        out += [f"| {r.part} | {r.measure} | {r.result} | {r.target} | "
                f"{'**' + r.verdict + '**' if r.verdict else ''} |" for r in self.rows]
        if self.notes:
            out += ["", "## What bounds the misses", ""] + [f"- {n}" for n in self.notes]
        for title, lines in self.sections:
            out += ["", f"## {title}", "", "```", *[line.rstrip() for line in lines], "```"]
        return "\n".join(out) + "\n"

    def write(self) -> Path:
        RESULTS.write_text(self.markdown(), encoding="utf-8")
        return RESULTS
