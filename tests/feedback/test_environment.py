"""The site environment end to end: real Vite builds, a real static server, real Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, descendants, make_site, own_processes
from webgen.cli.render import render
from webgen.feedback.site.environment import SiteEnvironment

pytestmark = [pytest.mark.browser, pytest.mark.node]


def test_example_site_every_route_visited_without_errors(env: SiteEnvironment, tmp_path: Path) -> None:
    result = render(EXAMPLES / "bakery.md", env, tmp_path / "out")
    obs = result.observation
    assert result.problems == []
    assert obs.build.ok and obs.served
    assert [p.route for p in obs.pages] == ["/", "/menu", "/contact"]
    assert not obs.has_error, obs.summary()
    for page in obs.pages:
        assert page.ok and not page.page_errors and not page.console_errors and not page.failed_requests
        assert page.text_length > 50 and page.interactive_elements >= 4
        assert page.screenshot_path and page.screenshot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    menu = next(p for p in obs.pages if p.route == "/menu")
    assert "Menu" in menu.title or menu.text_length > 100
    assert (tmp_path / "out" / "observation.json").is_file()


def test_syntax_error_reported_with_file_and_line(env: SiteEnvironment, tmp_path: Path) -> None:
    site = make_site(
        env,
        tmp_path,
        {
            "src/pages/Broken.tsx": "export default function Broken() {\n  const x = ;\n  return <p/>;\n}\n",
            "src/App.tsx": "import Broken from './pages/Broken';\nexport default function App() { return <Broken/>; }\n",
        },
    )
    obs = env.observe(site)
    assert not obs.build.ok and obs.has_error
    diag = obs.build.diagnostics[0]
    assert (diag.file, diag.line) == ("src/pages/Broken.tsx", 2)
    assert obs.pages == []


def test_runtime_exception_is_captured_as_page_error(env: SiteEnvironment, tmp_path: Path) -> None:
    app = """export default function App() {
  const items: any = undefined;
  return <ul>{items.map((i: string) => <li key={i}>{i}</li>)}</ul>;
}
"""
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    assert obs.build.ok
    page = obs.pages[0]
    assert page.page_errors and "map" in page.page_errors[0]
    failed = {c.name for c in obs.checks if not c.passed and c.severity == "error"}
    assert {"runtime_errors", "blank_page"} <= failed


def test_blank_page_detected(env: SiteEnvironment, tmp_path: Path) -> None:
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": "export default function App() { return <div/>; }\n"}))
    assert obs.build.ok and obs.pages[0].ok
    assert [c.name for c in obs.checks if not c.passed and c.severity == "error"] == ["blank_page"]


def test_import_outside_the_scaffold_is_a_located_build_error(env: SiteEnvironment, tmp_path: Path) -> None:
    app = (
        "import confetti from 'canvas-confetti-xyz';\nexport default function App() { confetti(); return <p>hi</p>; }\n"
    )
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    assert not obs.build.ok
    diag = obs.build.diagnostics[0]
    assert "canvas-confetti-xyz" in diag.message and (diag.file, diag.line) == ("src/App.tsx", 1)


def test_unknown_route_and_missing_asset_reported(env: SiteEnvironment, tmp_path: Path) -> None:
    app = """import { Routes, Route, Link } from 'react-router-dom';
export default function App() {
  return <div><Link to="/about">About us and our story</Link><img src="/missing.png" alt="x"/>
    <Routes><Route path="/" element={<p>Home page with enough text to count.</p>} /></Routes></div>;
}
"""
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    assert [p.route for p in obs.pages] == ["/", "/about"]
    broken = next(c for c in obs.checks if c.name == "broken_assets" and c.severity == "error")
    assert not broken.passed and "missing.png" in broken.detail


def test_external_requests_blocked_and_reported(env: SiteEnvironment, tmp_path: Path) -> None:
    app = 'export default function App() { return <main><h1>Gallery of our best work</h1><img src="https://images.example.com/a.jpg" alt="a"/></main>; }\n'
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    assert obs.pages[0].blocked_requests == ["https://images.example.com/a.jpg"]
    warning = next(c for c in obs.checks if c.name == "broken_assets" and c.severity == "warning")
    assert "blocked" in warning.detail
    assert not obs.has_error  # the environment's rule, not the site's bug: a warning only


@pytest.mark.slow
def test_infinite_loop_in_page_is_bounded(settings, tmp_path: Path) -> None:
    app = "export default function App() { while (true) {} return <p>never</p>; }\n"
    cfg = settings.updated(site={"page_timeout_s": 3.0})
    before = descendants(os.getpid())
    with SiteEnvironment(cfg) as env:
        obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
        spawned = own_processes(before)
    assert spawned  # the build worker, the Playwright driver and Chromium were this test's own
    assert obs.build.ok
    assert len(obs.pages) == 1 and "did not settle" in (obs.pages[0].error or "")
    assert obs.timings["render"] < 15
    assert obs.has_error
    assert not spawned & descendants(os.getpid())  # browser, driver and build worker all gone


def test_curated_scaffold_libraries_build_and_render(env: SiteEnvironment, tmp_path: Path) -> None:
    app = """import { useState } from "react";
import { Button, Card } from "antd";
import { SmileOutlined } from "@ant-design/icons";
import { Star, type LucideIcon } from "lucide-react";
import { Heart as Love } from "lucide-react";
import { FaLeaf } from "react-icons/fa";
import { LineChart, Line, XAxis } from "recharts";
import { format } from "date-fns";
import { create } from "zustand";
import { motion } from "framer-motion";
import clsx from "clsx";

const useCount = create<{ n: number; inc: () => void }>((set) => ({ n: 0, inc: () => set((s) => ({ n: s.n + 1 })) }));
const icon: LucideIcon = Star;

export default function App() {
  const { n, inc } = useCount();
  const [on, setOn] = useState(false);
  const Icon = icon;
  return (
    <motion.main className={clsx("p-8", on && "bg-green-50")}>
      <Card title="Library check">
        <p id="date">{format(new Date(2024, 0, 31), "yyyy-MM-dd")}</p>
        <Button type="primary" onClick={() => { inc(); setOn(true); }} icon={<SmileOutlined />}>Clicked {n}</Button>
        <Icon /><Love /><FaLeaf />
        <LineChart width={300} height={120} data={[{ x: 1, y: 2 }, { x: 2, y: 3 }]}><XAxis dataKey="x" /><Line dataKey="y" /></LineChart>
      </Card>
    </motion.main>
  );
}
"""
    obs = env.observe(make_site(env, tmp_path, {"src/App.tsx": app}))
    assert obs.build.ok, obs.summary()
    page = obs.pages[0]
    assert not page.page_errors and not page.console_errors, page
    assert page.media_elements >= 4 and page.interactive_elements >= 1


def test_typecheck_is_a_separate_optional_signal(env: SiteEnvironment, tmp_path: Path) -> None:
    app = "export default function App() {\n  const n: number = 'text';\n  return <p>Typed page with some text {n}</p>;\n}\n"
    site = make_site(env, tmp_path, {"src/App.tsx": app})
    assert env.observe(site).typecheck is None  # off by default, and the build itself does not type-check
    own = '{\n  "files": [],\n  "references": [{ "path": "./tsconfig.app.json" }]\n}\n'  # Vite's template
    (site / "tsconfig.json").write_text(own)
    found = env.typecheck(site)
    assert [(d.file, d.line) for d in found] == [("src/App.tsx", 2)]
    assert "TS2322" in found[0].message
    assert (site / "tsconfig.json").read_text() == own  # the site's own config is left as it is
