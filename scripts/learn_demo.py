"""Does the training chain learn? SFT warm-up, then ``webgen train grpo`` with the real environment (not in CI).

For each seed:
1. a tiny randomly initialised model (``training/tiny.py``) is warmed by supervised fine-tuning on two replies
   per toy instruction: a good single-shot site, and one that looks as good (it passes the static gate) but does
   not build (a JSX tag left open). The warm-up stops once ``--warm-rate`` of its sampled replies write one of
   the two pages exactly: the model then writes the broken page about as often as the good one;
2. it is trained with ``webgen.training.grpo.train`` (the same function as ``webgen train grpo``: single-shot
   GRPO on the cascaded reward, the real evaluator pool, Vite builds and Chromium) for ``--steps`` optimizer
   steps. The judge (fake server) gives any rendered page 4/5 and the GUI agent answers YES, so a completion
   that builds and renders earns about 4.2 (4 + γ·s_func + λ·s_cot), the broken page ψ_build = 0, and anything
   garbled ψ_static = 0. Only the real build tells the two pages apart: rising rewards mean the chain
   (sampling, environment, reward, advantage, update) learns to write the page that builds.

Prints one JSON object: per seed, the mean reward and the valid-render rate of each optimizer step (from the
runs stored in the store), the means of the first and the last 5 steps, and whether the last 5 beat the first 5;
with matplotlib installed it also writes both curves to ``<out>/learn_demo.png``.

Usage: .venv/bin/python scripts/learn_demo.py [--seeds 0 1] [--steps 40] [--lr 3e-4] [--out webgen-out/learn-demo]
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


def site(title: str) -> str:
    """A good single-shot reply: the think/answer format and one page that builds."""
    return (
        f"<think>\nOne page for the {title.lower()}: a heading, a welcome line and a button.\n</think>\n<answer>\n"
        '<webArtifact id="site" title="s"><webAction type="file" filePath="src/App.tsx">\n'
        f'export default function App() {{\n  return <main className="p-8"><h1>{title}</h1>'
        "<p>Welcome! Have a look around.</p><button>Go</button></main>;\n}\n</webAction></webArtifact>\n</answer>"
    )


def broken_site(title: str) -> str:
    """A reply that looks as good (it passes the static gate) but does not build: a JSX tag is never closed.
    Only the real build tells it from :func:`site`; it starts with other words, so the choice is made early."""
    return (
        f"<think>\nA quick page for the {title.lower()}: a heading and a welcome line.\n</think>\n<answer>\n"
        '<webArtifact id="site" title="s"><webAction type="file" filePath="src/App.tsx">\n'
        f'export default function App() {{\n  return <main className="p-8"><h1>{title}</h1>'
        "<p>Welcome! Have a look around.</main>;\n}\n</webAction></webArtifact>\n</answer>"
    )


def app_file(text: str) -> str | None:
    """The ``src/App.tsx`` a reply writes, when it passes the static gate (else None)."""
    from webgen.agent.actions import parse_response
    from webgen.feedback.evaluation.rewards import static_gate

    parsed = parse_response(text)
    files = parsed.final_files()
    has_artifact = parsed.dialect in ("bolt", "web")
    if parsed.repetitive or static_gate(files, has_artifact=has_artifact, truncated=parsed.truncated, unsafe=[]):
        return None
    return files.get("src/App.tsx")


def warm(model_dir: Path, prompts: list[list[dict[str, str]]], args: argparse.Namespace) -> dict:
    """SFT (loss on the reply only) in epochs over two replies per prompt, the good site and the broken one, until
    ``args.warm_rate`` of ``args.warm_samples`` sampled replies write one of those two pages exactly. The model
    then picks between a page that builds and one that does not about as often: what GRPO has to learn is to
    pick the first. Returns what the warm-up reached, with the share of samples that wrote the good page."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    good = {app_file(site(t)) for t in TOPICS}
    bad = {app_file(broken_site(t)) for t in TOPICS}
    batch, prompt_ids_all = [], []
    for messages, title in zip(prompts, TOPICS, strict=True):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        prompt_ids_all.append(prompt_ids)
        for reply in (site(title), broken_site(title)):
            reply_ids = tokenizer(reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            ids = torch.tensor([prompt_ids + reply_ids])
            labels = ids.clone()
            labels[0, : len(prompt_ids)] = -100
            batch.append((ids, labels))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.warm_lr)
    rate, good_rate, epoch, loss_mean = 0.0, 0.0, 0, float("nan")
    for epoch in range(1, args.warm_epochs + 1):
        model.train()
        losses = []
        for ids, labels in batch:
            loss = model(input_ids=ids, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        loss_mean = sum(losses) / len(losses)
        if epoch % 5 and loss_mean > 0.5:
            continue  # sampling is the slow part: only look once the replies can be close
        model.eval()
        pages, per_prompt = [], max(1, args.warm_samples // len(prompt_ids_all))
        with torch.no_grad():
            for ids in prompt_ids_all:
                prompt = torch.tensor([ids])
                out = model.generate(prompt, do_sample=True, temperature=1.0, top_k=args.top_k, top_p=1.0,
                                     max_new_tokens=args.max_tokens, num_return_sequences=per_prompt,
                                     pad_token_id=tokenizer.pad_token_id)  # fmt: skip
                texts = tokenizer.batch_decode(out[:, prompt.shape[1] :], skip_special_tokens=True)
                pages += [app_file(text) for text in texts]
        rate = sum(page in good or page in bad for page in pages) / len(pages)
        good_rate = sum(page in good for page in pages) / len(pages)
        print(f"warm-up epoch {epoch}: loss {loss_mean:.3f}, {rate:.0%} of samples write one of the two pages, "
              f"{good_rate:.0%} the good one", file=sys.stderr)  # fmt: skip
        if rate >= args.warm_rate:
            break
    model.save_pretrained(model_dir)
    return {
        "epochs": epoch,
        "loss": round(loss_mean, 4),
        "known_page_rate": round(rate, 3),
        "good_page_rate": round(good_rate, 3),
    }


def run_seed(seed: int, args: argparse.Namespace, out: Path, server: FakeLLMServer) -> dict[str, Any]:
    import torch

    from webgen.storage import store as store_module
    from webgen.training import config as config_module
    from webgen.training import grpo, tiny

    torch.manual_seed(seed)
    work = out / f"seed{seed}"
    endpoint = {"base_url": server.base_url, "timeout_s": 60}
    settings = Settings().updated(
        database_url=f"sqlite:///{work / 'demo.db'}",
        judge=ModelEndpoint(model="judge", **endpoint).model_dump(),
        gui=ModelEndpoint(model="gui", **endpoint).model_dump(),
    )
    model = tiny.build_tiny_model(work / "model", seed=seed)
    instructions = [f"A {topic.lower()} website" for topic in TOPICS]
    prompts = [grpo.single_shot_messages(settings, i) for i in instructions]
    warmed = warm(model, prompts, args)
    tasks = work / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": i, "instruction": text}) + "\n" for i, text in enumerate(instructions)))
    config = config_module.load_config(
        config_module.GRPOTrainConfig,
        None,
        {
            "model": str(model),
            "output_dir": str(work / "out"),
            "tasks_file": str(tasks),
            "source": f"learn-demo-{seed}",
            "max_steps": args.steps,
            "num_generations": args.generations,
            "per_device_train_batch_size": args.generations,
            "gradient_accumulation_steps": 1,
            "max_completion_length": args.max_tokens,
            "top_k": args.top_k,  # the same sampling as the warm-up measured
            "learning_rate": args.lr,
            "pool_workers": args.workers,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
            "seed": seed,
        },
    )
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs; stdout is the JSON report
        summary = grpo.train(config, settings)
    with store_module.TrajectoryStore(settings.resolved_database_url) as store:
        per_step: dict[int, list[bool]] = {}
        for run in store.list_runs():
            step = run.config.get("training", {}).get("global_step")
            if step is not None:
                per_step.setdefault(step, []).extend(bool(s.rendered) for s in store.steps(run.id))
    rewards = summary.rewards
    first, last = rewards[:5], rewards[-5:]
    return {
        "warm_up": warmed,
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
    left.set(title="mean cascaded reward per step", xlabel="optimizer step", ylabel="reward")
    right.set(title="valid-render rate per step", xlabel="optimizer step", ylim=(0, 1.05))
    left.legend()
    fig.suptitle("webgen train grpo on a tiny model after an SFT warm-up (scripted judge)")
    fig.tight_layout()
    fig.savefig(path)
    return str(path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--generations", type=int, default=16, help="completions per prompt (one prompt a step)")
    parser.add_argument("--max-tokens", type=int, default=200, help="the longest completion")
    parser.add_argument("--top-k", type=int, default=50, help="sampling: the k most likely tokens (0: all)")
    parser.add_argument("--warm-lr", type=float, default=2e-3)
    parser.add_argument("--warm-epochs", type=int, default=300, help="the most SFT epochs of the warm-up")
    parser.add_argument(
        "--warm-rate", type=float, default=0.75, help="stop warming once this share writes one of the two pages"
    )
    parser.add_argument("--warm-samples", type=int, default=32, help="replies sampled to measure the warm-up")
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
        "demo": "SFT warm-up, then webgen train grpo (single-shot, cascaded reward) on a tiny model, scripted judge",
        "steps": args.steps,
        "seeds": results,
        "all_improved": all(r["improved"] for r in results.values()),
        "plot": plot(results, args.out / "learn_demo.png"),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
