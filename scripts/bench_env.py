"""Benchmark the site environment; prints one JSON object.

warm step:  apply an edit to the 3-page example site, build, serve, screenshot every route, run the checks
unchanged:  a warm step whose edit rewrites the last content again (its build and page visits are reused)
cold step:  the same as the first step of a new worker (build worker and Chromium start included)
baseline:   what the published agent does per step, measured in the same run: a fresh `npm install`
            (npm cache warm), `npm run dev`, wait for the URL, wait 3 s, one screenshot
memory:     peak PSS of this process tree while N sites are observed at once, divided by N
own packages: sites that ask for what the scaffold does not serve (another major of a package, the ~50 packages
            of a Lovable shadcn/ui site): the first step (its package set installed anew; npm's cache as it is),
            a cached step (a new site folder with the same set) and a warm step (an edit in the same folder)

Usage: python scripts/bench_env.py [--warm 10] [--cold 3] [--baseline 2] [--concurrent 2] [--gap 0] [--no-own]
(--gap S pauses S seconds before each warm step, as a model's turn does in a real run)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from webgen.agent.actions import parse_response
from webgen.core.env import apply_offline_env
from webgen.core.settings import Settings, SiteSettings
from webgen.feedback.site import npm
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.proc import kill_group
from webgen.feedback.site.renderer import Renderer
from webgen.feedback.site.scaffold import npm_env, workspace_for
from webgen.feedback.site.workspace import FileWrite

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "webgen" / "examples" / "bakery.md"
SHADCN_SITE = ROOT / "tests" / "fixtures" / "real_sites" / "lovable-saas-dashboard"
#: another major of three scaffold packages (bolt-era pins the scaffold does not serve)
OTHER_MAJORS = {"framer-motion": "^10.16.4", "lucide-react": "^0.462.0", "zustand": "^3.7.2"}
PUBLISHED_SETTLE_S = 3.0


def stats(samples: list[float]) -> dict[str, float]:
    if not samples:  # e.g. --baseline 0
        return {"median_s": None, "p95_s": None, "n": 0}
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_s": round(statistics.median(ordered), 3), "p95_s": round(p95, 3), "n": len(ordered)}


def example_files() -> list[FileWrite]:
    return [FileWrite(path=f.path, content=f.content) for f in parse_response(EXAMPLE.read_text()).files]


def edit(step: int) -> FileWrite:
    home = next(f for f in example_files() if f.path == "src/pages/Home.tsx")
    return FileWrite(path=home.path, content=home.content.replace("Bread worth waking up for", f"Fresh bread #{step}"))


def new_site(env: SiteEnvironment, root: Path) -> Path:
    site = env.new_site(root)
    workspace_for(site).apply(example_files())
    return site


def warm_and_cold(settings: Settings, work: Path, warm: int, cold: int, gap: float = 0.0) -> dict:
    cold_samples, warm_samples, same_samples, stages = [], [], [], {"build": [], "render": []}
    for i in range(cold):
        started = time.monotonic()
        with SiteEnvironment(settings) as env:
            obs = env.observe(new_site(env, work / f"cold{i}"))
            cold_samples.append(time.monotonic() - started)
            assert obs.build.ok and len(obs.pages) == 3, obs.summary()
            if i == cold - 1:
                site = work / f"cold{i}"
                workspace = workspace_for(site)
                for step in range(warm):
                    time.sleep(gap)
                    started = time.monotonic()
                    workspace.apply([edit(step)])
                    obs = env.observe(site)
                    warm_samples.append(time.monotonic() - started)
                    assert obs.build.ok and not obs.has_error and len(obs.pages) == 3, obs.summary()
                    for stage in stages:
                        stages[stage].append(obs.timings[stage])
                for _ in range(min(warm, 3)):
                    started = time.monotonic()
                    workspace.apply([edit(warm - 1)])  # the same bytes as the last step
                    obs = env.observe(site)
                    same_samples.append(time.monotonic() - started)
                    assert obs.build.ok and len(obs.pages) == 3 and any("reused" in n for n in obs.build.notes)
    return {
        "cold_step": stats(cold_samples),
        "warm_step": stats(warm_samples),
        "unchanged_step": stats(same_samples),
        "warm_stages_median_s": {k: round(statistics.median(v), 3) for k, v in stages.items()},
    }


def naive_step(settings: Settings, work: Path, renderer: Renderer) -> dict[str, float]:
    """One step the published agent's way (see module docstring)."""
    env = SiteEnvironment(settings)
    site = work / "site"
    shutil.copytree(env.scaffold.source, site, ignore=shutil.ignore_patterns("node_modules"))
    workspace_for(site).apply(example_files())
    started = time.monotonic()
    install = subprocess.run(["npm", "install"], cwd=site, env=npm_env(), capture_output=True, timeout=600, check=False)
    assert install.returncode == 0, install.stdout[-2000:]
    dev = subprocess.Popen(
        ["npm", "run", "dev", "--", "--host", "127.0.0.1", "--port", "0"],
        cwd=site,
        env=npm_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )
    try:
        url = None
        while url is None:
            line = dev.stdout.readline()
            if not line:
                raise RuntimeError("vite dev exited before printing its URL")
            if m := re.search(r"(http://127\.0\.0\.1:\d+/)", line):
                url = m.group(1)
        ready = time.monotonic()
        pages = renderer.visit(url, ["/"], discover=False)
        shot = time.monotonic() - ready
        assert pages[0].ok and pages[0].text_length > 50
    finally:
        kill_group(dev)
    no_settle = time.monotonic() - started
    return {"with_settle": no_settle + PUBLISHED_SETTLE_S, "no_settle": no_settle, "screenshot": shot}


