"""Small sites of other generators' frameworks, for `webgen eval --start dev`: Vue 3 + Vite, vanilla Vite, plain
HTML, and a minimal React + Vite site that both start modes can run. Every page shows a button whose text comes
from the framework's own rendering (Vue's template, vanilla JS, React's JSX), so a scripted GUI agent that answers
only when it sees that text in the labelled elements proves the site really started and rendered.

The versions are pinned to what the scaffold installs (vite, React) so a warm npm cache already holds most of them.
"""

from __future__ import annotations

import json
from pathlib import Path

VITE = "8.3.8"
PLUGIN_REACT = "6.3.0"
REACT = "18.3.1"
VUE = "3.5.13"
PLUGIN_VUE = "6.1.1"


def _package(dependencies: dict[str, str], dev_dependencies: dict[str, str]) -> str:
    return json.dumps(
        {
            "name": "generated-site",
            "private": True,
            "version": "0.0.0",
            "type": "module",
            "scripts": {"dev": "vite", "build": "vite build"},
            "dependencies": dependencies,
            "devDependencies": dev_dependencies,
        },
        indent=2,
    )


def _index(title: str, script: str) -> str:
    return (
        f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{title}</title></head>\n'
        f'<body><div id="app"></div><div id="root"></div><script type="module" src="{script}"></script></body>\n'
        "</html>\n"
    )


def vue_site(button: str) -> dict[str, str]:
    """A Vue 3 + Vite project (single-file components), as Bolt.diy often writes them."""
    app = (
        "<script setup>\nimport { ref } from 'vue'\nconst spins = ref(0)\nconst label = " + json.dumps(button) + "\n"
        "</script>\n\n<template>\n  <main>\n    <h1>Prize wheel</h1>\n"
        "    <p>Spin the wheel to win one of eight prizes. Spins so far: {{ spins }}</p>\n"
        '    <button @click="spins++">{{ label }}</button>\n  </main>\n</template>\n'
    )
    return {
        "package.json": _package({"vue": VUE}, {"vite": VITE, "@vitejs/plugin-vue": PLUGIN_VUE}),
        "vite.config.js": (
            "import { defineConfig } from 'vite'\nimport vue from '@vitejs/plugin-vue'\n\n"
            "export default defineConfig({ plugins: [vue()] })\n"
        ),
        "index.html": _index("Prize wheel", "/src/main.js"),
        "src/main.js": "import { createApp } from 'vue'\nimport App from './App.vue'\n\ncreateApp(App).mount('#app')\n",
        "src/App.vue": app,
    }


def vanilla_vite_site(button: str) -> dict[str, str]:
    """A vanilla Vite project: no framework, the page built by a module script."""
    main = (
        "import './style.css'\n\nconst app = document.querySelector('#app')\n"
        "app.innerHTML = `<h1>Tech notes</h1><p>Solutions to common build problems, one article a week.</p>`\n"
        "const button = document.createElement('button')\nbutton.textContent = " + json.dumps(button) + "\n"
        "app.append(button)\n"
    )
    return {
        "package.json": _package({}, {"vite": VITE}),
        "index.html": _index("Tech notes", "/main.js"),
        "main.js": main,
        "style.css": "body { font-family: sans-serif; margin: 2rem; }\n",
    }


def static_site(button: str) -> dict[str, str]:
    """Plain HTML and CSS with no package.json: served as it is."""
    page = (
        '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Barber shop</title>'
        '<link rel="stylesheet" href="style.css"></head>\n<body>\n<h1>Barber shop</h1>\n'
        "<p>Our barbers and their services, with prices and opening hours.</p>\n"
        f"<button>{button}</button>\n</body>\n</html>\n"
    )
    return {"index.html": page, "style.css": "body { font-family: serif; margin: 2rem; }\n"}


def react_site(button: str) -> dict[str, str]:
    """A minimal React + Vite project that our build (`--start build`) and its own dev server both run."""
    app = (
        "import { useState } from 'react'\n\nexport default function App() {\n  const [shown, setShown] = useState(0)\n"
        "  return (\n    <main>\n      <h1>Species database</h1>\n"
        "      <p>Browse and manage the biological information of every species we record.</p>\n"
        f"      <button onClick={{() => setShown(shown + 1)}}>{button}</button>\n    </main>\n  )\n}}\n"
    )
    main = (
        "import { StrictMode } from 'react'\nimport { createRoot } from 'react-dom/client'\nimport App from './App'\n\n"
        "createRoot(document.getElementById('root')!).render(<StrictMode><App /></StrictMode>)\n"
    )
    return {
        "package.json": _package(
            {"react": REACT, "react-dom": REACT}, {"vite": VITE, "@vitejs/plugin-react": PLUGIN_REACT}
        ),
        "vite.config.ts": (
            "import { defineConfig } from 'vite'\nimport react from '@vitejs/plugin-react'\n\n"
            "export default defineConfig({ plugins: [react()] })\n"
        ),
        "index.html": _index("Species database", "/src/main.tsx"),
        "src/main.tsx": main,
        "src/App.tsx": app,
    }


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder
