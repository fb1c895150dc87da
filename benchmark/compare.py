"""Evaluations side by side (`webgen eval report A B ...`): one Markdown comparison of report folders, overall
and per category, with the deltas of the second against the first and the published numbers as labelled
reference rows; optionally written with a grouped bar plot to a folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from webgen.benchmark import plots
from webgen.benchmark.published import NOT_AVAILABLE, PublishedRow, published, setup_warnings
from webgen.benchmark.report import (
    ReportError,
    cell,
    compact,
    load_results,
    pct,
    prepare_report_dir,
    score,
    table,
    write_text,
)
from webgen.benchmark.results import CASE_CATEGORIES, INSTRUCTION_CATEGORIES, EvalResults, Row, Summary, summarize

BENCHMARK_CASES = 647
DASH = "–"
COLUMNS = ["Yes", "Partial", "No", "Start failed", "Accuracy", "Appearance", "VRR", "AAS"]


class _Run:
    """One loaded report: its results, both summaries and its column label."""

    def __init__(self, folder: Path, results: EvalResults, label: str) -> None:
        self.folder = folder
        self.results = results
        self.label = label
        self.robust = summarize(results)
        self.substring = summarize(results, scoring="substring")


def compare_reports(paths: list[Path], out: Path | None = None, *, references: Sequence[str] | None = None) -> str:
    """The comparison of the report folders `paths` as Markdown; with `out`, also `comparison.md` and
    `plots/comparison.png` there. `references` picks published rows by key (None: the default set)."""
    if not paths:
        raise ReportError("give at least one report folder to compare")
    runs = _load(paths)
    try:
        refs = published(list(references) if references is not None else None)
    except ValueError as exc:
        raise ReportError(str(exc)) from exc
    categories = _categories(runs)
    lines = ["# WebGen-Bench comparison", ""]
    lines += _runs_table(runs)
    lines += _caveats(runs)
    lines += _setup(runs, refs)
    lines += _config_differences(runs)
    lines += ["", "## Overall", ""]
    lines += _overall(runs, refs)
    lines += ["", "## Accuracy per category", ""]
    lines += _per_category(runs, refs, categories)
    lines += _sources(refs)
    text = "\n".join(lines) + "\n"
    if out is not None:
        folder = prepare_report_dir(out)
        try:
            _plot(runs, refs, categories, folder / "plots" / "comparison.png")
            write_text(folder / "comparison.md", text + "\n![Accuracy side by side](plots/comparison.png)\n")
        except OSError as exc:
            raise ReportError(f"cannot write the comparison in {folder}: {exc.strerror or exc}") from exc
    return text


def _load(paths: list[Path]) -> list[_Run]:
    """The runs, labelled by name; by name and folder where names repeat; numbered where both repeat."""
    loaded = [(Path(p), load_results(Path(p))) for p in paths]
    names = [results.name for _, results in loaded]
    labels = [
        name if names.count(name) == 1 else f"{name} ({folder.name})"
        for name, (folder, _) in zip(names, loaded, strict=True)
    ]
    labels = [label if labels.count(label) == 1 else f"{names[i]} #{i + 1}" for i, label in enumerate(labels)]
    return [_Run(folder, results, label) for (folder, results), label in zip(loaded, labels, strict=True)]


def _runs_table(runs: list[_Run]) -> list[str]:
    body = [
        [
            cell(run.label),
            cell(str(run.folder)),
            f"{run.results.kind} {cell(run.results.source)}",
            cell(run.results.mode or DASH),
            str(run.robust.tasks),
            str(run.robust.overall.cases),
            str(run.robust.rollouts),
        ]
        for run in runs
    ]
    return table(["Run", "Report", "Source", "Mode", "Tasks", "Test cases", "Rollouts"], body)


def _caveats(runs: list[_Run]) -> list[str]:
    notes = []
    sizes = sorted({run.robust.overall.cases for run in runs})
    if len(sizes) > 1:
        notes.append(f"The runs cover different test sets ({', '.join(map(str, sizes))} cases): compare with care.")
    partial = [run.label for run in runs if run.robust.overall.cases != BENCHMARK_CASES]
    if partial:
        notes.append(
            f"{', '.join(cell(p) for p in partial)}: not the full benchmark ({BENCHMARK_CASES} test cases), "
            "which the reference rows are over."
        )
    return ["", *notes] if notes else []


def _setup(runs: list[_Run], refs: list[PublishedRow]) -> list[str]:
    """Warnings where a run's models are not those of the published setup, and each run's start mode."""
    notes = []
    for run in runs:
        notes += [f"**Warning** ({cell(run.label)}): {w}." for w in setup_warnings(run.results.config, refs)]
        start = run.results.config.get("start")
        if start:
            notes.append(f"{cell(run.label)}: sites started with `--start {cell(str(start))}`.")
    return ["", *notes] if notes else []


def _config_differences(runs: list[_Run]) -> list[str]:
    """The config entries (models, options) whose values differ between the runs."""
    keys = sorted({key for run in runs for key in run.results.config})
    differ = [k for k in keys if len({compact(run.results.config.get(k, DASH)) for run in runs}) > 1]
    if len(runs) < 2 or not differ:
        return []
    body = [[cell(k), *(cell(compact(run.results.config.get(k, DASH)), limit=60) for run in runs)] for k in differ]
    return ["", "Settings that differ:", "", *table(["Setting", *(cell(run.label) for run in runs)], body)]


def _overall(runs: list[_Run], refs: list[PublishedRow]) -> list[str]:
    body = []
    for run in runs:
        body.append([cell(run.label), "benchmark (substring)", *_row_cells(run.substring.overall)])
        body.append([cell(run.label), "ours (robust)", *_row_cells(run.robust.overall)])
    if len(runs) >= 2:
        first, second = runs[0], runs[1]
        delta = f"Δ {cell(second.label)} − {cell(first.label)}"
        body.append([delta, "benchmark (substring)", *_delta_cells(first.substring.overall, second.substring.overall)])
        body.append([delta, "ours (robust)", *_delta_cells(first.robust.overall, second.robust.overall)])
    for ref in refs:
        cells = [ref.yes, ref.partial, ref.no, ref.start_failed, ref.accuracy]
        body.append(
            [
                f"*{cell(ref.label)}*",
                "published",
                *(_printed(v) for v in cells),
                _printed(ref.appearance),
                _printed(ref.vrr),
                _printed(ref.aas),
            ]
        )
    return table(["Run", "Scoring", *COLUMNS], body) + [
        "",
        "Rates, Accuracy and VRR in %; Appearance and AAS on 0-5. Deltas are percentage points (rates) and grade "
        "points (Appearance, AAS). The papers scored verdicts by substring: compare their rows with ours "
        "under benchmark (substring).",
    ]


def _per_category(runs: list[_Run], refs: list[PublishedRow], categories: list[str]) -> list[str]:
    head = ["Run", "Scoring", "Overall", *categories]
    body = []
    for run in runs:
        for name, summary in (("benchmark (substring)", run.substring), ("ours (robust)", run.robust)):
            accuracy = _accuracies(summary)
            body.append(
                [cell(run.label), name, *(_num(accuracy.get(c), 1, scale=100) for c in ["Overall", *categories])]
            )
    if len(runs) >= 2:
        for name, pick in (("benchmark (substring)", "substring"), ("ours (robust)", "robust")):
            before, after = _accuracies(getattr(runs[0], pick)), _accuracies(getattr(runs[1], pick))
            deltas = [
                _signed(100 * (after[c] - before[c]), 1) if c in before and c in after else DASH
                for c in ["Overall", *categories]
            ]
            body.append([f"Δ {cell(runs[1].label)} − {cell(runs[0].label)}", name, *deltas])
    for ref in refs:
        if ref.categories:
            values = [_printed(ref.accuracy), *(_printed(ref.categories.get(c)) for c in categories)]
            body.append([f"*{cell(ref.label)}*", "published", *values])
    return table(head, body) + ["", "Accuracy in % of each category's test cases; – where a run has none."]


def _sources(refs: list[PublishedRow]) -> list[str]:
    """Each source once, with the reference rows taken from it."""
    by_source: dict[str, list[str]] = {}
    for ref in refs:
        models = f"GUI agent {ref.gui_model or DASH}, appearance judge {ref.judge_model or DASH}"
        by_source.setdefault(ref.source, []).append(f"{ref.label.split(', ', 1)[-1]} ({models})")
    return (
        ["", "Reference rows (published numbers as printed):", ""]
        + [f"- {source}: {'; '.join(labels)}" for source, labels in by_source.items()]
        + ["", NOT_AVAILABLE]
    )


def _categories(runs: list[_Run]) -> list[str]:
    """Instruction categories, then test-case categories, each in the paper's order then sorted."""
    seen_instruction = {row.label for run in runs for row in run.robust.by_instruction_category}
    seen_case = {row.label for run in runs for row in run.robust.by_case_category}
    instruction = [c for c in INSTRUCTION_CATEGORIES if c in seen_instruction]
    instruction += sorted(seen_instruction - set(INSTRUCTION_CATEGORIES))
    cases = [c for c in CASE_CATEGORIES if c in seen_case]
    cases += sorted(seen_case - set(CASE_CATEGORIES) - set(instruction))
    return instruction + cases


