"""The multi-turn rollout: token ids, masks, the drop rule, step rewards and storage. The environment is real (the
shared evaluator pool); the policy's turns are scripted token ids (the policy is the model here)."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.training.conftest import single_page
from webgen.storage.store import TrajectoryStore
from webgen.training.advantage import FEEDBACK
from webgen.training.pool import EnvResult, EvaluatorPool
from webgen.training.rollout import TrajectoryRollout, credited_turns, feedback_ids, trajectory_rewards
from webgen.training.rollout_store import DROPPED, RolloutRecorder
from webgen.training.turns import Generated

PROMPT = [{"role": "system", "content": "You build sites."}, {"role": "user", "content": "Build: A bakery site"}]
LOOP = "<div>buy bread now</div>\n" * 40  # degenerate repetition


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def test_feedback_ids_are_the_chat_templates_difference(tokenizer: Any) -> None:
    reply_ids = tokenizer('<boltAction type="finish"/>', add_special_tokens=False)["input_ids"]
    fb = feedback_ids(tokenizer, "Build: succeeded")
    assert tokenizer.decode(fb) == "\n<|im_start|>user\nBuild: succeeded<|im_end|>\n<|im_start|>assistant\n"
    # prompt + reply (+ EOS) + feedback ids == the template of the whole conversation: nothing re-tokenised
    prompt = tokenizer.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] + reply_ids + [tokenizer.eos_token_id] + fb
    whole = tokenizer.apply_chat_template(
        [
            *PROMPT,
            {"role": "assistant", "content": '<boltAction type="finish"/>'},
            {"role": "user", "content": "Build: succeeded"},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert ids == tokenizer(whole, add_special_tokens=False)["input_ids"]


def _result(kind: str, **fields: Any) -> EnvResult:
    return EnvResult(kind=kind, **fields)


def test_step_rewards_credit_the_gui_grade_to_the_tested_edit() -> None:
    results = [
        _result("edit", reward=3.0, screenshot_score=3.0),
        _result("gui_request", gui_grade=5.0),
        _result("finish"),
    ]
    rewards = trajectory_rewards(results)
    assert rewards == [8.0, None, None]
    assert credited_turns(results, rewards) == [0, 0, 0]  # the marker turns share the edit's advantage
    results = [
        _result("invalid", reward=-1.0, good_format=False),
        _result("edit", reward=None, screenshot_score=None),  # rendered, judge down: unscorable
        _result("gui_request", good_format=False),  # a badly formatted marker: -1 of its own
        _result("edit", error="timed out after 6s"),
    ]
    rewards = trajectory_rewards(results)
    assert rewards == [-1.0, None, -1.0, None]
    assert credited_turns(results, rewards) == [0, 1, 2, 3]


class ScriptedPolicy:
    """Turn outputs in order: one list of (text, stopped) per turn, for the rollouts still active."""

    def __init__(self, tokenizer: Any, turns: list[list[tuple[str, bool]]]) -> None:
        self.tokenizer, self.turns, self.calls = tokenizer, turns, []

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]:
        self.calls.append([len(c) for c in contexts])
        out = []
        for text, stopped in self.turns[len(self.calls) - 1]:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = ids + [self.tokenizer.eos_token_id] if stopped else ids[:max_new_tokens]
            out.append(Generated(ids=ids, logprobs=[-0.5] * len(ids), stopped=stopped))
        assert len(out) == len(contexts)
        return out


def test_rollouts_mask_feedback_drop_overlong_and_store_their_steps(
    shared_pool: EvaluatorPool, tokenizer: Any, tmp_path: Path
) -> None:
    page = single_page("Rosie's Bakery")
    letters = random.Random(0)
    wander = "Let me think. " + "".join(letters.choice("abcdefghij klmnop qrstuv wxyz") for _ in range(800))
    policy = ScriptedPolicy(
        tokenizer,
        [
            [(page, True), (wander, False), (LOOP, False)],  # a good edit; a cut-off ramble; a cut-off loop
            [('<boltAction type="screenshot_validated"/>', True)],
        ],
    )
    with TrajectoryStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        recorder = RolloutRecorder(store, training={"output_dir": "x"})
        rollout = TrajectoryRollout(
            shared_pool,
            max_turns=2,
            max_turn_tokens=200,
            generator=policy,
            recorder=recorder,
            tasks={"Build: A bakery site": ("A bakery site", None)},
        )
        trainer = SimpleNamespace(processing_class=tokenizer, state=SimpleNamespace(global_step=3))
        out = rollout([PROMPT] * 3, trainer)
        good, ramble, loop = range(3)
        eos = tokenizer.eos_token_id

        # the good rollout: edit (4) + feedback (masked) + GUI request (grade 5 credited to the edit)
        assert out["step_rewards"][good] == [9.0, None]
        mask, turns, ids = out["env_mask"][good], out["turn_ids"][good], out["completion_ids"][good]
        assert len(mask) == len(turns) == len(ids) == len(out["logprobs"][good])
        first = len(tokenizer(page, add_special_tokens=False)["input_ids"]) + 1
        assert ids[first - 1] == eos and mask[:first] == [1] * first and turns[:first] == [0] * first
        feedback = [i for i, t in enumerate(turns) if t == FEEDBACK]
        assert feedback and all(mask[i] == 0 and out["logprobs"][good][i] == 0.0 for i in feedback)
        assert "screenshot_validated" in tokenizer.decode([ids[i] for i in feedback])  # the feedback says what next
        assert turns[-1] == 0 and mask[-1] == 1 and ids[-1] == eos  # the GUI turn takes the edit's advantage

        # GiGPO's anchor states: every first step starts from the empty site; the GUI turn from the edited one
        keys = out["state_keys"]
        assert keys[good][0] == keys[loop][0] and len(keys[good]) == 2 and keys[good][1] != keys[good][0]

        # the ramble was cut off and is not a loop: dropped (no loss, no rewards), closed by a masked EOS
        assert out["step_rewards"][ramble] == [] and set(out["env_mask"][ramble]) == {0}
        assert out["completion_ids"][ramble][-1] == eos
        # the loop was cut off too, but it is kept: scored -1, and it ends the rollout
        assert out["step_rewards"][loop] == [-1.0]
        assert out["env_mask"][loop][-1] == 0 and out["completion_ids"][loop][-1] == eos
        assert policy.calls[1] == [len(out["prompt_ids"][good]) + first + len(feedback)]  # only one went on

        runs = {r.id: r for r in store.list_runs()}
        assert len(runs) == 3 and all(r.config["training"]["global_step"] == 3 for r in runs.values())
        good_run, ramble_run, loop_run = (runs[i] for i in recorder.run_ids)
        steps = store.steps(good_run.id)
        assert [(s.kind, s.reward) for s in steps] == [("edit", 9.0), ("gui_request", None)]
        assert steps[0].screenshot_score == 4.0 and steps[1].gui_grade == 5.0 and steps[1].base_snapshot_id
        assert ramble_run.status == "failed" and ramble_run.error == DROPPED
        assert [(s.kind, s.reward) for s in store.steps(loop_run.id)] == [("invalid", -1.0)]
