"""Sites shaped like what bolt.new and Lovable publish: each cause of a false error verdict, and its counterpart
that must still fail. The projects are whole (their own package.json, index.html, configs), as a generator
writes them, not files over our scaffold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from webgen.core.types import Observation
from webgen.feedback.site.environment import SiteEnvironment

pytestmark = [pytest.mark.node, pytest.mark.browser]

BOLT_PACKAGE = {
    "name": "vite-react-typescript-starter",
    "private": True,
    "version": "0.0.0",
    "type": "module",
    "scripts": {"dev": "vite", "build": "vite build", "lint": "eslint .", "preview": "vite preview"},
    "dependencies": {"lucide-react": "^0.344.0", "react": "^18.3.1", "react-dom": "^18.3.1"},
    "devDependencies": {
        "@eslint/js": "^9.9.1",
        "@types/react": "^18.3.5",
        "@types/react-dom": "^18.3.0",
        "@vitejs/plugin-react": "^4.3.1",
        "autoprefixer": "^10.4.18",
        "eslint": "^9.9.1",
        "eslint-plugin-react-hooks": "^5.1.0-rc.0",
        "globals": "^15.9.0",
        "postcss": "^8.4.35",
        "tailwindcss": "^3.4.1",
        "typescript": "^5.5.3",
        "typescript-eslint": "^8.3.0",
        "vite": "^5.4.2",
    },
}
INDEX_HTML = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <link rel="icon" type="image/svg+xml" href="/vite.svg" />
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <title>Harbor Coffee</title>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.tsx"></script>
  </body>
</html>
"""
VITE_CONFIG = """import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// https://vitejs.dev/config/
export default defineConfig({
  plugins: [react()],
  optimizeDeps: {
    exclude: ['lucide-react'],
  },
});
"""
TAILWIND = """/** @type {import('tailwindcss').Config} */
export default {
  content: ['./index.html', './src/**/*.{js,ts,jsx,tsx}'],
  theme: {
    extend: {},
  },
  plugins: [],
};
"""
MAIN = """import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import App from './App.tsx';
import './index.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>
);
"""
CSS = "@tailwind base;\n@tailwind components;\n@tailwind utilities;\n"
FOOTER_APP = """import { Coffee, Github, Twitter, Facebook, Linkedin, Instagram, Youtube } from 'lucide-react';

const socials = [Github, Twitter, Facebook, Linkedin, Instagram, Youtube];

function App() {
  return (
    <div className="min-h-screen bg-stone-50">
      <header className="flex items-center gap-2 p-6"><Coffee className="h-6 w-6" /> Harbor Coffee Roasters</header>
      <main className="p-6"><h1 className="text-3xl font-bold">Small-batch coffee, roasted by the sea</h1></main>
      <footer className="flex gap-4 p-6">
        {socials.map((Icon, i) => (
          <a key={i} href="#" aria-label="social link"><Icon className="h-5 w-5" /></a>
        ))}
      </footer>
    </div>
  );
}

export default App;
"""


def bolt_site(root: Path, files: dict[str, str] | None = None, package: dict | None = None) -> Path:
    """A whole project in bolt.new's shape (no scaffold files), with `files` over its defaults."""
    tree = {
        "package.json": json.dumps(package or BOLT_PACKAGE, indent=2),
        "index.html": INDEX_HTML,
        "vite.config.ts": VITE_CONFIG,
        "tailwind.config.js": TAILWIND,
        "postcss.config.js": "export default {\n  plugins: {\n    tailwindcss: {},\n    autoprefixer: {},\n  },\n};\n",
        ".bolt/config.json": '{\n  "template": "bolt-vite-react-ts"\n}\n',
        "src/main.tsx": MAIN,
        "src/index.css": CSS,
        "src/vite-env.d.ts": '/// <reference types="vite/client" />\n',
        "src/App.tsx": FOOTER_APP,
        **(files or {}),
    }
    for rel, text in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def errors(obs: Observation) -> list[str]:
    return [f"{c.name}: {c.detail}" for c in obs.checks if not c.passed and c.severity == "error"]


def css_of(site: Path) -> str:
    return "".join(p.read_text() for p in (site / "dist" / "assets").glob("*.css"))


def test_bolt_footer_with_brand_icons_and_default_favicon(env: SiteEnvironment, tmp_path: Path) -> None:
    """lucide-react ^0.344.0 (the scaffold's line: no install) and Vite's `/vite.svg` icon that is not there."""
    obs = env.observe(bolt_site(tmp_path / "site"))
    assert errors(obs) == [], obs.summary()
    assert obs.build.seconds < 10  # served by the scaffold's copy: nothing was installed
    assert obs.pages[0].media_elements >= 7  # the coffee cup and six brand icons
    warnings = [c.detail for c in obs.checks if not c.passed and c.severity == "warning"]
    assert any("vite.svg" in w for w in warnings)


