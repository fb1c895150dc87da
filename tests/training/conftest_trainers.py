"""Fixtures for the trainer tests (SFT, single-shot GRPO, state-grouping Step-GRPO), imported explicitly.

``stored_run``: a real single-shot run in a scratch store (real build, Chromium and SQLite; coder and judge
scripted), giving SFT a good conversation and the state grouping a stored step with its snapshot.
``site_token_policy``: the tiny model with one added token whose text is a whole working site reply, and whose
output weights make the policy write it first with probability ``p`` after a given prompt. It stands in for an
SFT-warmed policy: some completions build and are judged, the others are gibberish, so GRPO groups have reward
variance (a random tiny model alone only writes gibberish, every reward is equal and nothing is learned).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.graph.conftest import FAST_WAITS, GUI_YES, judge_rules, single_page
from tests.training.conftest import model_settings
from webgen.agent.fake_server import FakeLLMServer
from webgen.core.settings import Settings
from webgen.feedback.site.environment import SiteEnvironment
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn

SITE = single_page("Hello")
INSTRUCTION = "A one-page site that says hello"


def site_token_policy(src: Path, dst: Path, reply: str, prompt: list[dict[str, str]], p: float = 0.5) -> Path:
    """Save to ``dst`` the model in ``src`` plus a token for ``reply``, first with probability ``p`` after ``prompt``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src)
    tokenizer.add_tokens([reply])
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    token = tokenizer.convert_tokens_to_ids(reply)
    ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model(ids["input_ids"], output_hidden_states=True)
        hidden, logits = out.hidden_states[-1][0, -1], out.logits[0, -1]
        others = torch.cat([logits[:token], logits[token + 1 :]])
        target = torch.logsumexp(others, 0) + torch.log(torch.tensor(p / (1 - p)))
        model.get_output_embeddings().weight[token] = target * hidden / hidden.dot(hidden)
        got = torch.softmax(model(ids["input_ids"]).logits[0, -1], 0)[token].item()
    assert abs(got - p) < 0.05, got
    model.save_pretrained(dst)
    tokenizer.save_pretrained(dst)
    return dst


def first_tensor(model_dir: Path) -> Any:
    from safetensors.torch import load_file

    weights = load_file(model_dir / "model.safetensors")
    return weights["model.layers.0.mlp.down_proj.weight"]


class Models:
    """The fake judge/GUI (and coder) server and the CLI environment that points every role at it."""

    def __init__(self, settings: Settings, database: Path, *, judge_outages: int = 0) -> None:
        outage = {"model": "judge", "match": "You are a front-end reviewer", "times": judge_outages}
        rules = [{**outage, "reply": {"status": 500}}] if judge_outages else []
        rules += [{"model": "coder", "times": -1, "reply": SITE}, *judge_rules(4), GUI_YES]
        self.server = FakeLLMServer(rules).start()
        self.settings = model_settings(settings, self.server, database)
        self.database = database
        self.env = {
            "WEBGEN_DATABASE_URL": f"sqlite:///{database}",
            "WEBGEN_AGENT__GUI_WAITS": json.dumps(FAST_WAITS),
            "WEBGEN_SITE__PAGE_TIMEOUT_S": "5",
            "COLUMNS": "200",
        }
        for role in ("coder", "judge", "gui"):
            self.env |= {
                f"WEBGEN_{role.upper()}__BASE_URL": self.server.base_url,
                f"WEBGEN_{role.upper()}__MODEL": role,
                f"WEBGEN_{role.upper()}__MAX_RETRIES": "0",
            }

    def store(self) -> TrajectoryStore:
        return TrajectoryStore(f"sqlite:///{self.database}")


@pytest.fixture
def models(settings: Settings, tmp_path: Path) -> Iterator[Models]:
    made = Models(settings, tmp_path / "webgen.db")
    yield made
    made.server.stop()


@pytest.fixture
def stored_run(models: Models, env: SiteEnvironment) -> str:
    """A finished single-shot run (its step scored 4.1) in the models' store; returns its run id."""
    from webgen.graph.session import Session

    with models.store() as store, Session(models.settings, store=store, env=env) as session:
        outcome = session.start(TaskIn(source="test", external_id="hello", instruction=INSTRUCTION), mode="single-shot")
    assert outcome.status == "finished", outcome
    return outcome.run_id


def cli(models: Models, *args: str, code: int = 0) -> str:
    """Run `webgen ARGS` in this process with the models' environment; check the exit code; return the output."""
    from webgen.cli.app import app

    result = CliRunner().invoke(app, list(args), env=models.env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    return result.output


TINY_GRPO = [
    "--set",
    "per_device_train_batch_size=2",
    "--set",
    "gradient_accumulation_steps=1",
    "--set",
    "max_completion_length=8",
    "--set",
    "gradient_checkpointing=false",
    "--set",
    "save_steps=1",
    "--set",
    "logging_steps=1",
    "--set",
    "seed=1",
    "--set",
    "weight_decay=0",  # decay alone moves weights with a zero gradient: "the weights changed" must mean a gradient
    "--num-generations",
    "2",
    "--lr",
    "0.001",
    "--report-to",
    "none",
]

__all__ = [
    "INSTRUCTION",
    "SITE",
    "TINY_GRPO",
    "Models",
    "cli",
    "first_tensor",
    "models",
    "site_token_policy",
    "stored_run",
]
