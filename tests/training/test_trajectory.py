"""`webgen train step-grpo --grouping trajectory` end to end: a tiny local policy, the real environment (builds,
Chromium, the evaluator pool), the judge and the GUI agent scripted through the real fake model server, a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.training import conftest_trainers
from tests.training.conftest import single_page, teach
from tests.training.conftest_trainers import Models, cli
from webgen.training.trajectory import agent_messages

pytestmark = [pytest.mark.browser, pytest.mark.node]

TASK = "A bakery site with a menu"
models = conftest_trainers.models  # the fixture: judge 4/5, GUI YES, every role on the fake server


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_two_optimizer_steps_change_the_weights_and_store_every_rollout(
    models: Models, tiny_model: Path, tmp_path: Path
) -> None:
    """Through the command line, as a user runs it: `webgen train step-grpo --grouping trajectory`."""
    policy = teach(tiny_model, agent_messages(models.settings, TASK), single_page("Bakery"))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": 1, "instruction": TASK}) + "\n")
    out = tmp_path / "out"
    sets = {
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_turns": 2,
        "max_turn_tokens": 120,
        "max_context_tokens": 2048,
        "drop_overlong": False,  # a cut-off reply of the tiny model is scored -1 instead of dropped
        "eval_timeout_s": 60,
        "logging_steps": 1,
        "save_strategy": "no",
        "torch_threads": 1,
        "seed": 0,
        "weight_decay": 0,  # decay alone moves weights with a zero gradient: "changed" must mean a gradient
    }
    args = ["train", "step-grpo", "--grouping", "trajectory", "--model", str(policy), "--tasks", str(tasks)]
    args += ["--out", str(out), "--max-steps", "2", "-G", "2", "--workers", "2", "--lr", "0.001"]
    args += ["--report-to", "none", *[part for key, value in sets.items() for part in ("--set", f"{key}={value}")]]
    output = cli(models, *args)
    assert "mean reward" in output and "step-grpo" in output
    saved = yaml.safe_load((out / "webgen_config.yaml").read_text())
    assert saved["config"]["max_turns"] == 2 and saved["config"]["num_generations"] == 2
    before, after = _weights(policy), _weights(out / "final")
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert changed, "no weight changed"
    # every rollout (2 per step) is a stored run of its own, with its turns as steps and their step rewards
    with models.store() as store:
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
