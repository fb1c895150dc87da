"""The report folder: report.md with the paper's tables, results.json that round-trips, valid PNG plots, a
folder that is refused when it holds someone else's files, and clear errors on folders that are not reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from tests.benchmark.test_results import crafted
from webgen.benchmark.report import MARKER, ReportError, load_results, render_markdown, write_report
from webgen.benchmark.results import EvalResults, summarize


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "report"
    results = crafted()
    hostile = results.cases[5].model_copy(update={"answer": "Thought: not a YES | <b>pipe</b>\nAnswer: NO"})
    assert write_report(crafted(cases=[*results.cases[:5], hostile, results.cases[6]]), out) == out / "report.md"
    return out


def test_report_md_has_the_papers_columns_and_hand_computed_numbers(report: Path) -> None:
    text = (report / "report.md").read_text()
    head = "| Scoring | Yes | Partial | No | Start failed | Not run | Accuracy | Appearance | VRR | AAS |"
    assert head in text
    # 3/7 YES, 1/7 PARTIAL, 2/7 NO, 1/7 start failed, accuracy 3.5/7, appearance (4+0)/2, VRR 1/2, AAS 3.5/2
    ours = "| ours (robust verdicts) | 42.9 | 14.3 | 28.6 | 14.3 | 0.0 | **50.0** | 2.00 | 50.0 | 1.75 |"
    benchmark = "| benchmark (substring) | 57.1 | 14.3 | 14.3 | 14.3 | 0.0 | **64.3** | 2.00 | 50.0 | 1.75 |"
    assert benchmark in text and ours in text
    assert text.index(benchmark) < text.index(ours)  # the benchmark's own scoring is the headline
    assert "Incomplete" not in text
    assert "| User Interaction | 1 | 1 | 0.0 | 0.0 | 0.0 | 100.0 | **0.0** | 0.0 | 0.00 | 0.0 | 0.00 |" in text
    assert "| Data Management | 1 | 6 | 50.0 | 16.7 | 33.3 | 0.0 | **58.3** | 75.0 | 4.00 | 100.0 | 3.50 |" in text
    assert "| Functional Testing | 4 | 50.0 | 0.0 | 25.0 | 25.0 | **50.0** | 75.0 |" in text
    assert "| Tokens | 2100 | 300.0 | 600 |" in text and "| Model calls | 21 | 3.00 | 6 |" in text
    assert "Best step reached at step 1.00 on average (median 1, 2 agent runs)." in text
    for name in ("accuracy_by_category", "appearance_hist", "best_step"):
        assert f"(plots/{name}.png)" in text
    assert "npm run build failed" in text


def test_untrusted_text_cannot_break_a_table(report: Path) -> None:
    text = (report / "report.md").read_text()
    assert "Thought: not a YES \\| &lt;b>pipe&lt;/b> Answer: NO" in text
    for table in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.MULTILINE):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table


def test_results_json_round_trips_with_the_summaries(report: Path) -> None:
    document = json.loads((report / "results.json").read_text())
    results = EvalResults.model_validate(document)
    assert results == load_results(report)
    assert len(results.cases) == 7 and results.cases[5].answer.startswith("Thought: not a YES")
    assert document["summaries"]["robust"] == summarize(results).model_dump(mode="json")
    assert document["summaries"]["substring"]["overall"]["accuracy"] == pytest.approx(4.5 / 7)


def test_plots_are_real_images(report: Path) -> None:
    for name in ("accuracy_by_category.png", "appearance_hist.png", "best_step.png"):
        path = report / "plots" / name
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 500 and image.height >= 300, name
            assert len(image.convert("L").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20  # not blank
        assert path.stat().st_size > 5000


def test_rewriting_is_deterministic_and_drops_stale_plots(report: Path, tmp_path: Path) -> None:
    results = EvalResults.model_validate_json((report / "results.json").read_text())
    again = tmp_path / "again"
    write_report(results, again)
    assert (again / "report.md").read_bytes() == (report / "report.md").read_bytes()
    assert (again / "results.json").read_bytes() == (report / "results.json").read_bytes()
    # the same folder again, now for a single-shot run of sites: no best steps, so no best_step.png
    sites = [s.model_copy(update={"best_step": None}) for s in results.sites]
    write_report(results.model_copy(update={"kind": "sites", "mode": "single-shot", "sites": sites}), again)
    assert not (again / "plots" / "best_step.png").exists()
    assert "best_step.png" not in (again / "report.md").read_text()
    assert sorted(p.name for p in again.iterdir()) == [MARKER, "plots", "report.md", "results.json"]


def test_a_folder_with_other_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ReportError, match="not empty and holds no earlier report"):
        write_report(crafted(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(ReportError, match="is a file, not a folder"):
        write_report(crafted(), tmp_path / "notes.txt")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "is not a folder"),
        (lambda d: d.mkdir(), "has no results.json"),
        (lambda d: (d.mkdir(), (d / "results.json").write_text("{nope")), "cannot be read as JSON"),
        (lambda d: (d.mkdir(), (d / "results.json").write_text('{"name": "x"}')), "is not a webgen eval report"),
        (
            lambda d: (d.mkdir(), (d / "results.json").write_text('{"format": "webgen-eval-report/1", "name": "x"}')),
            "is not valid eval results: source: Field required",
        ),
    ],
)
def test_loading_a_folder_that_is_not_a_report_fails_clearly(tmp_path: Path, setup, message: str) -> None:
    folder = tmp_path / "folder"
    setup(folder)
    with pytest.raises(ReportError, match=message) as caught:
        load_results(folder)
    assert "\n" not in str(caught.value)


def test_a_category_without_known_cases_shows_no_rates_and_rollouts_are_named() -> None:
    base = crafted()
    second = [s.model_copy(update={"rollout": 1}) for s in base.sites]
    results = crafted(cases=[], sites=base.sites + second, total_cases=9)
    text = render_markdown(results, summarize(results), summarize(results, scoring="substring"), [])
    assert "| Data Management | 1 | 0 | – | – | – | – | – | – | 4.00 | 100.0 | 3.50 |" in text
    assert "| Tasks | 2 (4 sites, up to 2 rollouts per task) |" in text
    assert "averaged over its rollouts (up to 2 per task)" in text
    # nothing ran: every case is "not run" (never "start failed") and the headline says it is incomplete
    assert (
        "| ours (robust verdicts) (incomplete) | 0.0 | 0.0 | 0.0 | 0.0 | 100.0 | **0.0** | 2.00 | 50.0 | 1.75 |" in text
    )
    assert "**Incomplete**: 9 of 9 test cases not run yet" in text
