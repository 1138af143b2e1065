"""The issue's targets beside the figures measured in this run, printed as one table at the end."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    target: str
    figure: str
    met: bool | None  # None: a figure without a target, or "-" when not measured in this run


VERDICTS: list[Verdict] = []


def record(target: str, figure: str, met: bool | None) -> bool | None:
    """Keep one line of the final table; returns `met` so callers can print it too."""
    VERDICTS.append(Verdict(target, figure, met))
    return met


def mark(met: bool | None, figure: str = "") -> str:
    if met is None:
        return "not measured" if figure == "-" else "(no target)"
    return "met" if met else "NOT met"


def table(timings: dict[str, float]) -> list[str]:
    width = max([len(v.target) for v in VERDICTS] + [6])
    figure_width = max([len(v.figure) for v in VERDICTS] + [6])
    lines = ["== summary", f"  {'target':<{width}}  {'figure':<{figure_width}}  status"]
    lines += [f"  {v.target:<{width}}  {v.figure:<{figure_width}}  {mark(v.met, v.figure)}" for v in VERDICTS]
    lines.append("  sections: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()))
    lines.append(f"  total: {sum(timings.values()):.0f} s")
    return lines