def _accuracies(summary: Summary) -> dict[str, float]:
    found = {"Overall": summary.overall.accuracy}
    for row in [*summary.by_instruction_category, *summary.by_case_category]:
        if row.cases:  # a category with no known test case has no accuracy
            found.setdefault(row.label, row.accuracy)
    return found


def _plot(runs: list[_Run], refs: list[PublishedRow], categories: list[str], path: Path) -> Path:
    groups = ["Overall", *categories]
    series: dict[str, list[float | None]] = {}
    for run in runs:
        accuracy = _accuracies(run.robust)
        series[run.label] = [100 * accuracy[g] if g in accuracy else None for g in groups]
    reference = next((r for r in refs if r.categories), None)  # one published row, so the groups stay readable
    if reference is not None:
        values = {"Overall": reference.accuracy, **reference.categories}
        series[reference.label] = [values.get(g) for g in groups]
    return plots.grouped_bars(groups, series, path)


def _row_cells(row: Row) -> list[str]:
    rates = [pct(row.yes), pct(row.partial), pct(row.no), pct(row.start_failed), f"**{pct(row.accuracy)}**"]
    return [*rates, score(row.appearance), DASH if row.vrr is None else pct(row.vrr), score(row.aas)]


def _delta_cells(first: Row, second: Row) -> list[str]:
    rates = [
        _signed(100 * (getattr(second, name) - getattr(first, name)), 1)
        for name in ("yes", "partial", "no", "start_failed", "accuracy")
    ]
    grades = [_optional_delta(first.appearance, second.appearance, 1, 2)]
    grades += [_optional_delta(first.vrr, second.vrr, 100, 1), _optional_delta(first.aas, second.aas, 1, 2)]
    return rates + grades


def _optional_delta(first: float | None, second: float | None, scale: float, digits: int) -> str:
    return DASH if first is None or second is None else _signed(scale * (second - first), digits)


def _signed(value: float, digits: int) -> str:
    return f"{(value if round(value, digits) != 0 else 0.0):+.{digits}f}"


def _printed(value: float | None) -> str:
    """A published number as the paper prints it (26.4, 3.0, 29.21)."""
    return DASH if value is None else repr(value)


def _num(value: float | None, digits: int, *, scale: float = 1.0) -> str:
    return DASH if value is None else f"{scale * value:.{digits}f}"
