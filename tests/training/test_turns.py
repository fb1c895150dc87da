"""The turn backends and the feedback span, without a GPU: a Qwen3-style chat template; vLLM colocate with sleep
mode (the engine is a scripted stand-in for the model: it refuses to generate while its KV cache sleeps); the
server path when a sampled token's log-prob is missing."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from webgen.training import turns
from webgen.training.rollout import feedback_ids
from webgen.training.turns import ColocateGenerator, ServerGenerator

#: Qwen3's rule, written here: the last assistant turn after the last user turn gets a <think> block (empty when
#: it has no reasoning); earlier assistant turns are rendered without it
QWEN3_STYLE = (
    "{%- set ns = namespace(last_query=-1) %}"
    "{%- for m in messages %}{%- if m['role'] == 'user' %}{%- set ns.last_query = loop.index0 %}{%- endif %}"
    "{%- endfor %}"
    "{%- for m in messages %}"
    "{%- if m['role'] == 'assistant' %}"
    "{%- set content = m['content'].split('</think>')[-1].lstrip('\\n') %}"
    "{%- if loop.index0 > ns.last_query %}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + content + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- else %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def test_feedback_ids_work_with_a_qwen3_style_template(tokenizer: Any) -> None:
    chatml = feedback_ids(tokenizer, "Build: succeeded")
    tokenizer.chat_template, saved = QWEN3_STYLE, tokenizer.chat_template
    try:
        qwen3 = feedback_ids(tokenizer, "Build: succeeded")
    finally:
        tokenizer.chat_template = saved
    expected = "\n<|im_start|>user\nBuild: succeeded<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.decode(qwen3) == expected and qwen3 == chatml


# -- vLLM colocate, sleep mode ----------------------------------------------------------------------------------
class SleepyLLM:
    """vLLM's ``LLM`` surface the colocate backend uses; generating with a sleeping KV cache or weights fails, as
    it does on a GPU (garbage or a crash)."""

    def __init__(self, log: list[str]) -> None:
        self.log, self.kv_awake, self.weights_awake = log, False, False

    def sleep(self, level: int = 1) -> None:
        self.log.append(f"sleep{level}")
        self.kv_awake = self.weights_awake = False

    def wake_up(self, tags: list[str] | None = None) -> None:
        self.log.append(f"wake:{','.join(tags or ['all'])}")
        self.kv_awake = self.kv_awake or "kv_cache" in (tags or ["kv_cache"])
        self.weights_awake = self.weights_awake or "weights" in (tags or ["weights"])

    def generate(self, prompts: list[dict], sampling_params: Any, use_tqdm: bool = False) -> list[Any]:
        if not (self.kv_awake and self.weights_awake):
            raise RuntimeError("generate while the engine sleeps")
        self.log.append("generate")
        lp = {7: SimpleNamespace(logprob=-0.25), 2: SimpleNamespace(logprob=float("nan"))}
        sample = SimpleNamespace(token_ids=[7, 2], logprobs=[{7: lp[7]}, {2: lp[2]}])
        return [SimpleNamespace(outputs=[sample]) for _ in prompts]


def _args(**extra: Any) -> SimpleNamespace:
    values = {"temperature": 1.0, "top_p": 0.95, "top_k": 0, "min_p": None, "repetition_penalty": 1.0}
    return SimpleNamespace(**values, **extra)


def test_colocate_wakes_the_kv_cache_for_a_rollout_and_sleeps_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "_sampling_params", lambda **values: values)  # vLLM's SamplingParams: a record
    log: list[str] = []
    llm = SleepyLLM(log)

    def sync_weights() -> None:  # TRL's: wake the weights, load the policy's
        llm.wake_up(tags=["weights"])
        log.append("load")

    vllm = SimpleNamespace(
        llm=llm, tensor_parallel_size=1, enable_sleep_mode=True, _llm_weights_sleeping=False, sync_weights=sync_weights
    )
    trainer = SimpleNamespace(
        vllm_generation=vllm, args=_args(), processing_class=SimpleNamespace(eos_token_id=2), eos_token_ids=[2]
    )
    sync_weights()  # what TRL's _generate does before the rollout when the step changed
    generate = ColocateGenerator(trainer)
    for _ in range(2):  # two rollout calls in one optimizer step (gradient accumulation)
        with turns.generation_session(generate):
            first, second = generate([[1, 2, 3]], 16), generate([[1, 2, 3, 7, 2]], 16)  # two turns
    assert first[0].ids == [7, 2] and first[0].stopped and second[0].logprobs[0] == -0.25
    assert math.isnan(first[0].logprobs[1])  # a NaN log-prob stays NaN: TRL leaves that token uncorrected
    assert log == [
        "wake:weights", "load", "wake:kv_cache", "generate", "generate", "sleep2",
        "wake:weights", "load", "wake:kv_cache", "generate", "generate", "sleep2",
    ]  # fmt: skip
    assert vllm._llm_weights_sleeping  # TRL pushes the weights again before its next generate


class ScriptedClient:
    """``VLLMClient.generate``'s answer: per position a list of log-probs, None where the value was NaN."""

    def generate(self, prompts: list[list[int]], **_: Any) -> dict[str, Any]:
        return {
            "prompt_ids": prompts,
            "completion_ids": [[5, 6, 2] for _ in prompts],
            "logprobs": [[[-0.5], [None], [-0.1]] for _ in prompts],
            "logprob_token_ids": [[[5], [6], [2]] for _ in prompts],
        }


def test_server_path_keeps_a_missing_log_prob_as_nan() -> None:
    trainer = SimpleNamespace(args=_args(), processing_class=SimpleNamespace(eos_token_id=2), eos_token_ids=[2])
    out = ServerGenerator(trainer, client=ScriptedClient())([[1], [1, 1]], 8)
    assert [o.ids for o in out] == [[5, 6, 2], [5, 6, 2]] and all(o.stopped for o in out)
    assert out[0].logprobs[0] == -0.5 and math.isnan(out[0].logprobs[1]) and out[0].logprobs[2] == -0.1
