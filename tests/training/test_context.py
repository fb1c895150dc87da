"""Long conversations fit the token budget by losing their oldest turns, never the reply being learned or the
request; SFT leaves the trainers' own runs out; state prompts leave room for the completion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from webgen.storage.store import TrajectoryStore
from webgen.storage.values import StepRecord, TaskIn
from webgen.training.config import DataError, SFTTrainConfig, StateGRPOConfig, load_config
from webgen.training.context import token_counter
from webgen.training.sft_data import fit_examples, sft_examples
from webgen.training.state import fit_prompts

FINAL = "<boltArtifact id='s' title='s'>the final, best reply " + "with many words " * 20 + "</boltArtifact>"


def _conversation(turns: int, final: str | None = FINAL) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "You build sites."}, {"role": "user", "content": "A bakery site"}]
    for t in range(turns):
        messages += [
            {"role": "assistant", "content": f"reply {t} " + "code " * 60},
            {"role": "user", "content": f"feedback {t}: the build failed " * 10},
        ]
    return [*messages, {"role": "assistant", "content": final}] if final else messages


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def _store_run(store: TrajectoryStore, task: int, messages: list[dict[str, str]], config: dict) -> str:
    run = store.start_run(task, "agent", config=config)
    record = StepRecord(index=0, kind="edit", prompt=messages[:-1], completion=messages[-1]["content"])
    store.add_step(run, record.model_copy(update={"screenshot_score": 4.0}))
    store.finish_run(run, "finished", best_step=0)
    return run


def test_sft_keeps_the_final_reply_whole_and_leaves_trainer_runs_out(tokenizer: Any, tmp_path: Path) -> None:
    count = token_counter(tokenizer, generation_prompt=False)
    long = _conversation(8)
    limit = count(long) // 2
    with TrajectoryStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        task = store.ensure_task(TaskIn(source="t", external_id="1", instruction="A bakery site")).id
        agent = _store_run(store, task, long, {})
        _store_run(store, task, _conversation(1), {"training": {"trainer": "step-grpo", "global_step": 3}})
        config = load_config(SFTTrainConfig, None, {"output_dir": str(tmp_path), "max_length": limit})
        rows = fit_examples(sft_examples(config, store), tokenizer, config.max_length)
        assert len(rows) == 1  # the rollout written by a trainer is not SFT data
        with_runs = load_config(SFTTrainConfig, None, {"output_dir": str(tmp_path), "include_training_runs": True})
        assert len(sft_examples(with_runs, store)) == 2
        assert store.get_run(agent).config == {}
    messages = rows[0]["messages"]
    assert count(long) > limit >= count(messages)  # unfitted, TRL's keep_start truncation would cut the end
    assert messages[:2] == long[:2] and messages[-1] == long[-1]  # the request and the whole final reply
    assert len(messages) < len(long) and messages[2]["role"] == "assistant"  # the oldest turns went first
    assert messages[-3:] == long[-3:]  # the latest turns stayed
    with pytest.raises(DataError, match="even without their earlier turns"):
        fit_examples(rows, tokenizer, 16)


def test_state_prompts_leave_room_for_the_completion(tiny_model: Path, tokenizer: Any, tmp_path: Path) -> None:
    count = token_counter(tokenizer, generation_prompt=True)
    short, long = _conversation(1, final=None), _conversation(12, final=None)
    context = 8192  # the tiny model's max_position_embeddings
    budget = count(long) - 50
    overrides = {"output_dir": str(tmp_path), "model": str(tiny_model), "max_completion_length": context - budget}
    config = load_config(StateGRPOConfig, None, overrides)
    rows = fit_prompts(config, [{"prompt": short, "x": 1}, {"prompt": long, "x": 2}], tokenizer)
    assert [r["x"] for r in rows] == [1, 2] and rows[0]["prompt"] == short
    fitted = rows[1]["prompt"]
    assert count(fitted) + config.max_completion_length <= context < count(long) + config.max_completion_length
    assert fitted[:2] == long[:2] and fitted[-1] == long[-1]  # the request and the last feedback
    config.max_completion_length = context - 10
    with pytest.raises(DataError, match="no stored state's prompt fits"):
        fit_prompts(config, [{"prompt": long}], tokenizer)
