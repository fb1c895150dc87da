"""The pure parts of scripts/bench_real_sites.py: corpus reading, times, the summary, links, tool output."""

from __future__ import annotations

import json

import pytest

from webgen.scripts.bench_real_sites import (
    expectation_mismatches,
    find_sites,
    read_expectations,
    run_times,
    summarise,
)
from webgen.scripts.real_sites_native import PageResult, output_tail, preview_url, route_links


def row(slug: str, webgen: str, native: str | None, webgen_s: float = 1.0, native_s: float = 10.0) -> dict:
    data = {"slug": slug, "webgen": {"verdict": webgen, "seconds": webgen_s, "first_s": webgen_s * 2}}
    if native is not None:
        data["native"] = {"verdict": native, "seconds": native_s}
        data["agree"] = webgen == native
    return data


def test_summary_counts_agreement_false_and_missed_errors_and_the_speed_ratio():
    rows = [
        row("a", "ok", "ok", 0.5, 20.0),
        row("b", "error", "ok", 1.0, 30.0),  # a false error
        row("c", "ok", "error", 2.0, 10.0),  # a missed error
        row("d", "error", "error", 4.0, 5.0),
    ]
    summary = summarise(rows)
    assert summary["sites"] == summary["compared"] == 4
    assert summary["agreement_rate"] == 0.5
    assert summary["false_errors"] == ["b"]
    assert summary["missed_errors"] == ["c"]
    assert summary["webgen_median_s"] == 1.5
    assert summary["webgen_first_median_s"] == 3.0
    assert summary["native_median_s"] == 15.0
    assert summary["speed_ratio"] == 10.0


def test_summary_without_native_has_no_agreement_or_ratio():
    summary = summarise([row("a", "ok", None), row("b", "error", None, 3.0)])
    assert summary["compared"] == 0
    assert summary["agreement_rate"] is None and summary["speed_ratio"] is None
    assert summary["webgen_median_s"] == 2.0
    assert summary["webgen_errors"] == ["b"]


def test_run_times_use_the_cached_runs_and_keep_the_first():
    assert run_times([9.0, 1.0, 3.0]) == {"seconds": 2.0, "first_s": 9.0, "cached_s": 2.0}
    assert run_times([4.0]) == {"seconds": 4.0, "first_s": 4.0, "cached_s": None}


def test_sites_are_the_subfolders_with_a_package_json(tmp_path):
    for name in ("b-site", "a-site"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "package.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "corpus_bolt.json").write_text("[]")
    assert [p.name for p in find_sites(tmp_path)] == ["a-site", "b-site"]
    assert [p.name for p in find_sites(tmp_path, ["b-site"])] == ["b-site"]
    with pytest.raises(SystemExit, match="missing"):
        find_sites(tmp_path, ["missing"])


def test_expectations_are_read_from_every_corpus_file_shape(tmp_path):
    (tmp_path / "corpus_bolt.json").write_text(
        json.dumps([{"slug": "a", "native": "ok"}, {"slug": "b", "native": {"verdict": "error"}}, {"slug": "c"}])
    )
    (tmp_path / "corpus_lovable.json").write_text(
        json.dumps({"sites": {"d": {"native": True}, "e": {"expected": {"native": "error"}}}})
    )
    (tmp_path / "corpus_broken.json").write_text("{not json")
    expected = read_expectations(tmp_path)
    assert expected == {"a": "ok", "b": "error", "d": "ok", "e": "error"}
    rows = [row("a", "ok", "error"), row("b", "ok", "error"), row("x", "ok", "ok")]
    assert expectation_mismatches(rows, expected) == [{"slug": "a", "expected": "ok", "measured": "error"}]


def test_route_links_keep_distinct_same_origin_pages_under_the_base():
    home = "http://127.0.0.1:4173/app/"
    hrefs = [
        "http://127.0.0.1:4173/app/",  # the home page itself
        "http://127.0.0.1:4173/app",  # the same, without the slash
        "http://127.0.0.1:4173/app/about#team",
        "http://127.0.0.1:4173/app/about?x=1",  # the same page again
        "https://github.com/someone",  # another origin
        "http://127.0.0.1:9999/app/admin",  # another port
        "http://127.0.0.1:4173/app/brochure.pdf",  # a file
        "http://127.0.0.1:4173/elsewhere",  # outside the base
        "http://127.0.0.1:4173/app/shop/item.html",
        "http://127.0.0.1:4173/app/contact",
    ]
    assert route_links(hrefs, home, limit=5) == [
        "http://127.0.0.1:4173/app/about",
        "http://127.0.0.1:4173/app/shop/item.html",
        "http://127.0.0.1:4173/app/contact",
    ]
    assert route_links(hrefs, home, limit=1) == ["http://127.0.0.1:4173/app/about"]


def test_preview_url_and_output_tail_read_vite_output():
    coloured = "  \x1b[32m➜\x1b[39m  \x1b[1mLocal\x1b[22m:   \x1b[36mhttp://127.0.0.1:\x1b[1m4173\x1b[22m/app/\x1b[39m"
    assert preview_url(coloured) == "http://127.0.0.1:4173/app/"
    assert preview_url("  ➜  press h + enter to show help") is None
    output = 'error during build:\nCould not resolve "./Hero"\n    at getRollupError (file:///x.js:1:2)\n\n'
    assert output_tail(output) == 'error during build:\nCould not resolve "./Hero"'


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        (PageResult(url="u", status=200, text=40), None),
        (PageResult(url="u", status=200, media=1), None),
        (PageResult(url="u", status=200), "u: nothing visible (no text, img, svg or canvas)"),
        (PageResult(url="u", status=404, text=9), "u: HTTP 404"),
        (PageResult(url="u", status=200, text=9, page_errors=["boom"]), "u: uncaught page error: boom"),
        (PageResult(url="u", error="net::ERR_CONNECTION_REFUSED"), "u: net::ERR_CONNECTION_REFUSED"),
    ],
)
def test_a_native_page_is_broken_for_a_person_s_reasons(page, problem):
    assert page.problem == problem
