"""The report's PNG plots, drawn with matplotlib's Agg backend (imported inside the functions, so importing
this module has no side effects) and never through pyplot. Each function writes one PNG atomically and
returns its path."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webgen.benchmark.results import Row, SiteResult, Summary

ROBUST_COLOR = "#1f4e79"
SUBSTRING_COLOR = "#9dc3e6"
PALETTE = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2f5597")


def accuracy_by_category(robust: Summary, substring: Summary, path: Path) -> Path:
    """Horizontal bars: accuracy (%) overall and per category, robust scoring beside the substring scoring."""
    rows = _category_rows(robust)
    others = {row.label: row for row in _category_rows(substring)}
    labels = [f"{prefix}{row.label} (n={row.cases})" for prefix, row in _prefixed(robust)]
    ours = [100 * row.accuracy for row in rows]
    theirs = [100 * others[row.label].accuracy if row.label in others else 0.0 for row in rows]
    fig, ax = _figure(height=1.2 + 0.55 * len(rows))
    positions = list(range(len(rows)))
    bars = ax.barh([p - 0.2 for p in positions], ours, height=0.4, color=ROBUST_COLOR, label="robust verdicts")
    other = ax.barh([p + 0.2 for p in positions], theirs, height=0.4, color=SUBSTRING_COLOR, label="substring scoring")
    ax.bar_label(bars, fmt="%.1f", padding=3, fontsize=8)
    ax.bar_label(other, fmt="%.1f", padding=3, fontsize=7, color="#555555")
    ax.set_yticks(positions, labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("accuracy, % of test cases (YES + 0.5 x PARTIAL)")
    ax.set_title("WebGen-Bench accuracy by category")
    _legend_below(ax, columns=2)
    return _save(fig, path)


def appearance_hist(sites: Sequence[SiteResult], path: Path) -> Path:
    """Bars: how many sites got each appearance grade (0 = failed or unjudged, 1-5 from the judge)."""
    counts = Counter(site.appearance for site in sites)
    grades = list(range(6))
    fig, ax = _figure()
    bars = ax.bar(grades, [counts.get(g, 0) for g in grades], color=ROBUST_COLOR)
    ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_xticks(grades, ["0\n(failed)", "1", "2", "3", "4", "5"])
    ax.set_xlabel("appearance grade (vision judge, first 1024x768 viewport)")
    ax.set_ylabel("sites")
    _integer_counts(ax)
    ax.set_title(f"Appearance grades ({len(sites)} sites)")
    ax.margins(y=0.15)
    return _save(fig, path)


def best_step_hist(best_steps: Sequence[int], path: Path) -> Path:
    """Bars: how many agent runs reached their best step at each step index."""
    counts = Counter(best_steps)
    steps = list(range(min(counts, default=0), max(counts, default=0) + 1))
    fig, ax = _figure()
    bars = ax.bar(steps, [counts.get(s, 0) for s in steps], color=PALETTE[2])
    ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_xticks(steps)
    ax.set_xlabel("step at which the best step was reached")
    ax.set_ylabel("runs")
    _integer_counts(ax)
    ax.set_title(f"Step at which the best step was reached ({len(best_steps)} agent runs)")
    ax.margins(y=0.15)
    return _save(fig, path)


def grouped_bars(categories: Sequence[str], series: dict[str, Sequence[float | None]], path: Path) -> Path:
    """Grouped vertical bars: one group per category, one bar per series (a missing value is not drawn)."""
    fig, ax = _figure(width=max(7.0, 1.1 * len(categories) * max(1, len(series)) / 2), height=4.8)
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories)) if values[c] is not None]
        ys = [v for v in values if v is not None]
        bars = ax.bar(xs, ys, width=width, label=name, color=PALETTE[i % len(PALETTE)])
        ax.bar_label(bars, fmt="%.1f", padding=2, fontsize=7)
    ax.set_xticks(range(len(categories)), [c.replace(" ", "\n", 1) for c in categories], fontsize=8)
    ax.set_ylabel("accuracy, % of test cases")
    ax.set_ylim(0, 108)
    ax.set_title("WebGen-Bench accuracy side by side (runs: robust verdicts)")
    _legend_below(ax, columns=min(3, max(1, len(series))))
    return _save(fig, path)


def _legend_below(ax: Any, *, columns: int) -> None:
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=columns, fontsize=8, frameon=False)


def _integer_counts(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _category_rows(summary: Summary) -> list[Row]:
    return [summary.overall, *summary.by_instruction_category, *summary.by_case_category]


def _prefixed(summary: Summary) -> list[tuple[str, Row]]:
    return [
        ("", summary.overall),
        *(("instruction: ", row) for row in summary.by_instruction_category),
        *(("test case: ", row) for row in summary.by_case_category),
    ]


def _figure(width: float = 7.0, height: float = 4.0) -> tuple[Any, Any]:
    """A figure drawn by the Agg canvas directly: no pyplot, so no global backend state and no GUI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.grid(axis="both", alpha=0.25)
    ax.set_axisbelow(True)
    return fig, ax


def _save(fig: Any, path: Path) -> Path:
    """Write the figure to `path` through a temporary file in the same folder (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # readable like any file the user writes (mkstemp makes it 0600)
        with os.fdopen(fd, "wb") as handle:
            fig.tight_layout()
            fig.savefig(handle, format="png", bbox_inches="tight", metadata={"Software": None})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
