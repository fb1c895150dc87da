"""One site made ready for its test cases: laid out, gated, built, served, rendered once and graded for looks.

The stages are WebGen-R1's VRR parts, each implying the previous: the static gate (from the cascaded reward),
the build, the server (the built site answers on loopback), the render (the first 1024x768 viewport shows
something). A site that could be served has *started* (WebGen-Bench: its cases run); the appearance judge
sees the first viewport after 0.4 s, as the benchmark's grader does. AAS is the grade when the site is a
valid render, else 0.

Two start modes: `build` (ours: the site built by our React + Vite build against the scaffold's packages and
served as static files) and `dev` (the benchmark's: the site's own `npm install` and dev server, any framework,
`devserver.py`). In `dev` mode "built" means its install finished and its dev server printed a URL.
"""

from __future__ import annotations

import logging
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from webgen.benchmark.appearance import AppearanceGrade, AppearanceJudge
from webgen.benchmark.devserver import DevServer, StartError
from webgen.benchmark.sites import SiteError, SiteSource, gate_problems, materialise
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.scaffold import link_node_modules
from webgen.feedback.site.server import StaticServer
from webgen.storage.evals import SiteRecord
from webgen.storage.store import TrajectoryStore

log = logging.getLogger(__name__)

#: the site settings of an eval: the first viewport only, after the benchmark grader's 0.4 s settle
EVAL_SITE = {"full_page": False, "settle_ms": 400, "max_routes": 1}


class StartOptions(BaseModel):
    """How sites are started (`--start`, `--network`, the dev mode's timeouts)."""

    start: Literal["build", "dev"] = "build"
    network: Literal["loopback", "open"] = "loopback"
    install_timeout_s: float = 300.0
    start_timeout_s: float = 60.0


@dataclass
class Prepared:
    record: SiteRecord
    server: Any = None  # StaticServer or DevServer (`url`, `stop()`), running while the site's cases are tested
    grade: AppearanceGrade | None = None  # None when the site was not judged


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=10) as response:  # noqa: S310 - our own loopback server
            return response.status == 200
    except OSError:
        return False


def prepare(
    env: SiteEnvironment,
    store: TrajectoryStore,
    source: SiteSource,
    work: Path,
    *,
    instruction: str,
    judge: AppearanceJudge | None,
    options: StartOptions | None = None,
) -> Prepared:
    """Lay out, gate, build and serve the site; with a `judge`, also render and grade its first viewport."""
    options = options or StartOptions()
    base = SiteRecord(
        task_id=source.task_id,
        rollout=source.rollout,
        run_id=source.run_id,
        step=source.step,
        best_step=source.best_step,
        steps=source.steps,
        tokens=source.tokens,
        calls=source.calls,
    )
    if source.problem:
        return Prepared(base.model_copy(update={"error": source.problem}))
    dev = options.start == "dev"
    try:
        materialise(source, work, store, any_framework=dev)
    except SiteError as exc:
        return Prepared(base.model_copy(update={"error": str(exc)}))
    gate = not gate_problems(work)
    if dev:
        try:
            home = work.with_name(work.name + ".home")
            server = DevServer(
                work,
                home,
                network=options.network,
                install_timeout_s=options.install_timeout_s,
                start_timeout_s=options.start_timeout_s,
            ).start()
        except (StartError, OSError) as exc:
            return Prepared(base.model_copy(update={"gate": gate, "error": f"start failed: {exc}"[:500]}))
    else:
        link_node_modules(work, env.scaffold.node_modules)
        build = env.build(work)
        if not build.ok:
            first = next((d.render() for d in build.diagnostics), "the build failed")
            return Prepared(base.model_copy(update={"gate": gate, "error": f"build failed: {first}"[:500]}))
        server = StaticServer(work / "dist").start()
        if not _answers(server.url):
            server.stop()
            error = "the built site does not answer at / (no index.html?)"
            return Prepared(base.model_copy(update={"gate": gate, "built": True, "error": error}))
    record = base.model_copy(update={"gate": gate, "built": True, "served": True, "started": True})
    if judge is None:  # serving a site whose row is stored already, for its cases left to run
        return Prepared(record, server)
    try:
        pages = env.renderer.visit(server.url.rstrip("/"), ["/"], discover=False)
    except Exception as exc:  # noqa: BLE001 - a render that fails is the site's "not rendered", never a crash
        log.warning("render of %s failed: %s", source.task_id, exc)
        pages = []
    page = pages[0] if pages else None
    rendered = bool(page and page.ok and page.screenshot and (page.text_length > 0 or page.media_elements > 0))
    record = record.model_copy(update={"rendered": rendered})
    if not rendered:
        why = (page.error if page else None) or "the first viewport shows nothing"
        record = record.model_copy(update={"error": f"not rendered: {why}"[:500]})
    if page is None or not page.screenshot:
        return Prepared(record, server)
    grade = judge.grade(instruction, page.screenshot)
    appearance = grade.grade if grade.ok and grade.grade is not None else 0
    valid = gate and rendered
    judged = grade.model_dump(mode="json")  # outcome, grade, raw reply, model, failure, cached, tokens, calls
    update = {"appearance": appearance, "aas": float(appearance) if valid else 0.0, "judge": judged}
    if not grade.ok and record.error is None:
        update["error"] = f"appearance not graded: {grade.failure}"[:500]
    return Prepared(record.model_copy(update=update), server, grade)
