"""`webgen.training.trajectory.train` end to end: a tiny local policy, the real environment (builds, Chromium,
the evaluator pool), the judge and the GUI agent scripted through the real fake model server, a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.training.conftest import GUI_YES, judge_rules, single_page, teach
from webgen.storage.store import TrajectoryStore
from webgen.training.config import load_config
from webgen.training.trajectory import TrajectoryConfig, agent_messages, train

pytestmark = [pytest.mark.browser, pytest.mark.node]

TASK = "A bakery site with a menu"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_two_optimizer_steps_change_the_weights_and_store_every_rollout(
    tiny_model: Path, fake_models, settings, tmp_path: Path
) -> None:
    policy = teach(tiny_model, agent_messages(settings, TASK), single_page("Bakery"))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": 1, "instruction": TASK}) + "\n")
    cfg = fake_models([*judge_rules(4), GUI_YES])
    config = load_config(
        TrajectoryConfig,
        None,
        {
            "model": str(policy),
            "output_dir": str(tmp_path / "out"),
            "tasks_file": str(tasks),
            "max_steps": 2,
            "num_generations": 2,
            "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "max_turns": 2,
            "max_turn_tokens": 120,
            "max_context_tokens": 2048,
            "drop_overlong": False,  # a cut-off reply of the tiny model is scored -1 instead of dropped
            "pool_workers": 2,
            "eval_timeout_s": 60,
            "learning_rate": 1e-3,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
            "torch_threads": 1,
            "seed": 0,
        },
    )
    summary = train(config, cfg)
    assert summary.steps == 2 and summary.trainer == "step-grpo"
    before, after = _weights(policy), _weights(Path(summary.final_model))
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert changed, "no weight changed"
    # every rollout (2 per step) is a stored run of its own, with its turns as steps and their step rewards
    assert summary.runs_stored == 4
    with TrajectoryStore(cfg.resolved_database_url) as store:
        runs = [r for r in store.list_runs() if r.config.get("training", {}).get("trainer") == "step-grpo"]
        assert len(runs) == 4
        assert {r.config["training"]["global_step"] for r in runs} == {0, 1}
        steps = [s for r in runs for s in store.steps(r.id)]
        assert all(s.kind in ("edit", "gui_request", "finish", "invalid") for s in steps)
        rendered = [s for s in steps if s.kind == "edit" and s.rendered]
        assert rendered and store.screenshots(rendered[0].id) and all(s.snapshot_id for s in rendered)
        # a rendered edit: the judge's 4 (+ 5 when a GUI request tested it); a sampled edit that does not build: 0
        assert all(s.screenshot_score == 4.0 and s.reward in (4.0, 9.0) for s in rendered)
        assert all(s.reward == 0.0 for s in steps if s.kind == "edit" and not s.rendered)
        assert all(s.reward == -1.0 for s in steps if s.kind == "invalid")
