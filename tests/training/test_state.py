"""`webgen train step-grpo --grouping state` end to end: a stored step's state (history + snapshot) is the prompt;
each completion is applied to that snapshot, built, rendered and judged in the real environment and scored with
the step reward; 2 optimizer steps; every completion stored as a run of its own. (Resuming is the code path
single-shot GRPO shares, tested in test_grpo.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training import conftest_trainers
from tests.training.conftest_trainers import SITE, TINY_GRPO, Models, cli, first_tensor, site_token_policy
from webgen.storage.training import state_rows

pytestmark = [pytest.mark.browser, pytest.mark.node]
models, stored_run = conftest_trainers.models, conftest_trainers.stored_run  # the fixtures


@pytest.mark.slow
def test_state_grouping_scores_completions_on_the_stored_snapshot(
    models: Models, stored_run: str, tiny_model: Path, tmp_path: Path
) -> None:
    with models.store() as store:
        source = store.steps(stored_run)[0]
        rows = state_rows(store, min_score=3)
        assert [(r["source_run"], r["snapshot_id"]) for r in rows] == [(stored_run, source.base_snapshot_id)]
        assert state_rows(store, max_score=3) == []  # the stored step scored 4
    policy = site_token_policy(tiny_model, tmp_path / "policy", SITE, rows[0]["prompt"])
    out = tmp_path / "state"
    args = ["train", "step-grpo", "--grouping", "state", "--model", str(policy), "--out", str(out), *TINY_GRPO]
    output = cli(models, *args, "--min-score", "3", "--max-steps", "2")
    assert "mean reward" in output and (out / "checkpoint-2").is_dir()
    assert not torch.equal(first_tensor(policy), first_tensor(out / "final"))

    with models.store() as store:
        runs = [r for r in store.list_runs() if r.id != stored_run]
        assert len(runs) == 4 and {r.mode for r in runs} == {"agent"}
        steps = [store.steps(r.id)[0] for r in runs]
        config = runs[0].config["training"]
        assert config["trainer"] == "step-grpo-state" and config["config"]["min_score"] == 3
    assert {s.base_snapshot_id for s in steps} == {source.base_snapshot_id}
    edits = [s for s in steps if s.kind == "edit"]
    invalid = [s for s in steps if s.kind == "invalid"]
    assert edits and invalid and len(edits) + len(invalid) == 4
    for step in edits:  # built on the restored snapshot and judged: the step reward is the screenshot score
        assert step.reward == 4 and step.screenshot_score == 4 and step.rendered and step.snapshot_id
    assert all(s.reward == -1 and s.has_error for s in invalid)  # gibberish: a bad format