def test_a_missing_local_script_is_still_an_error(env: SiteEnvironment, tmp_path: Path) -> None:
    html = INDEX_HTML.replace("</body>", '  <script src="/analytics/track.js"></script>\n  </body>')
    obs = env.observe(bolt_site(tmp_path / "site", {"index.html": html}))
    assert any(e.startswith("broken_assets:") and "track.js" in e for e in errors(obs)), obs.summary()


THEMED_TAILWIND = """import colors from 'tailwindcss/colors';
import defaultTheme from 'tailwindcss/defaultTheme';
import forms from '@tailwindcss/forms';

/** @type {import('tailwindcss').Config} */
export default {
  content: ['./index.html', './src/**/*.{js,ts,jsx,tsx}'],
  darkMode: 'class',
  theme: {
    extend: {
      colors: {
        brand: { green: '#1f8a4c', sand: '#f4ead5', ink: colors.slate[900] },
      },
      fontFamily: { display: ['"Playfair Display"', ...defaultTheme.fontFamily.serif] },
      typography: (theme) => ({ DEFAULT: { css: { color: theme('colors.brand.ink') } } }),
    },
  },
  plugins: [forms],
};
"""
THEMED_CSS = (
    CSS
    + """
@layer components {
  .btn-brand {
    @apply rounded-lg border border-brand-green/20 bg-brand-green px-4 py-2 font-display text-brand-sand;
  }
}
"""
)
THEMED_APP = """export default function App() {
  return (
    <div className="dark">
      <h1 className="font-display text-4xl text-brand-ink dark:text-brand-sand">Fresh from the garden</h1>
      <form className="p-4"><input type="text" placeholder="Your email for the weekly box" /></form>
      <button className="btn-brand">Order a box</button>
    </div>
  );
}
"""


def test_custom_theme_colour_through_apply_with_plugins(env: SiteEnvironment, tmp_path: Path) -> None:
    package = {**BOLT_PACKAGE, "devDependencies": {**BOLT_PACKAGE["devDependencies"], "@tailwindcss/forms": "^0.5.7"}}
    files = {"tailwind.config.js": THEMED_TAILWIND, "src/index.css": THEMED_CSS, "src/App.tsx": THEMED_APP}
    site = bolt_site(tmp_path / "site", files, package)
    obs = env.observe(site)
    assert errors(obs) == [], obs.summary()
    css = css_of(site)
    button = re.search(r"\.btn-brand\s*\{([^}]*)\}", css)
    assert button and "rgb(31 138 76" in button[1] and "Playfair Display" in button[1]
    assert "rgb(31 138 76 / 0.2)" in button[1]  # border-brand-green/20
    assert "dark\\:text-brand-sand:is(.dark *)" in css and "prefers-color-scheme" not in css  # darkMode: 'class'
    assert "[type='text']" in css or '[type="text"]' in css  # @tailwindcss/forms, from the scaffold's copy
    assert any("tailwind.config.js:" in n and "never run" in n for n in obs.build.notes)  # the typography function


ENV_APP = """const API_URL = import.meta.env.VITE_API_URL || 'https://api.example.com';
const BRAND = import.meta.env.VITE_BRAND_NAME ?? 'Harbor';

export default function App() {
  return <main><h1>{BRAND} dashboard</h1><p>Data from {API_URL}</p></main>;
}
"""


def test_vite_env_variable_with_a_fallback_and_the_sites_own_env_file(env: SiteEnvironment, tmp_path: Path) -> None:
    files = {
        "src/App.tsx": ENV_APP,
        ".env.example": "VITE_API_URL=https://api.example.com\nVITE_BRAND_NAME=\n",
        ".env": "VITE_BRAND_NAME=Lighthouse\n",
    }
    obs = env.observe(bolt_site(tmp_path / "site", files))
    assert errors(obs) == [], obs.summary()
    text = " ".join(obs.pages[0].content_blocks)
    assert "Lighthouse dashboard" in text and "https://api.example.com" in text


LOADER_APP = """import { useEffect, useState } from 'react';

export default function App() {
  const [loading, setLoading] = useState(true);
  useEffect(() => {
    const timer = setTimeout(() => setLoading(false), 1200);
    return () => clearTimeout(timer);
  }, []);
  if (loading) {
    return <div className="flex h-screen items-center justify-center"><div className="h-10 w-10 animate-spin rounded-full border-4 border-amber-500 border-t-transparent" /></div>;
  }
  return <main><h1>Tidewater Yoga Studio</h1><p>Classes every morning by the harbour.</p><a href="/schedule">Schedule</a></main>;
}
"""


