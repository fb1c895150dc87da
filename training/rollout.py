"""The multi-turn Step-GRPO rollout for TRL's ``rollout_func`` (ARCHITECTURE §7, reference/trl-step-grpo.md).

``TrajectoryRollout(pool, ...)(prompts, trainer)`` runs one rollout per prompt (TRL repeats each prompt
``num_generations`` times in contiguous groups), at most ``max_turns`` turns each. A turn:

1. the policy answers every active rollout (one batch: :mod:`webgen.training.turns`);
2. ALL those replies are evaluated at once by the evaluator pool (apply, build, render, judge; GUI test on a
   GUI request), each against its rollout's current files;
3. the feedback is appended as a masked user turn whose ids come from the chat template's difference, never
   from re-tokenising the model's output; a turn cut off at ``max_turn_tokens`` is closed with a masked EOS.

A rollout ends on ``finish``, after ``max_turns``, when its context would overflow, or when the pool could not
evaluate its step. A cut-off turn that is not repetitive drops the whole trajectory (its mask is zeroed and
it has no rewards), as in the published trainer; a repetitive one is kept, scored -1, and ends it.

Step rewards come from ``step_rewards()`` (screenshot grade + the GUI grade credited to the edit it tested;
-1 for a bad format or repetition; None when unscorable). A GUI request or finish with no reward of its own
shares the advantage of the step before it (the published span rule). Each sample returns ``step_rewards``
and ``turn_ids`` (per completion token: the turn whose advantage it takes, or -1 for feedback). Every
rollout's steps are stored as a run of its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from webgen.agent.repetition import is_repetitive
from webgen.feedback.evaluation.assess import RewardStep, step_rewards
from webgen.training.advantage import FEEDBACK
from webgen.training.pool import EnvJob, EnvResult, EvaluatorPool
from webgen.training.turns import TurnGenerator, any_rank, generation_session, generator_for, idle_turn

__all__ = ["Trajectory", "TrajectoryRollout", "credited_turns", "feedback_ids", "state_keys", "trajectory_rewards"]

logger = logging.getLogger(__name__)


@dataclass
class Trajectory:
    """One rollout in progress: its token ids, masks and evaluated steps."""

    instruction: str
    messages: list[dict[str, str]]
    prompt_ids: list[int]
    task_id: int | None = None
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    turn_of_token: list[int] = field(default_factory=list)  # the turn that wrote each token, FEEDBACK for feedback
    replies: list[str] = field(default_factory=list)
    results: list[EnvResult] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    initial_files: dict[str, str] = field(default_factory=dict)
    done: bool = False
    dropped: bool = False
    had_logprobs: bool = True

    def add(self, ids: list[int], *, turn: int, model: bool, logprobs: list[float] | None = None) -> None:
        self.completion_ids += ids
        self.env_mask += [1 if model else 0] * len(ids)
        self.turn_of_token += [turn if model else FEEDBACK] * len(ids)
        if logprobs is None:
            self.had_logprobs = self.had_logprobs and not model
            logprobs = [0.0] * len(ids)
        self.logprobs += logprobs


_SENTINEL = "webgen-assistant-turn-7f3a"


def feedback_ids(tokenizer: Any, text: str) -> list[int]:
    """The ids that follow an assistant turn's end-of-turn token when ``text`` comes back as a user turn, up to
    and including the next assistant header: rendered through the chat template on a stand-in conversation
    (the model's own tokens are never re-tokenised). The span is cut after the end-of-turn token that closes the
    stand-in assistant turn, so templates that render the last assistant turn differently from earlier ones
    (Qwen3 adds an empty ``<think>`` block to the last one only) work too."""
    conversation = [
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": _SENTINEL},
        {"role": "user", "content": text},
    ]
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    eos = tokenizer.eos_token or ""
    at = rendered.find(_SENTINEL)
    end = rendered.find(eos, at + len(_SENTINEL)) if eos and at >= 0 else -1
    if end < 0:
        raise ValueError("the chat template does not close an assistant turn with the tokenizer's EOS token")
    return tokenizer(rendered[end + len(eos) :], add_special_tokens=False)["input_ids"]


def state_keys(rollout: Trajectory) -> list[str]:
    """Per step, the state it starts from: the site's files and the last feedback the policy saw (GiGPO's anchor
    state; every rollout's first step starts from the same one)."""
    keys, files, feedback = [], rollout.initial_files, ""
    for result in rollout.results:
        blob = json.dumps([sorted(files.items()), feedback], ensure_ascii=False).encode()
        keys.append(hashlib.sha256(blob).hexdigest()[:16])
        files = result.files if result.error is None else files
        feedback = result.feedback
    return keys


def trajectory_rewards(results: list[EnvResult]) -> list[float | None]:
    """Step rewards of one rollout's turns (``step_rewards`` over the chain of turns); None for a turn the
    pool could not evaluate and for an edit whose site rendered but could not be judged."""
    steps = [
        RewardStep(
            index=t,
            parent_index=t - 1 if t else None,
            kind=r.kind if r.kind in ("edit", "gui_request", "finish", "invalid") else "invalid",
            screenshot_score=r.screenshot_score,
            gui_grade=r.gui_grade,
            good_format=r.good_format,
        )
        for t, r in enumerate(results)
    ]
    rewards = step_rewards(steps)
    for t, r in enumerate(results):
        if r.error is not None or (r.kind == "edit" and r.reward is None):
            rewards[t] = None
    return rewards


def credited_turns(results: list[EnvResult], rewards: list[float | None]) -> list[int]:
    """For each turn, the turn whose advantage its tokens take: its own, except a GUI request or finish with
    no reward of its own, which shares the step before it."""
    credit: list[int] = []
    for t, (result, reward) in enumerate(zip(results, rewards, strict=True)):
        own = reward is not None or result.error is not None or result.kind in ("edit", "invalid") or t == 0
        credit.append(t if own else credit[t - 1])
    return credit


class TrajectoryRollout:
    """TRL ``rollout_func``: see the module docstring. ``tasks`` maps a prompt's last user message to its
    (instruction, task id); ``recorder`` (optional) stores each finished rollout."""

    def __init__(
        self,
        pool: EvaluatorPool,
        *,
        max_turns: int = 5,
        max_turn_tokens: int = 9000,
        max_feedback_tokens: int = 5000,
        max_context_tokens: int = 32768,
        drop_overlong: bool = True,
        gui: bool = True,
        tasks: dict[str, tuple[str, int | None]] | None = None,
        recorder: Any = None,
        generator: TurnGenerator | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, not {max_turns}")
        self.pool, self.max_turns, self.max_turn_tokens = pool, max_turns, max_turn_tokens
        self.max_feedback_tokens, self.max_context_tokens = max_feedback_tokens, max_context_tokens
        self.drop_overlong, self.gui = drop_overlong, gui
        self.tasks = tasks if tasks is not None else {}
        self.recorder = recorder
        self.generator = generator
        self.__name__ = "webgen_step_grpo_rollout"

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        tokenizer = trainer.processing_class
        generate = self.generator or generator_for(trainer)
        self.pool.clear_screenshots()  # the last call's rollouts are stored: their screenshots are in the store
        rollouts = [self._start(prompt, tokenizer) for prompt in prompts]
        with generation_session(generate):
            for turn in range(self.max_turns):
                if not self._turn(turn, rollouts, generate, tokenizer, trainer):
                    break
        return self._output(rollouts, trainer)

    def _turn(
        self, turn: int, rollouts: list[Trajectory], generate: TurnGenerator, tokenizer: Any, trainer: Any
    ) -> bool:
        """One turn of every active rollout; False once no rollout on any rank is active. Every rank runs the
        same number of turns: a rank with none left idles through the turn's generate collectives."""
        active = [r for r in rollouts if not r.done]
        if not any_rank(trainer, bool(active)):
            return False
        if not active:
            idle_turn(generate)
            return True
        outputs = generate([r.prompt_ids + r.completion_ids for r in active], self.max_turn_tokens)
        stepping = []
        for rollout, out in zip(active, outputs, strict=True):
            rollout.add(out.ids, turn=turn, model=True, logprobs=out.logprobs)
            text = tokenizer.decode(out.ids, skip_special_tokens=True)
            if not out.stopped:  # cut off: close the turn with a masked EOS
                rollout.add([tokenizer.eos_token_id], turn=turn, model=False)
                if self.drop_overlong and not is_repetitive(text):
                    rollout.dropped = rollout.done = True
                    continue
                rollout.done = True  # a repetitive cut-off reply is scored (-1) and ends the rollout
            rollout.replies.append(text)
            stepping.append(rollout)
        jobs = [
            EnvJob(
                instruction=r.instruction,
                files=r.files,
                reply=r.replies[-1],
                history=r.replies[:-1],
                gui=self.gui,
                step=turn,
            )
            for r in stepping
        ]
        for rollout, result in zip(stepping, self.pool.map(jobs) if jobs else [], strict=True):
            self._observe(rollout, result, turn, tokenizer)
        return True

    # -- pieces -------------------------------------------------------------------------------------
    def _start(self, prompt: Any, tokenizer: Any) -> Trajectory:
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        last_user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        instruction, task_id = self.tasks.get(last_user, (last_user, None))
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return Trajectory(instruction=instruction, messages=list(messages), prompt_ids=ids, task_id=task_id)

    def _observe(self, rollout: Trajectory, result: EnvResult, turn: int, tokenizer: Any) -> None:
        rollout.results.append(result)
        if result.error is not None:
            logger.warning("rollout step %d could not be evaluated: %s", turn, result.error)
            rollout.done = True
            return
        rollout.files = result.files
        if result.kind == "finish" or turn == self.max_turns - 1 or rollout.done:
            rollout.done = True
            return
        ids = feedback_ids(tokenizer, self._clip(result.feedback, tokenizer))
        used = len(rollout.prompt_ids) + len(rollout.completion_ids) + len(ids)
        if used + self.max_turn_tokens > self.max_context_tokens:  # no room for another turn
            rollout.done = True
            return
        rollout.add(ids, turn=turn, model=False)

    def _clip(self, text: str, tokenizer: Any) -> str:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.max_feedback_tokens:
            return text
        return tokenizer.decode(ids[: self.max_feedback_tokens], skip_special_tokens=True) + "\n[feedback cut]"

    def _output(self, rollouts: list[Trajectory], trainer: Any) -> dict[str, Any]:
        samples_rewards, samples_turns, samples_keys = [], [], []
        for rollout in rollouts:
            rewards = trajectory_rewards(rollout.results)
            if rollout.dropped:
                rewards = [None] * len(rollout.results)
                rollout.env_mask = [0] * len(rollout.env_mask)
            credit = credited_turns(rollout.results, rewards) if rollout.results else []
            turn_ids = [FEEDBACK if t == FEEDBACK or t >= len(credit) else credit[t] for t in rollout.turn_of_token]
            if not rollout.results:  # nothing was scored (dropped at once): no step to credit
                turn_ids = [FEEDBACK] * len(rollout.turn_of_token)
            samples_rewards.append(rewards)
            samples_turns.append(turn_ids)
            samples_keys.append(state_keys(rollout))
            if self.recorder is not None:
                self.recorder.record(rollout, rewards, step=int(getattr(trainer.state, "global_step", 0)))
        self._log(trainer, rollouts, samples_rewards)
        return {
            "prompt_ids": [r.prompt_ids for r in rollouts],
            "completion_ids": [r.completion_ids for r in rollouts],
            "logprobs": [r.logprobs for r in rollouts] if all(r.had_logprobs for r in rollouts) else None,
            "env_mask": [r.env_mask for r in rollouts],
            "step_rewards": samples_rewards,
            "turn_ids": samples_turns,
            "state_keys": samples_keys,
        }

    def _log(self, trainer: Any, rollouts: list[Trajectory], rewards: list[list[float | None]]) -> None:
        log = getattr(trainer, "_log_metric", None)
        if log is None:
            return
        scored = [r for sample in rewards for r in sample if r is not None]
        rendered = [res for r in rollouts for res in r.results if res.kind == "edit"]
        log("rollout/turns", sum(len(r.results) for r in rollouts) / max(1, len(rollouts)))
        log("rollout/dropped", sum(r.dropped for r in rollouts) / max(1, len(rollouts)))
        log("rollout/step_reward", sum(scored) / len(scored) if scored else 0.0)
        log("rollout/valid_edit_rate", len(rendered) / max(1, sum(len(r.results) for r in rollouts)))
