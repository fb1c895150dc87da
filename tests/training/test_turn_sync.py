"""Several processes without vLLM (ZeRO-3 / FSDP): a policy's ``generate`` is a collective (its parameters are
gathered on every call), so every rank must make the same number of calls per rollout even when its own rollouts
end sooner. Two processes (gloo): rank 0's rollout finishes on turn 0, rank 1's runs 3 turns; the scripted policy
does an all-reduce on each call, as the gather does; the environment is the real evaluator pool."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from webgen.training.turns import Generated

pytestmark = [pytest.mark.browser, pytest.mark.node, pytest.mark.slow]
PROMPT = [{"role": "user", "content": "Build: A bakery site"}]
FINISH, GUI = '<boltAction type="finish"/>', '<boltAction type="screenshot_validated"/>'


class CollectivePolicy:
    """Scripted replies; every call (and every idle turn) is an all-reduce, like a ZeRO-3 parameter gather."""

    def __init__(self, tokenizer: Any, reply: str) -> None:
        self.tokenizer, self.reply, self.calls, self.idles = tokenizer, reply, 0, 0

    def _collective(self) -> None:
        import torch
        import torch.distributed as dist

        dist.all_reduce(torch.ones(1))

    def idle(self) -> None:
        self._collective()
        self.idles += 1

    def __call__(self, contexts: list[list[int]], max_new_tokens: int) -> list[Generated]:
        self._collective()
        self.calls += 1
        ids = self.tokenizer(self.reply, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        return [Generated(ids=ids, logprobs=None, stopped=True) for _ in contexts]


def _worker(model: str, out_dir: str) -> None:
    import torch.distributed as dist
    from transformers import AutoTokenizer

    from webgen.core.settings import Settings
    from webgen.training.pool import EvaluatorPool
    from webgen.training.rollout import TrajectoryRollout

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=45))
    rank = dist.get_rank()
    tokenizer = AutoTokenizer.from_pretrained(model)
    settings = Settings().updated(database_url=f"sqlite:///{Path(out_dir) / f'rank{rank}.db'}")
    policy = CollectivePolicy(tokenizer, FINISH if rank == 0 else GUI)
    trainer = SimpleNamespace(processing_class=tokenizer, state=SimpleNamespace(global_step=0))
    with EvaluatorPool(settings, workers=1, timeout_s=60) as pool:
        rollout = TrajectoryRollout(pool, max_turns=3, max_turn_tokens=64, gui=False, generator=policy)
        out = rollout([PROMPT], trainer)
    seen = {"rank": rank, "calls": policy.calls, "idles": policy.idles, "turns": len(out["step_rewards"][0])}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(seen))
    dist.destroy_process_group()


def test_ranks_make_the_same_number_of_generate_calls(tiny_model: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "tests.training.test_turn_sync", str(tiny_model), str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == {"rank": 0, "calls": 1, "idles": 2, "turns": 1}  # finished at once, then idled twice
    assert ranks[1] == {"rank": 1, "calls": 3, "idles": 0, "turns": 3}


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
