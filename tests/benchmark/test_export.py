"""`--export-transcripts`: our stored verdicts written in the benchmark's own layout, scored by an independent
implementation of its accuracy script's rule (webgen-bench.md §3.4), give exactly our substring numbers."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from tests.benchmark.conftest import bench_tasks
from webgen.benchmark.export import ExportError, export_transcripts
from webgen.benchmark.results import summarize
from webgen.benchmark.run import case_specs, load_results
from webgen.storage import evals
from webgen.storage.evals import CaseRecord, SiteRecord
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn

IDS = ("000010", "000002", "000003")


def benchmark_scores(out: Path, records: dict[str, dict]) -> tuple[float, dict[str, float]]:
    """The benchmark's accuracy as its script computes it, from the exported folders alone: the last assistant
    message of each `task<id>_<k>`, "YES" anywhere 1, else "PARTIAL" 0.5, else 0; a missing folder 0; over every
    case of the tasks, and per instruction and test-case category."""
    score: dict[str, float] = defaultdict(float)
    total: dict[str, int] = defaultdict(int)
    for record in records.values():
        for case in record["ui_instruct"]:
            for key in ("all", record["Category"]["primary_category"], case["task_category"]["primary_category"]):
                total[key] += 1
    for folder in (out / "extracted" / "results").iterdir():
        task_id, index = folder.name.removeprefix("task").split("_")
        record = records[task_id]
        messages = json.loads((folder / "interact_messages.json").read_text())
        text = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), "")
        value = 1.0 if "YES" in text else 0.5 if "PARTIAL" in text else 0.0
        case_category = record["ui_instruct"][int(index)]["task_category"]["primary_category"]
        for key in ("all", record["Category"]["primary_category"], case_category):
            score[key] += value
    return 100 * score["all"] / total["all"], {k: 100 * score[k] / total[k] for k in total if k != "all"}


def step(index: int, reply: str) -> dict:
    return {"index": index, "thought": "t", "action": reply[-200:], "url": "http://127.0.0.1:1/", "reply": reply}


def test_exported_transcripts_score_to_our_substring_numbers(tmp_path: Path) -> None:
    records = bench_tasks(*IDS)
    raw = {  # the agent's raw last replies, some of which the two scorings read differently
        ("000010", 0): "Thought: it spun.\nAction: ANSWER; YES",
        ("000010", 1): "Thought: only the first spin worked.\nAction: ANSWER; PARTIAL",
        ("000010", 2): "Thought: no result shown.\nAction: ANSWER; NO",
        ("000010", 3): "Thought: the button does nothing, so the answer is not YES.\nAction: ANSWER; NO",
        ("000002", 0): "I judge it PARTIAL; nothing else.",  # a limit-turn reply with no action format
    }
    with TrajectoryStore(f"sqlite:///{tmp_path / 'eval.db'}") as store:
        tasks = [
            store.ensure_task(
                TaskIn(
                    source="webgen-bench",
                    external_id=i,
                    instruction=records[i]["instruction"],
                    category=records[i]["Category"],
                    ui_test_cases=records[i]["ui_instruct"],
                )
            )
            for i in IDS
        ]
        info = evals.ensure_eval(store, "x", kind="sites", source="/s", mode=None, config={})
        up = SiteRecord(task_id="", gate=True, built=True, served=True, rendered=True, started=True, appearance=3)
        for task in tasks:
            started = task.external_id != "000003"
            evals.put_site(store, info.id, up.model_copy(update={"task_id": task.external_id, "started": started}))
            for spec in case_specs(task):
                key = (spec.task_id, spec.case_index)
                base = {"task_id": spec.task_id, "case_index": spec.case_index}
                base |= {"instruction_category": spec.instruction_category, "case_category": spec.case_category}
                if not started:
                    record = CaseRecord(**base, verdict="START_FAILED", substring_verdict="START_FAILED")
                elif key in raw:
                    text = raw[key]
                    substring = "YES" if "YES" in text else "PARTIAL" if "PARTIAL" in text else "NO"
                    robust = text.split()[-1].strip(".;") if key != ("000002", 0) else "PARTIAL"
                    transcript = [step(1, "Thought: look\nAction: Click [0]"), step(2, text)]
                    record = CaseRecord(**base, verdict=robust, substring_verdict=substring, transcript=transcript)
                else:  # the worker died: NO, and no transcript at all
                    record = CaseRecord(**base, verdict="NO", substring_verdict="NO", outcome="worker_error")
                evals.put_case(store, info.id, record)
        cases = evals.cases(store, info.id)
        results = load_results(store, info, tasks, [(t, 0) for t in IDS])

    out = tmp_path / "transcripts"
    assert export_transcripts(cases, out, system="SYSTEM") == len(cases) - len(records["000003"]["ui_instruct"])
    first = json.loads((out / "extracted" / "results" / "task000010_3" / "interact_messages.json").read_text())
    assert [m["role"] for m in first] == ["system", "user", "assistant", "user", "assistant"]
    assert first[-1]["content"] == raw[("000010", 3)] and first[0]["content"] == "SYSTEM"
    assert not (out / "extracted" / "results" / "task000003_0").exists()  # start failed: no transcript

    theirs, their_categories = benchmark_scores(out, records)
    ours = summarize(results, scoring="substring")
    assert theirs == pytest.approx(100 * ours.overall.accuracy)
    by_category = {r.label: 100 * r.accuracy for r in [*ours.by_instruction_category, *ours.by_case_category]}
    assert their_categories == pytest.approx(by_category)
    assert summarize(results).overall.accuracy < ours.overall.accuracy  # "not YES" reads as YES only for them

    again = export_transcripts([c for c in cases if c.task_id == "000010"], out, system="SYSTEM")
    assert again == 4 and len(list((out / "extracted" / "results").iterdir())) == 4  # an earlier export replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ExportError, match="not empty and holds no earlier export"):
        export_transcripts(cases, tmp_path / "mine", system="SYSTEM")
