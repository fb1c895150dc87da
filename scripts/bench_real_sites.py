"""Real sites: webgen's verdict against the site's own toolchain's, and the time each takes; prints one JSON object.

Every subfolder of the corpus that holds a package.json is a site. Each goes through both, in the same run:

webgen:  the in-process path of `webgen render` (load the folder, put it on a scaffold site, build, serve, visit
         every route, check), with one SiteEnvironment kept open across sites, warm as a worker is. Verdict "ok"
         when no error-severity check failed. It runs `--webgen-runs` times (2 by default), each into a new
         folder, so no build or visit is reused: the first run may install packages into the keyed package cache,
         later runs find them cached. `seconds` is the cached runs' median (the first run's when there is one).
native:  the site's own way (`real_sites_native.py`): `npm install --ignore-scripts` with a shared npm cache,
         its own `vite build`, its own `vite preview` (which honours `base`), then Chromium loads the home page
         and up to 5 routes it links to (load, network idle up to 5 s, 2 s settle). Verdict "ok" when the build
         exits 0 and every page loads with no uncaught page error and shows text or an img/svg/canvas.

Summary: agreement rate, false errors (native ok, webgen error), missed errors (native error, webgen ok), the
median seconds of each and speed_ratio = native median / webgen median. When corpus_*.json files give a "native"
expectation per slug, sites whose measured native verdict differs from it are listed too.

Usage: .venv/bin/python scripts/bench_real_sites.py [--corpus tests/fixtures/real_sites] [--only SLUG ...]
       [--skip-native] [--webgen-runs 2] [--out FILE] [--npm-cache ~/.npm] [--work DIR] [-v]
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from webgen.core.env import apply_offline_env
from webgen.core.settings import Settings
from webgen.feedback.site.environment import SiteEnvironment
from webgen.scripts.real_sites_native import NativeBrowser, NativeOptions, run_native

log = logging.getLogger("bench_real_sites")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT / "tests" / "fixtures" / "real_sites"
VERDICTS = ("ok", "error")
NOTE_LIMIT = 5


# -- the corpus --------------------------------------------------------------------------------------------------
def find_sites(corpus: Path, only: list[str] | None = None) -> list[Path]:
    """The corpus's subfolders that hold a package.json, by name; `only` keeps those slugs (unknown ones: error)."""
    sites = sorted(p for p in corpus.iterdir() if p.is_dir() and (p / "package.json").is_file())
    if only:
        known = {p.name for p in sites}
        missing = [slug for slug in only if slug not in known]
        if missing:
            raise SystemExit(f"not in {corpus}: {', '.join(missing)}")
        sites = [p for p in sites if p.name in set(only)]
    return sites


