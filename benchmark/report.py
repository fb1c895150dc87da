"""The report folder of one evaluation: `report.md` (the paper's tables), `results.json` (the results and their
summaries) and `plots/*.png`. Every file is written atomically, and only into a folder that is new, empty or
an earlier report (it holds the marker file), so a wrong `--out` can never overwrite a user's files.

The Markdown is deterministic: the same results give the same bytes (the creation time is in the header only).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from statistics import fmean, median

from pydantic import ValidationError

from webgen.benchmark import plots
from webgen.benchmark.published import published, setup_warnings
from webgen.benchmark.results import VERDICTS, CaseResult, EvalResults, Row, Summary, summarize

MARKER = ".webgen-eval-report"
FORMAT = "webgen-eval-report/1"
PLOTS = ("accuracy_by_category.png", "appearance_hist.png", "best_step.png")
#: what a report writes in its folder, and so all it ever replaces there
OWNED = ("report.md", "results.json", "plots", "comparison.md")
DASH = "–"
MAX_LISTED = 20


class ReportError(ValueError):
    """A report folder that cannot be written or read; the message says which and why, in one line."""


def write_report(results: EvalResults, out_dir: Path) -> Path:
    """Write the report of `results` into `out_dir`; returns the path of `report.md`."""
    out = prepare_report_dir(out_dir)
    robust, substring = summarize(results), summarize(results, scoring="substring")
    figures = out / "plots"
    try:
        figures.mkdir(exist_ok=True)
        written = {
            plots.accuracy_by_category(robust, substring, figures / "accuracy_by_category.png").name,
            plots.appearance_hist(results.sites, figures / "appearance_hist.png").name,
        }
        if robust.best_steps:
            written.add(plots.best_step_hist(robust.best_steps, figures / "best_step.png").name)
        for stale in set(PLOTS) - written:  # from an earlier report of another kind of run
            (figures / stale).unlink(missing_ok=True)
        document = {"format": FORMAT, **results.model_dump(mode="json")}
        document["summaries"] = {
            "robust": robust.model_dump(mode="json"),
            "substring": substring.model_dump(mode="json"),
        }
        write_text(out / "results.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return write_text(out / "report.md", render_markdown(results, robust, substring, sorted(written)))
    except OSError as exc:
        raise ReportError(f"cannot write the report in {out}: {exc.strerror or exc}") from exc


def prepare_report_dir(out_dir: Path) -> Path:
    """`out_dir` made ready: a new or empty folder, or an earlier report's; anything else is refused."""
    out = out_dir.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ReportError(f"report folder {out} is a file, not a folder; choose a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ReportError(
            f"report folder {out} is not empty and holds no earlier report; choose a new or empty folder "
            f"(e.g. {out / 'eval-report'})"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not (out / MARKER).is_file():
            write_text(out / MARKER, json.dumps({"format": FORMAT, "owned": list(OWNED)}) + "\n")
    except OSError as exc:
        raise ReportError(f"report folder {out} cannot be written: {exc.strerror or exc}") from exc
    return out


def load_results(folder: Path) -> EvalResults:
    """The EvalResults of a report folder (its `results.json`), or a one-line ReportError."""
    folder = folder.expanduser()
    if not folder.is_dir():
        raise ReportError(f"{folder} is not a folder; give a report folder written by `webgen eval`")
    path = folder / "results.json"
    if not path.is_file():
        raise ReportError(f"{folder} is not an eval report: it has no results.json")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ReportError(f'{path} is not a webgen eval report (no "format": "{FORMAT}")')
    try:
        return EvalResults.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ReportError(f"{path} is not valid eval results: {where}: {first['msg']}") from exc


def render_markdown(results: EvalResults, robust: Summary, substring: Summary, figures: list[str]) -> str:
    """The report's Markdown (pure)."""
    lines = [f"# WebGen-Bench evaluation: {cell(results.name)}", ""]
    lines += _how(results)
    lines += _header(results, robust)
    lines += ["", "## Results", ""]
    lines += headline(robust, substring)
    lines += [
        "",
        f"Yes, Partial, No, Start failed, Not run and Accuracy are % of all {robust.overall.cases} test cases; "
        "Accuracy = Yes + 0.5 x Partial. The first row is the benchmark's own scoring (the substring test on the "
        "agent's raw last message), the one every published number uses; ours reads the last verdict word of the "
        "answer. Start failed: the site was tried and did not start. Not run: no verdict yet (the eval stopped); "
        f"both count 0. Appearance (1-5) and AAS (0-5) are means over {robust.tasks} tasks with a failed site "
        "counted 0; VRR is the % of sites that passed the static gate, build, serve and render.",
    ]
    if robust.rollouts > 1:
        lines += ["", f"Each task's numbers are averaged over its rollouts (up to {robust.rollouts} per task)."]
    lines += ["", "## Per instruction category", ""]
    lines += _category_table("Instruction category", robust.by_instruction_category, substring, sites=True)
    lines += ["", "## Per test-case category", ""]
    lines += _category_table("Test-case category", robust.by_case_category, substring, sites=False)
    lines += ["", "## Cost per test case", ""]
    lines += _costs(robust)
    lines += ["", "## Plots", ""]
    titles = {
        "accuracy_by_category.png": "Accuracy by category",
        "appearance_hist.png": "Appearance grades",
        "best_step.png": "Step at which the best step was reached",
    }
    lines += [f"![{titles[name]}](plots/{name})" for name in figures] or ["No plots."]
    lines += ["", "## Sites", ""]
    lines += _sites(results)
    lines += ["", "## Robust and substring verdicts that differ", ""]
    lines += _disagreements(results)
    return "\n".join(lines) + "\n"


def headline(robust: Summary, substring: Summary) -> list[str]:
    """The paper's table, the benchmark's scoring first; marked incomplete while cases are not run."""
    lines = []
    if not robust.complete:
        lines += [
            f"**Incomplete**: {robust.overall.not_run * robust.overall.cases:g} of {robust.overall.cases} test "
            "cases not run yet; re-run the same command to finish them. These numbers are not comparable yet.",
            "",
        ]
    head = ["Scoring", "Yes", "Partial", "No", "Start failed", "Not run", "Accuracy", "Appearance", "VRR", "AAS"]
    mark = "" if robust.complete else " (incomplete)"
    return lines + table(
        head,
        [
            [f"benchmark (substring){mark}", *_rates(substring.overall, not_run=True), *_site_cells(substring.overall)],
            [f"ours (robust verdicts){mark}", *_rates(robust.overall, not_run=True), *_site_cells(robust.overall)],
        ],
    )


def _how(results: EvalResults) -> list[str]:
    """How the sites were started and tested, and where the models differ from the published setup."""
    config = results.config
    protocol = config.get("protocol") if isinstance(config.get("protocol"), dict) else {}
    start = config.get("start", "build")
    texts = "our wording" if protocol.get("source", "ours") == "ours" else f"from {protocol.get('source')}"
    lines = [
        f"Sites started with `--start {cell(str(start))}`, network `{cell(str(config.get('network', 'loopback')))}`; "
        f"GUI-agent protocol {cell(str(protocol.get('name', 'webgen-bench')))} (prompt texts {cell(texts)}"
        f"{_limits(protocol, config.get('case_timeout_s'))}).",
        "",
    ]
    warnings = setup_warnings(config, published())
    return lines + [line for w in warnings for line in (f"**Warning**: {w}.", "")]  # a paragraph each


def _limits(protocol: dict, case_timeout: object) -> str:
    """The protocol's limits in words ('' for a config that recorded none)."""
    if not protocol:
        return ""
    width, height = (list(protocol.get("viewport") or []) + ["?", "?"])[:2]
    settle = protocol.get("settle_s")
    cap = f"{case_timeout:g} s per case" if isinstance(case_timeout, int | float) else "no per-case time cap"
    return (
        f"; at most {protocol.get('max_iter')} model turns, the last {protocol.get('max_attached_images')} "
        f"screenshots kept, {width}x{height}, "
        f"{f'{settle:g} s' if isinstance(settle, int | float) else 'no'} settle, dialogs "
        f"{'dismissed' if protocol.get('dialogs') == 'dismiss' else 'accepted'}, {cap}"
    )


def _header(results: EvalResults, robust: Summary) -> list[str]:
    rollouts = f"up to {robust.rollouts} rollouts per task" if robust.rollouts > 1 else "1 rollout per task"
    unrecorded = ""
    if robust.unrecorded_cases > 0:
        unrecorded = f"; {robust.unrecorded_cases:g} per rollout not run"
    rows = [
        ["Source", f"{results.kind} {cell(results.source)}"],
        ["Mode", cell(results.mode or DASH)],
        ["Created", results.created.isoformat(timespec="seconds")],
        ["Tasks", f"{robust.tasks} ({robust.sites} sites, {rollouts})"],
        ["Test cases", f"{robust.overall.cases} ({robust.recorded_cases} verdicts recorded{unrecorded})"],
    ]
    rows += [[cell(key), cell(compact(results.config[key]))] for key in sorted(results.config)]
    return table(["", ""], rows)


def _category_table(title: str, rows: list[Row], substring: Summary, *, sites: bool) -> list[str]:
    other = {row.label: row for row in [*substring.by_instruction_category, *substring.by_case_category]}
    head = [title, *(["Tasks"] if sites else []), "Cases", "Yes", "Partial", "No", "Start failed", "Accuracy"]
    head += ["Substring accuracy", *(["Appearance", "VRR", "AAS"] if sites else [])]
    body = []
    for row in rows:
        theirs = other.get(row.label)
        cells = [cell(row.label), *([str(row.tasks)] if sites else []), str(row.cases), *_rates(row)]
        cells.append(pct(theirs.accuracy) if theirs and theirs.cases else DASH)
        body.append(cells + (_site_cells(row) if sites else []))
    return table(head, body) if body else ["No test cases."]


def _costs(summary: Summary) -> list[str]:
    costs = summary.costs
    lines = table(
        ["", "Total", "Mean per test case", "Most in one test case"],
        [
            ["Tokens", str(costs.tokens_total), f"{costs.tokens_mean:.1f}", str(costs.tokens_max)],
            ["Model calls", str(costs.calls_total), f"{costs.calls_mean:.2f}", str(costs.calls_max)],
            ["Actions", str(costs.actions_total), f"{costs.actions_mean:.2f}", str(costs.actions_max)],
            ["Seconds", f"{costs.seconds_total:.1f}", f"{costs.seconds_mean:.2f}", f"{costs.seconds_max:.1f}"],
        ],
    )
    lines += [
        "",
        f"Over {costs.cases} test-case runs (all rollouts). Generating the {summary.sites} sites took "
        f"{costs.site_tokens_total} tokens in {costs.site_calls_total} model calls.",
    ]
    if summary.best_steps:
        steps = summary.best_steps
        lines += [
            "",
            f"Best step reached at step {fmean(steps):.2f} on average (median {median(steps):g}, "
            f"{len(steps)} agent runs).",
        ]
    return lines


def _sites(results: EvalResults) -> list[str]:
    verdicts: dict[tuple[str, int], list[CaseResult]] = {}
    for case in results.cases:
        verdicts.setdefault((case.task_id, case.rollout), []).append(case)
    body = []
    for site in sorted(results.sites, key=lambda s: (s.task_id, s.rollout)):
        cases = verdicts.get((site.task_id, site.rollout), [])
        counts = [sum(1 for c in cases if c.verdict == v) for v in VERDICTS]
        parts = "".join("✓" if ok else "✗" for ok in (site.gate, site.built, site.served, site.rendered))
        body.append(
            [
                site.task_id,
                str(site.rollout),
                parts,
                "yes" if site.started else "no",
                str(site.appearance),
                f"{site.aas:.2f}",
                DASH if site.best_step is None else str(site.best_step),
                *(str(n) for n in counts),
                cell(site.error or "", limit=80),
            ]
        )
    head = ["Task", "Rollout", "Gate/build/serve/render", "Started", "Appearance", "AAS", "Best step"]
    head += ["Yes", "Partial", "No", "Start failed", "Error"]
    return table(head, body) if body else ["No sites."]


def _disagreements(results: EvalResults) -> list[str]:
    differ = sorted(
        (c for c in results.cases if c.verdict != c.substring_verdict),
        key=lambda c: (c.task_id, c.rollout, c.case_index),
    )
    if not differ:
        return ["None: both scorings agree on every test case."]
    body = [
        [c.task_id, str(c.rollout), str(c.case_index), c.verdict, c.substring_verdict, cell(c.answer, limit=100)]
        for c in differ[:MAX_LISTED]
    ]
    lines = table(["Task", "Rollout", "Case", "Robust", "Substring", "Answer"], body)
    if len(differ) > MAX_LISTED:
        lines += ["", f"… and {len(differ) - MAX_LISTED} more (see results.json)."]
    return lines


def _rates(row: Row, *, not_run: bool = False) -> list[str]:
    if row.cases == 0:  # no known test case in this category: no rates to give
        return [DASH] * (6 if not_run else 5)
    extra = [pct(row.not_run)] if not_run else []
    return [pct(row.yes), pct(row.partial), pct(row.no), pct(row.start_failed), *extra, f"**{pct(row.accuracy)}**"]


def _site_cells(row: Row) -> list[str]:
    return [score(row.appearance), DASH if row.vrr is None else pct(row.vrr), score(row.aas)]


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def score(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def compact(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def cell(text: str, *, limit: int = 120) -> str:
    """Untrusted text made safe for one Markdown table cell: one line, pipes escaped, bounded."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def table(head: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in body]


def write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder, then rename (atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # readable like any file the user writes (mkstemp makes it 0600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
