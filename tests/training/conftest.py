"""Training fixtures: a tiny local model (no downloads), scripted judge/GUI models behind the real fake server,
and settings that reuse the installed scaffold cache with a scratch SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.graph.conftest import FAST_WAITS, GUI_YES, judge_rules, single_page
from webgen.agent.fake_server import FakeLLMServer
from webgen.core.settings import ModelEndpoint, Settings

__all__ = ["GUI_YES", "judge_rules", "model_settings", "single_page"]


def model_settings(base: Settings, server: FakeLLMServer, database: Path, **agent: Any) -> Settings:
    """``base`` (its home keeps the scaffold cache) with every role on ``server`` and a scratch store."""
    endpoints = {
        role: ModelEndpoint(base_url=server.base_url, model=role, timeout_s=20, max_retries=1, connect_retries=0)
        for role in ("coder", "judge", "gui")
    }
    return base.model_copy(
        update={
            "database_url": f"sqlite:///{database}",
            "agent": base.agent.model_copy(update={"gui_waits": FAST_WAITS, **agent}),
            **endpoints,
        }
    )


JUDGED = {"has_error": False, "description": "a tidy page", "suggestions": "", "score": 4}
#: the shared pool's models: the judge grades 4 (slowly for a "SLOW task", never for a "HANGING task"), the GUI
#: agent answers YES and its transcript is graded 5
POOL_RULES = [
    {"model": "judge", "match": "Write the instruction it will follow", "times": -1, "reply": "<test>Open it.</test>"},
    {
        "model": "judge",
        "match": "Read the agent's log",
        "times": -1,
        "reply": 'It works. {"test_passed": true, "improvement_suggestions": "", "grade": 5}',
    },
    {"model": "judge", "match": "HANGING task", "times": -1, "reply": {"hang": True}},
    {"model": "judge", "match": "SLOW task", "times": -1, "reply": {"content": JUDGED, "delay_s": 2.0}},
    {"model": "judge", "match": "You are a front-end reviewer", "times": -1, "reply": {"content": JUDGED}},
    GUI_YES,
]


@pytest.fixture(scope="session")
def shared_pool(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An evaluator pool of 2 workers on :data:`POOL_RULES`; ``.server`` is the fake server."""
    from webgen.training.pool import EvaluatorPool

    server = FakeLLMServer(POOL_RULES).start()
    cfg = model_settings(settings, server, tmp_path_factory.mktemp("pool") / "webgen.db")
    with EvaluatorPool(cfg, workers=2, timeout_s=120) as pool:
        pool.server = server
        yield pool
    server.stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from webgen.training.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def fake_models(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    """fake_models(rules) -> Settings whose judge and GUI agent answer from ``rules`` (servers stopped after)."""
    servers: list[FakeLLMServer] = []

    def make(rules: list[dict[str, Any]], **agent: Any) -> Settings:
        server = FakeLLMServer(rules).start()
        servers.append(server)
        make.server = server
        return model_settings(settings, server, tmp_path / "webgen.db", **agent)

    yield make
    for server in servers:
        server.stop()


_SAMPLED_NLL = 0.3  # the whole reply's negative log-likelihood: a sample reproduces it with p > 0.7


def teach(model_dir: Path, messages: list[dict[str, str]], reply: str, *, steps: int = 400) -> Path:
    """Make the tiny model answer ``messages`` with ``reply`` (up to a few hundred Adam steps on that one sequence,
    stopping once a sample reproduces it most of the time): a random model never writes a usable action, and the
    RL tests need some replies that build."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    target = tokenizer(reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = torch.tensor([prompt_ids + target])
    labels = ids.clone()
    labels[0, : len(prompt_ids)] = -100
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        # stop once sampling (temperature 1, as the trainers roll out) gives the whole reply most of the time:
        # greedy decoding alone can reproduce it while a sample still goes astray within a few hundred tokens
        if step % 5 == 4 and loss.item() * len(target) < _SAMPLED_NLL:
            with torch.no_grad():
                predicted = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].argmax(-1).tolist()
            if predicted == target:
                break
    out_dir = model_dir.parent / "taught"
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