def _own_packages_site(env: SiteEnvironment, kind: str, root: Path) -> Path:
    if kind == "shadcn":
        return Path(shutil.copytree(SHADCN_SITE, root))
    site = new_site(env, root)
    package = json.loads((site / "package.json").read_text())
    package["dependencies"].update(OTHER_MAJORS)
    (site / "package.json").write_text(json.dumps(package, indent=2))
    return site


def _timed_step(env: SiteEnvironment, site: Path) -> float:
    started = time.monotonic()
    obs = env.observe(site)
    assert obs.build.ok and not obs.has_error, obs.summary()
    return round(time.monotonic() - started, 3)


def own_packages(settings: Settings, work: Path) -> dict:
    """First, cached and warm steps of sites with packages of their own (see the module doc)."""
    result = {}
    with SiteEnvironment(settings) as env:
        for kind in ("other_major", "shadcn"):
            first = _own_packages_site(env, kind, work / f"{kind}-first")
            extras, _ = npm.plan(npm.requested_packages(first)[0], env.scaffold)
            shutil.rmtree(npm.cache_dir(env.scaffold, settings.home, extras), ignore_errors=True)
            times = {"packages_installed": len(extras), "first_step_s": _timed_step(env, first)}
            cached = _own_packages_site(env, kind, work / f"{kind}-cached")
            times["cached_step_s"] = _timed_step(env, cached)
            main = cached / "src" / "main.tsx"
            main.write_text(main.read_text() + '\ndocument.title = "webgen bench edit";\n')  # changes the output
            times["warm_step_s"] = _timed_step(env, cached)
            result[kind] = times
    return result


def pss_of_tree(pid: int) -> int:
    """Proportional set size (kB) of `pid` and its descendants: shared pages counted once overall."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for member in tree:
        try:
            text = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        if m := re.search(r"^Pss:\s+(\d+) kB", text, re.M):
            total += int(m.group(1))
    return total


def concurrent_memory(settings: Settings, work: Path, sites: int) -> dict:
    import os

    baseline_kb = pss_of_tree(os.getpid())
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], pss_of_tree(os.getpid()))
            time.sleep(0.05)

    def worker(i: int) -> None:
        with SiteEnvironment(settings) as env:
            site = new_site(env, work / f"mem{i}")
            workspace = workspace_for(site)
            for step in range(3):
                workspace.apply([edit(step)])
                env.observe(site)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(sites)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    sampler.join()
    return {"sites": sites, "peak_pss_mb_per_site": round((peak[0] - baseline_kb) / 1024 / sites, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=int, default=10)
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--baseline", type=int, default=2)
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--gap", type=float, default=0.0, help="seconds of pause before each warm step")
    parser.add_argument("--no-own", action="store_true", help="skip the sites with packages of their own")
    args = parser.parse_args()
    apply_offline_env()
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="webgen-bench-") as tmp:
        work = Path(tmp)
        result = warm_and_cold(settings, work, args.warm, args.cold, args.gap)
        result["gap_s"] = args.gap
        # The published way waits for its dev server, however long a cold start takes: no 15 s cut here.
        with Renderer(SiteSettings(max_routes=1, page_timeout_s=120)) as renderer:
            naive = [naive_step(settings, work / f"naive{i}", renderer) for i in range(args.baseline)]
        result["baseline_published_way"] = stats([n["with_settle"] for n in naive])
        result["baseline_without_3s_settle"] = stats([n["no_settle"] for n in naive])
        warm_median = result["warm_step"]["median_s"]
        if naive and warm_median:
            result["ratio_baseline_over_warm"] = round(result["baseline_published_way"]["median_s"] / warm_median, 1)
            result["ratio_without_settle"] = round(result["baseline_without_3s_settle"]["median_s"] / warm_median, 1)
        if args.concurrent > 0:
            result["memory"] = concurrent_memory(settings, work, args.concurrent)
        if not args.no_own:
            result["own_packages"] = own_packages(settings, work)
    result["targets"] = {"ratio_min": 10, "warm_step_max_s": 0.7}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
