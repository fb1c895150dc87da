"""Does the Step-GRPO chain learn? A tiny local model, the real environment, a scripted judge (not in CI).

For each seed: a tiny randomly initialised model is warmed for a few steps on good replies to a handful of toy
instructions (only partly: it still writes broken or unusable replies much of the time), then trained with
``webgen.training.trajectory.train`` (Step-GRPO, the real evaluator pool: builds, Chromium) for ``--steps``
optimizer steps. The judge (fake server) gives any rendered page 4/5, so the reward is easy to raise: a reply
with a valid file action that builds earns 4, one that does not build 0, an unusable reply -1.

Prints one JSON object: per seed, the mean reward of each step and the valid-render rate of each step (from the
runs stored in the store), the mean of the first and the last 5 steps, and whether the last 5 beat the first 5;
with matplotlib installed it also writes the curves to ``<out>/learn_demo.png``.

Usage: .venv/bin/python scripts/learn_demo.py [--seeds 0 1] [--steps 30] [--lr 5e-4] [--out webgen-out/learn-demo]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from webgen.agent.fake_server import FakeLLMServer
from webgen.core.env import apply_offline_env
from webgen.core.settings import ModelEndpoint, Settings

TOPICS = ["Bakery", "Flower shop", "Gym", "Bookstore"]


def page(title: str) -> str:
    return (
        '<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/App.tsx">\n'
        f'export default function App() {{\n  return <main className="p-8"><h1>{title}</h1>'
        "<p>Welcome! Have a look around.</p><button>Go</button></main>;\n}\n</boltAction></boltArtifact>"
    )


def warm(model_dir: Path, prompts: list[list[dict[str, str]]], replies: list[str], *, target_loss: float) -> None:
    """A few Adam steps on (prompt, good reply) pairs until the mean loss is below ``target_loss``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    batch = []
    for messages, reply in zip(prompts, replies, strict=True):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor(
            [prompt_ids + tokenizer(reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]]
        )
        labels = ids.clone()
        labels[0, : len(prompt_ids)] = -100
        batch.append((ids, labels))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        losses = []
        for ids, labels in batch:
            loss = model(input_ids=ids, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        if sum(losses) / len(losses) < target_loss:
            break
    model.save_pretrained(model_dir)


def run_seed(seed: int, args: argparse.Namespace, out: Path, server: FakeLLMServer) -> dict[str, Any]:
    from webgen.storage import store as store_module
    from webgen.training import config as config_module
    from webgen.training import tiny, trajectory

    work = out / f"seed{seed}"
    endpoint = {"base_url": server.base_url, "timeout_s": 60}
    settings = Settings().updated(
        database_url=f"sqlite:///{work / 'demo.db'}",
        judge=ModelEndpoint(model="judge", **endpoint).model_dump(),
        gui=ModelEndpoint(model="gui", **endpoint).model_dump(),
    )
    model = tiny.build_tiny_model(work / "model", seed=seed)
    instructions = [f"A {topic.lower()} website" for topic in TOPICS]
    warm(model, [trajectory.agent_messages(settings, i) for i in instructions], [page(t) for t in TOPICS],
         target_loss=args.warm_loss)  # fmt: skip
    tasks = work / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": i, "instruction": text}) + "\n" for i, text in enumerate(instructions)))
    config = config_module.load_config(
        trajectory.TrajectoryConfig,
        None,
        {
            "model": str(model),
            "output_dir": str(work / "out"),
            "tasks_file": str(tasks),
            "source": f"learn-demo-{seed}",
            "max_steps": args.steps,
            "num_generations": 4,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "max_turns": 1,
            "max_turn_tokens": 120,
            "max_context_tokens": 2048,
            "drop_overlong": False,
            "learning_rate": args.lr,
            "pool_workers": args.workers,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
            "seed": seed,
        },
    )
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs; stdout is the JSON report
        summary = trajectory.train(config, settings)
    with store_module.TrajectoryStore(settings.resolved_database_url) as store:
        per_step: dict[int, list[bool]] = {}
        for run in store.list_runs():
            step = run.config.get("training", {}).get("global_step")
            if step is not None:
                per_step.setdefault(step, []).extend(bool(s.rendered) for s in store.steps(run.id))
    rewards = summary.rewards
    first, last = rewards[:5], rewards[-5:]
    return {
        "rewards": [round(r, 3) for r in rewards],
        "valid_render_rate": [round(sum(v) / len(v), 3) if v else 0.0 for _, v in sorted(per_step.items())],
        "first5_mean": round(sum(first) / len(first), 3) if first else None,
        "last5_mean": round(sum(last) / len(last), 3) if last else None,
        "improved": bool(first and last and sum(last) / len(last) > sum(first) / len(first)),
        "seconds": summary.seconds,
    }


def plot(results: dict[str, Any], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for seed, result in results.items():
        left.plot(result["rewards"], label=f"seed {seed}")
        right.plot(result["valid_render_rate"], label=f"seed {seed}")
    left.set(title="mean reward per step", xlabel="optimizer step", ylabel="reward")
    right.set(title="valid-render rate per step", xlabel="optimizer step", ylim=(0, 1))
    left.legend()
    fig.tight_layout()
    fig.savefig(path)
    return str(path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warm-loss", type=float, default=0.05, help="stop warming at this mean loss")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("webgen-out/learn-demo"))
    args = parser.parse_args(argv)
    apply_offline_env()
    verdict = {"has_error": False, "description": "a page", "suggestions": "", "score": 4}
    rules = [
        {"model": "judge", "match": "You are a front-end reviewer", "times": -1, "reply": {"content": verdict}},
        {"model": "judge", "times": -1, "reply": "<test>Open it.</test>"},
        {"model": "gui", "times": -1, "reply": "Thought: done.\nAction: ANSWER; YES"},
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    with FakeLLMServer(rules) as server:
        results = {str(seed): run_seed(seed, args, args.out, server) for seed in args.seeds}
    report = {
        "demo": "Step-GRPO (trajectory grouping) on a tiny model, scripted judge",
        "steps": args.steps,
        "seeds": results,
        "all_improved": all(r["improved"] for r in results.values()),
        "plot": plot(results, args.out / "learn_demo.png"),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
