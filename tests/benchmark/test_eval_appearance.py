"""The appearance judge over the real fake server: a grade, a cache hit, an unreadable reply, a dead endpoint."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.benchmark.conftest import APPEARANCE, dead_url
from webgen.agent.fake_server import FakeLLMServer
from webgen.benchmark.appearance import AppearanceJudge
from webgen.core.llm import OpenAIClient
from webgen.core.settings import ModelEndpoint
from webgen.storage.store import TrajectoryStore


def png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1024, 768), colour).save(out, "PNG")
    return out.getvalue()


def judge_on(url: str, cache: TrajectoryStore | None = None) -> AppearanceJudge:
    endpoint = ModelEndpoint(base_url=url, model="judge", max_retries=0, connect_retries=0, timeout_s=10)
    return AppearanceJudge(OpenAIClient(endpoint, role="judge"), model="judge", cache=cache)


def test_grade_is_cached_and_failures_are_outcomes(tmp_path: Path) -> None:
    rules = [
        {"model": "judge", "match": "Navy", "times": -1, "reply": "Analysis: clean and navy.\nGrade: 5"},
        {"model": "judge", "match": APPEARANCE, "times": -1, "reply": "Looks fine to me."},
    ]
    with FakeLLMServer(rules) as server, TrajectoryStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        judge = judge_on(server.base_url, store)
        first = judge.grade("A bank site. Navy components.", png("navy"))
        assert (first.outcome, first.grade, first.calls, first.cached) == ("ok", 5, 1, False)
        assert first.tokens > 0
        again = judge.grade("A bank site. Navy components.", png("navy"))
        assert (again.grade, again.cached, again.calls) == (5, True, 0)
        assert len(server.requests) == 1  # the second grade came from the store's judgment cache
        sent = server.requests[0].messages[0]["content"]
        assert APPEARANCE in sent[0]["text"] and sent[1]["type"] == "image_url"

        unreadable = judge.grade("A bakery site", png("white"))
        assert (unreadable.outcome, unreadable.grade) == ("unparsable", None)
        assert unreadable.raw == "Looks fine to me." and "no 1-5 grade" in unreadable.failure
        assert judge.grade("A bakery site", png("white")).calls == 1  # never cached: asked again

    down = judge_on(dead_url()).grade("A bakery site", png("white"))
    assert down.outcome == "endpoint_error" and down.grade is None and down.failure