def read_expectations(corpus: Path) -> dict[str, str]:
    """slug -> expected native verdict ("ok" or "error") from the corpus_*.json files that give one."""
    found: dict[str, str] = {}
    for path in sorted(corpus.glob("corpus_*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("%s is not readable JSON (%s); its expectations are ignored", path.name, exc)
            continue
        for slug, entry in _entries(data):
            if (verdict := expected_verdict(entry)) is not None:
                found[slug] = verdict
    return found


def _entries(data: Any) -> list[tuple[str, dict]]:
    """(slug, entry) from a list of {"slug": ...} objects, a {slug: entry} object, or either under "sites"."""
    if isinstance(data, dict) and isinstance(data.get("sites"), list | dict):
        data = data["sites"]
    if isinstance(data, list):
        return [(e["slug"], e) for e in data if isinstance(e, dict) and isinstance(e.get("slug"), str)]
    if isinstance(data, dict):
        return [(slug, e) for slug, e in data.items() if isinstance(e, dict)]
    return []


def expected_verdict(entry: dict) -> str | None:
    """An entry's "native" (or "expected": {"native": ...}) as "ok"/"error"; a bool or {"verdict": ...} works too."""
    value = entry.get("native")
    if value is None and isinstance(entry.get("expected"), dict):
        value = entry["expected"].get("native")
    if isinstance(value, dict):
        value = value.get("verdict")
    if isinstance(value, bool):
        return "ok" if value else "error"
    return value if value in VERDICTS else None


# -- webgen ------------------------------------------------------------------------------------------------------
def render_with_webgen(site: Path, env: SiteEnvironment, out: Path) -> Any:
    """`webgen render SITE --out OUT` in process: the one call to adapt when the CLI's loading changes.

    `scripts` sits below `cli` in the import layers (pyproject), so the CLI's module is loaded by name at run
    time: the bench measures exactly the command's path without making the scripts package depend on the CLI.
    """
    cli_render = importlib.import_module("webgen.cli.render")
    return cli_render.render(cli_render.load_source(site, out), env, out)


def webgen_verdict(result: Any) -> dict[str, Any]:
    """Verdict, failed error checks, their details (build diagnostics for a failed build), warnings and notes."""
    obs = result.observation
    failed = list(result.failed)
    details: dict[str, str] = {}
    for check in obs.checks:
        if not check.passed and check.severity == "error":
            details.setdefault(check.name, check.detail)
    if not obs.build.ok:
        shown = [d.render() for d in obs.build.diagnostics[:3]]
        details["build"] = "; ".join(shown)[:1500] or details.get("build", "")
    if obs.typecheck:
        details["typecheck"] = "; ".join(d.render() for d in obs.typecheck[:3])[:1500]
    warnings = [f"{c.name}: {c.detail}"[:300] for c in obs.checks if not c.passed and c.severity == "warning"]
    notes = [*obs.build.notes, *result.problems][:NOTE_LIMIT]
    verdict = "error" if failed else "ok"
    return {"verdict": verdict, "failed": failed, "details": details, "warnings": warnings, "notes": notes}


def bench_webgen(site: Path, env: SiteEnvironment, work: Path, runs: int) -> dict[str, Any]:
    """`runs` renders of one site, each into a new folder; the last run's verdict, first and cached times."""
    times: list[float] = []
    verdicts: list[dict[str, Any]] = []
    for run in range(1, runs + 1):
        started = time.monotonic()
        try:
            verdict = webgen_verdict(render_with_webgen(site, env, work / "webgen" / site.name / f"run{run}"))
        except Exception as exc:  # the input was refused or the harness failed: an error verdict, said why
            log.warning("%s: webgen raised %s: %s", site.name, type(exc).__name__, exc)
            message = f"{type(exc).__name__}: {exc}"[:1500]
            verdict = {"verdict": "error", "failed": ["exception"], "details": {"exception": message}}
        times.append(time.monotonic() - started)
        verdicts.append(verdict)
        log.info("%s: webgen run %d: %s in %.2fs %s", site.name, run, verdict["verdict"], times[-1], verdict["failed"])
    return {**verdicts[-1], **run_times(times), "run_verdicts": [v["verdict"] for v in verdicts]}


def run_times(times: list[float]) -> dict[str, Any]:
    """first_s, cached_s (median of the runs after the first; None with one run) and seconds (cached, else first)."""
    first = round(times[0], 2)
    cached = round(statistics.median(times[1:]), 2) if len(times) > 1 else None
    return {"seconds": cached if cached is not None else first, "first_s": first, "cached_s": cached}


# -- the summary ---------------------------------------------------------------------------------------------------
def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Agreement over the sites with both verdicts; medians over the sites each side measured."""
    compared = [r for r in rows if r.get("native")]
    agreeing = [r for r in compared if r["agree"]]
    webgen_median = median([r["webgen"]["seconds"] for r in rows])
    native_median = median([r["native"]["seconds"] for r in compared])
    return {
        "sites": len(rows),
        "compared": len(compared),
        "agreement_rate": round(len(agreeing) / len(compared), 3) if compared else None,
        "false_errors": [r["slug"] for r in compared if _verdicts(r) == ("error", "ok")],
        "missed_errors": [r["slug"] for r in compared if _verdicts(r) == ("ok", "error")],
        "webgen_errors": [r["slug"] for r in rows if r["webgen"]["verdict"] == "error"],
        "native_errors": [r["slug"] for r in compared if r["native"]["verdict"] == "error"],
        "webgen_median_s": webgen_median,
        "webgen_first_median_s": median([r["webgen"]["first_s"] for r in rows]),
        "native_median_s": native_median,
        "speed_ratio": round(native_median / webgen_median, 1) if webgen_median and native_median else None,
    }


def _verdicts(row: dict[str, Any]) -> tuple[str, str]:
    return row["webgen"]["verdict"], row["native"]["verdict"]


def expectation_mismatches(rows: list[dict[str, Any]], expected: dict[str, str]) -> list[dict[str, str]]:
    """Sites whose measured native verdict is not what the corpus file says."""
    return [
        {"slug": r["slug"], "expected": expected[r["slug"]], "measured": r["native"]["verdict"]}
        for r in rows
        if r.get("native") and r["slug"] in expected and expected[r["slug"]] != r["native"]["verdict"]
    ]


# -- the run -----------------------------------------------------------------------------------------------------
def bench_site(
    site: Path, env: SiteEnvironment, browser: NativeBrowser | None, work: Path, runs: int
) -> dict[str, Any]:
    row: dict[str, Any] = {"slug": site.name, "webgen": bench_webgen(site, env, work, runs)}
    if browser is not None:
        (work / "native").mkdir(parents=True, exist_ok=True)
        native = run_native(site, work / "native", browser).as_json()
        log.info("%s: native %s in %.1fs %s", site.name, native["verdict"], native["seconds"], native["reason"] or "")
        row["native"] = native
        row["agree"] = native["verdict"] == row["webgen"]["verdict"]
    return row


def run_all(sites: list[Path], args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    options = NativeOptions(npm_cache=args.npm_cache.expanduser(), settle_s=args.settle)
    with SiteEnvironment(Settings.load()) as env:
        if args.skip_native:
            return [bench_site(site, env, None, work, args.webgen_runs) for site in sites]
        with NativeBrowser(options) as browser:
            return [bench_site(site, env, browser, work, args.webgen_runs) for site in sites]


def method(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "webgen": f"webgen.cli.render in process, one SiteEnvironment for all sites, {args.webgen_runs} run(s) a "
        "site into new folders; seconds = median of the runs after the first (first_s: run 1, which may "
        "install packages into the keyed cache)",
        "native": "npm install --ignore-scripts --no-audit --no-fund (shared npm cache), node_modules/.bin/vite "
        f"build, vite preview (honours base), Chromium: home + up to 5 linked routes, load + network idle "
        f"(<= 5 s) + {args.settle:g} s settle each (settle_s); seconds = install + build + load",
        "npm_cache": str(args.npm_cache.expanduser()),
        "cpus": len(os.sched_getaffinity(0)),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="a folder of site folders")
    parser.add_argument("--only", nargs="+", metavar="SLUG", help="run these sites only")
    parser.add_argument("--skip-native", action="store_true", help="webgen only (no npm install, no vite build)")
    parser.add_argument("--webgen-runs", type=int, default=2, help="renders per site (the first fills caches)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--npm-cache", type=Path, default=Path("~/.npm"), help="npm cache of the native installs")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds each native page waits after idle")
    parser.add_argument("--work", type=Path, help="keep the rendered and installed sites here (default: a temp dir)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.webgen_runs < 1:
        parser.error("--webgen-runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    apply_offline_env()
    corpus = args.corpus.resolve()
    sites = find_sites(corpus, args.only)
    if not sites:
        raise SystemExit(f"no site folders (with a package.json) in {corpus}")
    log.info("%d site(s) from %s", len(sites), corpus)
    with tempfile.TemporaryDirectory(prefix="webgen-real-sites-") as tmp:
        work = args.work.resolve() if args.work else Path(tmp)
        rows = run_all(sites, args, work)
    report = {"corpus": str(corpus), "method": method(args), "sites": rows, "summary": summarise(rows)}
    expected = read_expectations(corpus)
    if expected and not args.skip_native:
        report["expectation_mismatches"] = expectation_mismatches(rows, expected)
    report["targets"] = {"agreement_rate_min": 0.95, "false_errors": 0, "speed_ratio_min": 5}
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