def test_a_timed_intro_loader_is_waited_for(env: SiteEnvironment, tmp_path: Path) -> None:
    obs = env.observe(bolt_site(tmp_path / "site", {"src/App.tsx": LOADER_APP}))
    home = obs.pages[0]
    assert home.text_length > 30 and "Tidewater" in " ".join(home.content_blocks), obs.summary()
    assert not any(e.startswith("blank_page") for e in errors(obs))


def test_a_page_that_stays_blank_is_still_an_error(env: SiteEnvironment, tmp_path: Path) -> None:
    app = "export default function App() { return <div className='h-screen bg-white' />; }\n"
    obs = env.observe(bolt_site(tmp_path / "site", {"src/App.tsx": app}))
    assert any(e.startswith("blank_page") for e in errors(obs)), obs.summary()


ALIASED_VITE = """import path from 'path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react-swc';
import { componentTagger } from 'lovable-tagger';

export default defineConfig(({ mode }) => ({
  server: { host: '::', port: 8080 },
  plugins: [react(), mode === 'development' && componentTagger()].filter(Boolean),
  resolve: { alias: { '@': path.resolve(__dirname, './src') } },
  define: { __APP_VERSION__: JSON.stringify('2.4.1') },
}));
"""


def test_alias_define_and_a_dev_only_plugin_from_the_vite_config(env: SiteEnvironment, tmp_path: Path) -> None:
    files = {
        "vite.config.ts": ALIASED_VITE,
        "src/lib/format.ts": "export const money = (n: number) => `$${n.toFixed(2)}`;\n",
        "src/App.tsx": "import { money } from '@/lib/format';\ndeclare const __APP_VERSION__: string;\n"
        "export default function App() { return <h1>Total {money(12)} in release {__APP_VERSION__}</h1>; }\n",
    }
    obs = env.observe(bolt_site(tmp_path / "site", files))
    assert errors(obs) == [], obs.summary()
    assert "Total $12.00 in release 2.4.1" in " ".join(obs.pages[0].content_blocks)
    assert not any("lovable-tagger" in n for n in obs.build.notes)  # dev only: not in a production build


@pytest.mark.network
def test_another_major_is_installed_for_that_site_and_its_icons_build(env: SiteEnvironment, tmp_path: Path) -> None:
    """lucide-react ^0.462 (Lovable's pin) is not the scaffold's line: installed, and its own barrel is used."""
    package = {**BOLT_PACKAGE, "dependencies": {**BOLT_PACKAGE["dependencies"], "lucide-react": "^0.462.0"}}
    site = bolt_site(tmp_path / "site", package=package)
    obs = env.observe(site)
    assert errors(obs) == [], obs.summary()
    linked = json.loads((site / "node_modules" / "lucide-react" / "package.json").read_text())
    assert linked["version"].startswith("0.462.")
    assert any("lucide-react: the requested ^0.462.0 is installed" in n for n in obs.build.notes)
    bundle = "".join(p.read_text() for p in (site / "dist" / "assets").glob("*.js"))
    assert "0.462" in bundle or "lucide" in bundle  # the site's copy is in the bundle, not the scaffold's


CSP_HTML = INDEX_HTML.replace(
    "<title>",
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; img-src 'self' data:\" />\n"
    '    <link rel="preconnect" href="https://fonts.googleapis.com" />\n'
    '    <link href="https://fonts.googleapis.com/css2?family=Inter:wght@400;700&display=swap" rel="stylesheet" />\n'
    "    <title>",
)
PHOTO_APP = FOOTER_APP.replace(
    '<main className="p-6">',
    '<main className="p-6"><img src="https://images.unsplash.com/photo-1509042239860-f550ce710b93?w=800" alt="A cup" />',
)


def test_csp_meta_google_fonts_and_remote_photos_are_warnings(env: SiteEnvironment, tmp_path: Path) -> None:
    obs = env.observe(bolt_site(tmp_path / "site", {"index.html": CSP_HTML, "src/App.tsx": PHOTO_APP}))
    assert errors(obs) == [], obs.summary()
    warned = " ".join(c.detail for c in obs.checks if not c.passed and c.severity == "warning")
    assert "fonts.googleapis.com" in warned or "unsplash" in warned


def test_an_icon_lucide_0344_lacks_is_a_located_error_naming_the_package(env: SiteEnvironment, tmp_path: Path) -> None:
    app = FOOTER_APP.replace("import { Coffee,", "import { Threads, Coffee,").replace(
        "= [Github,", "= [Threads, Github,"
    )
    obs = env.observe(bolt_site(tmp_path / "site", {"src/App.tsx": app}))
    assert not obs.build.ok
    first = obs.build.diagnostics[0]
    assert first.message == '"Threads" is not exported by "lucide-react".', first
    assert (first.file, first.line) == ("src/App.tsx", 1)
