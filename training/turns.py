"""One policy turn for a batch of token contexts: ids in, sampled ids (and their log-probs) out.

Three backends, chosen from the trainer's own options:

* the policy itself (CPU or GPU without vLLM): ``generate`` inside ``trl.models.unwrap_model_for_generation``
  (gradient checkpointing would otherwise turn the KV cache off; DeepSpeed/FSDP parameters get gathered);
  no log-probs (TRL accepts None and recomputes them);
* vLLM colocate (``use_vllm``, ``vllm_mode="colocate"``): this rank's in-process ``LLM.generate`` on token
  prompts, one blocking batch call per turn, so a rank's rollouts move in lockstep;
* vLLM server (``vllm_mode="server"``): one HTTP client per rank to the server's ``/v1/completions`` (token ids
  in; ids and log-probs out). TRL's own ``VLLMGeneration.generate`` is a collective that de-duplicates prompts,
  so it cannot be called once per turn.

TRL pushes the current weights to vLLM before it calls the rollout function, so every turn sees the policy
being trained. The vLLM paths are written against the real APIs and were not run here (no GPU).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Generated", "TurnGenerator", "any_rank", "generation_session", "generator_for", "idle_turn"]


@dataclass
class Generated:
    ids: list[int]
    logprobs: list[float] | None  # one per id; None when the backend gives none
    stopped: bool  # ended with an end-of-turn token (else it hit the token limit)


class TurnGenerator(Protocol):
    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]: ...


def any_rank(trainer: Any, flag: bool) -> bool:
    """``flag`` OR-ed over every process (a collective: every rank must call it the same number of times);
    ``flag`` itself in a single process."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = getattr(getattr(trainer, "accelerator", None), "device", None) or "cpu"
    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def idle_turn(generate: Any) -> None:
    """This rank has no rollout left but others do: take part in the turn's collectives (a ZeRO-3/FSDP policy
    gathers its parameters on every ``generate`` call, so every rank must make the same number of calls)."""
    idle = getattr(generate, "idle", None)
    if idle is not None:
        idle()


@contextlib.contextmanager
def generation_session(generate: Any) -> Iterator[None]:
    """The backend's set-up around one rollout call (vLLM colocate with sleep mode: wake, then sleep again)."""
    session = getattr(generate, "session", None)
    if session is None:
        yield
        return
    with session():
        yield


def _nan(value: Any) -> float:
    """A sampled token's log-prob; NaN when the backend gave none (TRL then leaves that token uncorrected)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _stop_ids(trainer: Any) -> set[int]:
    ids = set(getattr(trainer, "eos_token_ids", None) or [])
    eos = trainer.processing_class.eos_token_id
    if eos is not None:
        ids.add(int(eos))
    return ids


def _cut(ids: list[int], logprobs: list[float] | None, stops: set[int], pad: int | None) -> Generated:
    """Keep the ids up to and including the first stop token; padding after it is dropped."""
    for i, token in enumerate(ids):
        if token in stops:
            return Generated(ids[: i + 1], logprobs[: i + 1] if logprobs is not None else None, True)
    while ids and pad is not None and ids[-1] == pad and pad not in stops:
        ids = ids[:-1]
    return Generated(ids, logprobs[: len(ids)] if logprobs is not None else None, False)


class PolicyGenerator:
    """Sampling with the model being trained (``model.generate``), left-padded batches."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.stops = _stop_ids(trainer)

    def idle(self) -> None:
        """One token on a one-token context: this rank's share of the collectives of a turn it has no rollout in."""
        pad = self.trainer.processing_class.pad_token_id
        self([[pad if pad is not None else 0]], 1)

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]:
        import torch
        from trl.models import unwrap_model_for_generation

        trainer, args = self.trainer, self.trainer.args
        pad = trainer.processing_class.pad_token_id
        width = max(len(c) for c in contexts)
        input_ids = torch.tensor([[pad] * (width - len(c)) + c for c in contexts], device=trainer.accelerator.device)
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts], device=input_ids.device)
        sampling = {"temperature": args.temperature, "top_p": args.top_p, "repetition_penalty": args.repetition_penalty}
        if args.top_k:
            sampling["top_k"] = args.top_k
        with (
            unwrap_model_for_generation(
                trainer.model_wrapped,
                trainer.accelerator,
                gather_deepspeed3_params=args.ds3_gather_for_generation,
                gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs,
            ) as model,
            torch.no_grad(),
        ):
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=True,
                pad_token_id=pad,
                eos_token_id=sorted(self.stops),
                **sampling,
            )
        new = out[:, width:].tolist()
        return [_cut(ids, None, self.stops, pad) for ids in new]


