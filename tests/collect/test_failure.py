"""A run's structured failure reason (`RunOutcome.failure`), which the collector's endpoint-down stop reads:
a dead coder in a run of `max_steps <= restart_limit` steps fails the run naming the endpoint (it used to end
`finished` with only invalid steps), and a resume finishes it once the endpoint is back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collect.common import collect_settings, dead_url
from tests.collect.test_collect import rules
from webgen.agent.fake_server import FakeLLMServer
from webgen.core.settings import Settings
from webgen.feedback.site.environment import SiteEnvironment
from webgen.graph.session import Session
from webgen.storage.values import TaskIn

pytestmark = [pytest.mark.browser, pytest.mark.node]


@pytest.mark.slow
def test_a_dead_coder_within_the_restart_limit_fails_the_run_naming_it_and_a_resume_finishes_it(
    env: SiteEnvironment, settings: Settings, tmp_path: Path
) -> None:
    dead = dead_url()
    with FakeLLMServer(rules()) as server:
        live = collect_settings(settings, tmp_path, server.base_url, max_steps=2)  # restart_limit is 2
        down = live.model_copy(update={"coder": live.coder.model_copy(update={"base_url": dead})})
        with Session(down, env=env) as session:
            outcome = session.start(TaskIn(source="t", external_id="1", instruction="A one-page site"))
            run = session.store.get_run(outcome.run_id)
            kinds = [s.kind for s in session.store.steps(outcome.run_id)]
        assert kinds == ["invalid", "invalid"] and run.status == outcome.status == "failed"
        assert (outcome.failure, outcome.endpoint_role, outcome.endpoint_url) == ("endpoint", "coder", dead)
        assert f"the coder endpoint {dead} failed on every step" in run.error
        with Session(live, env=env) as session:
            again = session.resume(outcome.run_id)
            assert again.status == session.store.get_run(outcome.run_id).status == "finished"
            assert again.failure is None and again.best_step is not None
            assert session.store.steps(outcome.run_id)[-1].kind == "edit"
