"""Sign tests: with no weight decay, two fixed completions with different rewards, a few optimizer steps make the
rewarded one likelier and the other less likely, for each trainer (``grpo``, ``step-grpo --grouping state``,
``--grouping trajectory``). Rewards come from the real environment (builds, Chromium, the scripted judge's 4);
the completions are fixed (the policy is the model). Each test also runs with the advantages' sign flipped and
must then see the opposite, so it can tell a working loss from a broken one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.training.conftest import single_page
from tests.training.sign_helpers import SIGN_RUN, FixedRollout, FixedTurns, flipped, prompt_ids, token_logprobs
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn
from webgen.training.config import GRPOTrainConfig, StateGRPOConfig, load_config
from webgen.training.pool import EvaluatorPool
from webgen.training.rewards import PoolReward
from webgen.training.rollout import TrajectoryRollout
from webgen.training.step_trainer import StepGRPOTrainer, trajectory_reward
from webgen.training.trajectory import TrajectoryConfig

pytestmark = [pytest.mark.browser, pytest.mark.node, pytest.mark.slow]
PROMPT = [{"role": "user", "content": "Build: A bakery site"}]
GOOD, BAD = single_page("Bakery"), "I would rather not write any code today."


def _deltas(model_dir: Path, trainer: Any, tokenizer: Any) -> tuple[float, float]:
    """Change of the summed log-prob of GOOD and of BAD from the start model to the trained one."""
    from transformers import AutoModelForCausalLM

    start = AutoModelForCausalLM.from_pretrained(model_dir)
    context = prompt_ids(tokenizer, PROMPT)
    out = []
    for text in (GOOD, BAD):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        before = token_logprobs(start, context, ids).sum()
        after = token_logprobs(trainer.model, context, ids).sum()
        out.append(float(after - before))
    return out[0], out[1]


def _train(cls: type, tiny_model: Path, config: Any, rows: list[dict], reward: Any, rollout: Any) -> Any:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    trainer = cls(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        reward_funcs=[reward],
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        rollout_func=rollout(tokenizer) if callable(rollout) and not hasattr(rollout, "pool") else rollout,
    )
    trainer.train()
    return trainer, tokenizer


def _check(delta_good: float, delta_bad: float, broken: bool) -> None:
    if broken:  # flipped advantages: the test's own predicate must fail
        assert delta_good < 0 < delta_bad, (delta_good, delta_bad)
    else:
        assert delta_good > 0 > delta_bad, (delta_good, delta_bad)


def _task(store: TrajectoryStore, name: str) -> int:
    return store.ensure_task(TaskIn(source="sign", external_id=name, instruction="A bakery site")).id


@pytest.mark.parametrize("broken", [False, True])
def test_grpo_makes_the_rewarded_completion_likelier(
    shared_pool: EvaluatorPool, tiny_model: Path, tmp_path: Path, broken: bool
) -> None:
    from trl import GRPOTrainer

    config = load_config(GRPOTrainConfig, None, {**SIGN_RUN, "output_dir": str(tmp_path)})
    with TrajectoryStore(shared_pool.settings.resolved_database_url) as store:
        reward = PoolReward(shared_pool, store, kind="cascaded", training={"trainer": "sign"})
        rows = [{"prompt": PROMPT, "instruction": "A bakery site", "task_id": _task(store, "grpo")}]
        cls = flipped(GRPOTrainer) if broken else GRPOTrainer
        trainer, tokenizer = _train(cls, tiny_model, config, rows, reward, lambda t: FixedRollout(t, GOOD, BAD))
        steps = [store.steps(run)[0] for run in reward.run_ids]
    assert sorted({round(s.reward, 3) for s in steps}) == [0.0, 4.1]  # the real cascaded reward of each
    _check(*_deltas(tiny_model, trainer, tokenizer), broken)


@pytest.mark.parametrize("broken", [False, True])
def test_state_grouping_makes_the_rewarded_completion_likelier(
    shared_pool: EvaluatorPool, tiny_model: Path, tmp_path: Path, broken: bool
) -> None:
    from trl import GRPOTrainer

    config = load_config(StateGRPOConfig, None, {**SIGN_RUN, "output_dir": str(tmp_path)})
    with TrajectoryStore(shared_pool.settings.resolved_database_url) as store:
        task = _task(store, "state")
        seed = PoolReward(shared_pool, store, kind="step", training={"trainer": "sign-seed"})
        assert seed([PROMPT], [GOOD], instruction=["A bakery site"], task_id=[task], snapshot_id=[None]) == [4.0]
        snapshot = store.steps(seed.run_ids[0])[0].snapshot_id  # the stored state the completions start from
        row = {"prompt": PROMPT, "instruction": "A bakery site", "task_id": task, "snapshot_id": snapshot}
        reward = PoolReward(shared_pool, store, kind="step", training={"trainer": "sign"})
        cls = flipped(GRPOTrainer) if broken else GRPOTrainer
        rows = [{**row, "state_score": 4.0}]
        trainer, tokenizer = _train(cls, tiny_model, config, rows, reward, lambda t: FixedRollout(t, GOOD, BAD))
        steps = [store.steps(run)[0] for run in reward.run_ids]
    assert {(s.kind, s.reward) for s in steps} == {("edit", 4.0), ("invalid", -1.0)}
    assert {s.base_snapshot_id for s in steps} == {snapshot}
    _check(*_deltas(tiny_model, trainer, tokenizer), broken)


@pytest.mark.parametrize("broken", [False, True])
def test_trajectory_grouping_makes_the_rewarded_rollout_likelier(
    shared_pool: EvaluatorPool, tiny_model: Path, tmp_path: Path, broken: bool
) -> None:
    from transformers import AutoTokenizer

    config = load_config(TrajectoryConfig, None, {**SIGN_RUN, "output_dir": str(tmp_path), "max_turns": 1})
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rollout = TrajectoryRollout(
        shared_pool, max_turns=1, max_turn_tokens=4096, gui=False, generator=FixedTurns(tokenizer, GOOD, BAD)
    )
    cls = flipped(StepGRPOTrainer) if broken else StepGRPOTrainer
    trainer, tokenizer = _train(cls, tiny_model, config, [{"prompt": PROMPT}], trajectory_reward, rollout)
    assert trainer.state.global_step == SIGN_RUN["max_steps"]
    _check(*_deltas(tiny_model, trainer, tokenizer), broken)