def _sampling(args: Any, max_new_tokens: int) -> dict[str, Any]:
    return {
        "temperature": args.temperature,
        "top_p": args.top_p,
        "top_k": args.top_k or -1,
        "min_p": args.min_p or 0.0,
        "repetition_penalty": args.repetition_penalty,
        "max_tokens": max_new_tokens,
    }


def _sampling_params(**values: Any) -> Any:
    from vllm import SamplingParams

    return SamplingParams(**values)


def _sampled_logprobs(sample: Any, ids: list[int]) -> list[float]:
    """The log-prob of each sampled id (vLLM: one {id: Logprob} per position); NaN where one is missing."""
    steps = list(sample.logprobs or [])
    out = []
    for i, token in enumerate(ids):
        entry = steps[i].get(token) if i < len(steps) and steps[i] is not None else None
        out.append(_nan(getattr(entry, "logprob", None)))
    return out


class ColocateGenerator:
    """This rank's in-process vLLM engine (tensor parallel size 1), sampled log-probs returned.

    With ``vllm_enable_sleep_mode`` TRL keeps the engine asleep (level 2: weights and KV cache released) outside
    its own generate calls. :meth:`session` wraps one rollout call: the weights are pushed again if a sleep
    discarded them, the KV cache is woken, and afterwards the engine sleeps again, as TRL's generate does."""

    def __init__(self, trainer: Any) -> None:
        vllm = trainer.vllm_generation
        if getattr(vllm, "tensor_parallel_size", 1) != 1:
            raise ValueError("the multi-turn rollout needs vllm_tensor_parallel_size 1 in colocate mode")
        self.trainer, self.vllm, self.llm = trainer, vllm, vllm.llm
        self.stops = _stop_ids(trainer)

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        if not getattr(self.vllm, "enable_sleep_mode", False):
            yield
            return
        if getattr(self.vllm, "_llm_weights_sleeping", False):
            self.vllm.sync_weights()  # wakes the weights and loads the current policy into them
            self.vllm._llm_weights_sleeping = False
        self.llm.wake_up(tags=["kv_cache"])
        try:
            yield
        finally:
            self.llm.sleep(level=2)
            self.vllm._llm_weights_sleeping = True  # TRL (and the next session) push the weights again

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]:
        params = _sampling_params(
            n=1, logprobs=0, stop_token_ids=sorted(self.stops), **_sampling(self.trainer.args, max_new_tokens)
        )
        outputs = self.llm.generate([{"prompt_token_ids": c} for c in contexts], sampling_params=params, use_tqdm=False)
        found = []
        for output in outputs:
            sample = output.outputs[0]
            ids = list(sample.token_ids)
            found.append(_cut(ids, _sampled_logprobs(sample, ids), self.stops, None))
        return found


class ServerGenerator:
    """One HTTP client per rank to a ``vllm serve`` / ``trl vllm-serve`` server (token ids in, ids + log-probs out)."""

    def __init__(self, trainer: Any, client: Any = None) -> None:
        args = trainer.args
        if client is None:
            from trl.generation.vllm_client import VLLMClient

            base_url = args.vllm_server_base_url or f"http://{args.vllm_server_host}:{args.vllm_server_port}"
            client = VLLMClient(base_url=base_url, connection_timeout=args.vllm_server_timeout)
        self.trainer, self.client = trainer, client
        self.stops = _stop_ids(trainer)

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]:
        sampling = _sampling(self.trainer.args, max_new_tokens)
        sampling["top_k"] = max(sampling["top_k"], 0)
        out = self.client.generate(prompts=contexts, n=1, logprobs=0, **sampling)
        found = []
        all_logprobs = out.get("logprobs") or [None] * len(contexts)
        for ids, logprobs in zip(out["completion_ids"], all_logprobs, strict=True):
            # one list per position, the sampled token's first; a NaN log-prob comes back as None (TRL's parser)
            flat = [_nan(lp[0] if lp else None) for lp in (logprobs or [])]
            flat += [math.nan] * (len(ids) - len(flat))
            found.append(_cut(list(ids), flat[: len(ids)], self.stops, None))
        return found


def generator_for(trainer: Any) -> TurnGenerator:
    """The backend the trainer's options ask for."""
    args = trainer.args
    if not args.use_vllm:
        return PolicyGenerator(trainer)
    if args.vllm_mode == "colocate":
        return ColocateGenerator(trainer)
    return ServerGenerator(trainer)
