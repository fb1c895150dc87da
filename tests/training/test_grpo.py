"""`webgen train grpo` end to end: single-shot completions built, rendered and judged in the real environment,
the cascaded reward, 2 optimizer steps, every completion stored as a single-shot run, then a resumed step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from tests.training.conftest_trainers import INSTRUCTION, SITE, TINY_GRPO, Models, cli, first_tensor, site_token_policy
from webgen.core.settings import Settings
from webgen.training.grpo import single_shot_messages

pytestmark = [pytest.mark.browser, pytest.mark.node]
STAGES = ("scored", "static", "build", "unjudged")


@pytest.fixture
def models(settings: Settings, tmp_path: Path) -> Iterator[Models]:
    """The scripted models, with the judge down for its first call (that completion is unjudged: no reward)."""
    made = Models(settings, tmp_path / "webgen.db", judge_outages=1)
    yield made
    made.server.stop()


@pytest.mark.slow
def test_grpo_trains_on_the_cascaded_reward_and_stores_every_completion(
    models: Models, tiny_model: Path, tmp_path: Path
) -> None:
    policy = site_token_policy(
        tiny_model, tmp_path / "policy", SITE, single_shot_messages(models.settings, INSTRUCTION)
    )
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "hello", "instruction": INSTRUCTION}) + "\n")
    out = tmp_path / "grpo"
    args = ["train", "grpo", "--model", str(policy), "--tasks", str(tasks), "--out", str(out), *TINY_GRPO]
    output = cli(models, *args, "--max-steps", "2", "--set", "reward_gamma=0.3")
    assert "mean reward" in output and (out / "checkpoint-2").is_dir()
    assert not torch.equal(first_tensor(policy), first_tensor(out / "final"))

    with models.store() as store:
        runs = store.list_runs()
        assert len(runs) == 4 and {r.mode for r in runs} == {"single-shot"}  # 2 steps x 2 completions
        steps = [store.steps(r.id)[0] for r in runs]
        training = runs[0].config["training"]
        assert training["trainer"] == "grpo" and training["config"]["reward_gamma"] == 0.3
        assert training["config"]["num_generations"] == 2 and training["config"]["beta"] == 0.0
        assert sorted(r.config["training"]["global_step"] for r in runs) == [0, 0, 1, 1]
    by_stage = {stage: [s for s in steps if s.reward_breakdown["stage"] == stage] for stage in STAGES}
    scored, failed, unjudged = by_stage["scored"], by_stage["static"], by_stage["unjudged"]
    assert scored and failed and len(unjudged) == 1  # the site built and was judged (once not); gibberish not
    assert unjudged[0].reward is None and unjudged[0].screenshot_score is None and unjudged[0].rendered
    for step in scored:  # s_vis 4 (the scripted judge) + γ·s_func (no console errors); no <think> format
        assert step.reward == pytest.approx(4.3) and step.screenshot_score == 4 and step.snapshot_id
        assert step.rendered and step.kind == "edit" and SITE in step.completion
    assert all(s.reward == 0.0 and s.has_error and s.errors for s in failed)
    assert yaml.safe_load((out / "webgen_config.yaml").read_text())["config"]["reward_gamma"] == 0.3

    output = cli(models, *args, "--max-steps", "3", "--resume-from-checkpoint", "last")
    assert (out / "checkpoint-3").is_dir() and "resumed from" in output
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    with models.store() as store:  # only the third step's completions were added
        assert sorted(r.config["training"]["global_step"] for r in store.list_runs()) == [0, 0, 1, 1, 2, 2]
