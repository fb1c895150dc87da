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

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Generated", "TurnGenerator", "generator_for"]


@dataclass
class Generated:
    ids: list[int]
    logprobs: list[float] | None  # one per id; None when the backend gives none
    stopped: bool  # ended with an end-of-turn token (else it hit the token limit)


class TurnGenerator(Protocol):
    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]: ...


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


class ColocateGenerator:
    """This rank's in-process vLLM engine (tensor parallel size 1), sampled log-probs returned."""

    def __init__(self, trainer: Any) -> None:
        vllm = trainer.vllm_generation
        if getattr(vllm, "tensor_parallel_size", 1) != 1:
            raise ValueError("the multi-turn rollout needs vllm_tensor_parallel_size 1 in colocate mode")
        self.trainer, self.llm = trainer, vllm.llm
        self.stops = _stop_ids(trainer)

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=1, logprobs=0, stop_token_ids=sorted(self.stops), **_sampling(self.trainer.args, max_new_tokens)
        )
        outputs = self.llm.generate([{"prompt_token_ids": c} for c in contexts], sampling_params=params, use_tqdm=False)
        found = []
        for output in outputs:
            sample = output.outputs[0]
            ids = list(sample.token_ids)
            logprobs = [step[token].logprob for step, token in zip(sample.logprobs or [], ids, strict=False)]
            found.append(_cut(ids, logprobs if len(logprobs) == len(ids) else None, self.stops, None))
        return found


class ServerGenerator:
    """One HTTP client per rank to a ``vllm serve`` / ``trl vllm-serve`` server (token ids in, ids + log-probs out)."""

    def __init__(self, trainer: Any) -> None:
        from trl.generation.vllm_client import VLLMClient

        args = trainer.args
        base_url = args.vllm_server_base_url or f"http://{args.vllm_server_host}:{args.vllm_server_port}"
        self.trainer = trainer
        self.client = VLLMClient(base_url=base_url, connection_timeout=args.vllm_server_timeout)
        self.stops = _stop_ids(trainer)

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]:
        sampling = _sampling(self.trainer.args, max_new_tokens)
        sampling["top_k"] = max(sampling["top_k"], 0)
        out = self.client.generate(prompts=contexts, n=1, logprobs=0, **sampling)
        found = []
        for ids, logprobs in zip(out["completion_ids"], out["logprobs"] or [None] * len(contexts), strict=True):
            flat = [float(lp[0]) for lp in logprobs] if logprobs is not None else None
            found.append(_cut(list(ids), flat, self.stops, None))
        return found


def generator_for(trainer: Any) -> TurnGenerator:
    """The backend the trainer's options ask for."""
    args = trainer.args
    if not args.use_vllm:
        return PolicyGenerator(trainer)
    if args.vllm_mode == "colocate":
        return ColocateGenerator(trainer)
    return ServerGenerator(trainer)
