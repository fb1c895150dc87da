"""`compare_reports`: two report folders side by side with deltas and the published reference rows; the
published numbers are consistent with the paper's own formula; bad folders fail with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.benchmark.test_results import crafted
from webgen.benchmark.compare import compare_reports
from webgen.benchmark.published import all_rows, published
from webgen.benchmark.report import ReportError, write_report


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("compare")
    base = crafted("baseline")
    passing = [c.model_copy(update={"verdict": "YES", "substring_verdict": "YES"}) for c in base.cases[:6]]
    better = crafted("tuned", config={"coder": "tuned-7b", "workers": 2}, cases=passing + base.cases[6:])
    write_report(base, root / "a")
    write_report(better, root / "b")
    return root / "a", root / "b"


@pytest.mark.slow
def test_two_reports_side_by_side_with_deltas_and_reference_rows(reports: Path, tmp_path: Path) -> None:
    text = compare_reports(list(reports), tmp_path / "cmp")
    # baseline: 3.5/7 = 50.0 %; tuned: 6 YES of 7 = 85.7 %; the delta is 35.7 points
    assert "| baseline | ours (robust) | 42.9 | 14.3 | 28.6 | 14.3 | **50.0** | 2.00 | 50.0 | 1.75 |" in text
    assert "| tuned | ours (robust) | 85.7 | 0.0 | 0.0 | 14.3 | **85.7** | 2.00 | 50.0 | 1.75 |" in text
    assert (
        "| Δ tuned − baseline | ours (robust) | +42.9 | -14.3 | -28.6 | +0.0 | +35.7 | +0.00 | +0.0 | +0.00 |" in text
    )
    # substring scoring already counted case 5 as YES, so its accuracy moves from 4.5/7 to 6/7
    assert "| Δ tuned − baseline | benchmark (substring) | +28.6 | -14.3 | -14.3 | +0.0 | +21.4 |" in text
    assert (
        "| *WebGen-Bench paper, Bolt.diy + Claude-3.5-Sonnet* | published | 22.6 | 7.6 | 64.1 | 5.7 | 26.4 | 3.0 |"
        in text
    )
    assert "| *WebGen-R1 paper, WebGen-R1-7B* | published | – | – | – | – | 29.21 | – | 95.89 | 3.94 |" in text
    header = "| Run | Scoring | Overall | User Interaction | Data Management | Functional Testing |"
    assert header in text
    assert "| tuned | ours (robust) | 85.7 | 0.0 | 100.0 | 75.0 | 100.0 | 100.0 |" in text
    assert "| *WebGen-Bench paper, Bolt.diy + Claude-3.5-Sonnet* | published | 26.4 | 21.2 | 26.2 | 17.1 |" in text
    assert "not the full benchmark (647 test cases)" in text
    assert "| Setting | baseline | tuned |\n|---|---|---|\n| coder | scripted | tuned-7b |\n\n" in text
    assert (tmp_path / "cmp" / "comparison.md").read_text().startswith(text)
    with Image.open(tmp_path / "cmp" / "plots" / "comparison.png") as image:
        assert image.format == "PNG" and image.width >= 600


def test_same_names_are_told_apart_and_references_can_be_chosen(reports: Path) -> None:
    first, _ = reports
    text = compare_reports([first, first], references=["aider-deepseek-r1"])
    assert "| baseline #1 | ours (robust) |" in text and "| baseline #2 | ours (robust) |" in text
    assert "| Δ baseline #2 − baseline #1 | ours (robust) | +0.0 |" in text
    assert "Aider + DeepSeek-R1* | published | 23.3 | 8.7 | 44.5 | 23.5 | 27.7 | 2.7 |" in text
    assert "Claude-3.5-Sonnet" not in text
    # the run's models are not the published setup's: said once per run, for the GUI agent and the judge
    assert text.count("the GUI agent was not recorded, not Qwen2.5-VL-32B-Instruct as in the published rows") == 2
    assert "the appearance judge was not recorded, not GPT-4o as in the published rows" in text
    assert len(published(["all"])) == len(all_rows())
    with pytest.raises(ReportError, match="unknown published row 'gpt-6'"):
        compare_reports([first], references=["gpt-6"])


def test_published_rows_have_sources_and_the_ablation_agrees_with_table_3(reports: Path) -> None:
    rows = {r.key: r for r in all_rows()}
    assert all(r.source and "(webgen-" in r.source for r in all_rows())
    assert (rows["bench-ablation-600"].yes, rows["bench-ablation-600"].accuracy) == (
        rows["bolt-webgen-lm-32b"].yes,
        rows["bolt-webgen-lm-32b"].accuracy,
    )
    assert [rows[f"bench-ablation-{n}"].accuracy for n in (150, 300, 600)] == [25.1, 31.9, 38.2]
    assert rows["bench-manual-deepseek-r1"].gui_model == "human annotators"
    text = compare_reports([reports[0]], references=["bench-ablation-150", "bench-manual-claude-3.5"])
    assert "| *WebGen-Bench paper, WebGen-LM-32B on 150 samples* | published | 21.8 | – | – | – | 25.1 |" in text
    assert "Table 6, WebGen-LM-32B training-set ablation" in text and "only its abstract's rows are given" in text
    with pytest.raises(ReportError, match="unknown published row 'nope'"):
        compare_reports([reports[0]], references=["nope"])


def test_no_setup_warning_when_the_models_are_the_published_ones(tmp_path: Path) -> None:
    same = crafted("same", config={"gui_model": "Qwen/Qwen2.5-VL-32B-Instruct", "judge_model": "gpt-4o-2024-11-20"})
    write_report(same, tmp_path / "same")
    assert "Warning" not in compare_reports([tmp_path / "same"])
    assert "Warning" not in (tmp_path / "same" / "report.md").read_text()


def test_bad_folders_fail_with_a_clear_error(reports: Path, tmp_path: Path) -> None:
    first, _ = reports
    with pytest.raises(ReportError, match="is not a folder"):
        compare_reports([first, tmp_path / "missing"])
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>a site, not a report</h1>")
    with pytest.raises(ReportError, match="is not an eval report: it has no results.json"):
        compare_reports([first, tmp_path / "site"])
    with pytest.raises(ReportError, match="at least one report folder"):
        compare_reports([])
    with pytest.raises(ReportError, match="not empty and holds no earlier report"):
        compare_reports([first], tmp_path / "site")
    assert [p.name for p in (tmp_path / "site").iterdir()] == ["index.html"]


@pytest.mark.parametrize("row", [r for r in all_rows() if r.partial is not None], ids=lambda r: r.key)
def test_published_rows_agree_with_the_papers_formula(row) -> None:
    """A typo in the copied numbers shows: accuracy = yes + 0.5 x partial, and the four rates sum to 100."""
    assert row.accuracy == pytest.approx(row.yes + 0.5 * row.partial, abs=0.15)
    assert row.yes + row.partial + row.no + row.start_failed == pytest.approx(100, abs=0.3)


def test_webgen_agent_rows_hold_only_the_abstracts_numbers(reports: Path) -> None:
    """Its tables were not recoverable (issue 21): the three rows carry the abstract's accuracy and appearance and
    nothing else, and a comparison that shows them says why."""
    keys = ["webgen-agent-claude-3.5", "webgen-agent-qwen2.5-coder-7b", "webgen-agent-step-grpo-7b"]
    rows = published(keys)
    assert [(r.accuracy, r.appearance) for r in rows] == [(51.9, 3.9), (38.9, 3.4), (45.4, 3.7)]
    assert all("arXiv 2509.22644, abstract" in r.source for r in rows)
    assert all(r.yes is r.partial is r.no is r.start_failed is r.vrr is r.aas is None for r in rows)
    assert not any(r.categories for r in rows)
    text = compare_reports([reports[0]], references=keys)
    assert "| *WebGen-Agent paper, Claude-3.5-Sonnet* | published | – | – | – | – | 51.9 | 3.9 |" in text
    assert (
        "| *WebGen-Agent paper, Qwen2.5-Coder-7B-Instruct + Step-GRPO* | published | – | – | – | – | 45.4 | 3.7 |"
        in text
    )
    assert "could not be read from the stored arXiv HTML page or its mirror" in text
