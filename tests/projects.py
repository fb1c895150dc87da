"""Existing projects for the import tests: a small bolt-style Vite + React + Tailwind site (with its own
tailwind.config.js, a binary image in public/, a lockfile and a node_modules folder), as a folder or a zip,
and bad inputs crafted small (a zip member that declares 2 GB is a 30-byte file with its header edited)."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

from webgen.core.settings import Settings
from webgen.feedback.site.scaffold import get_scaffold

HEADING = "Harbour Bikes"

_APP = """import { Routes, Route, Link } from "react-router-dom";

function Home() {
  return (
    <main className="mx-auto max-w-3xl p-10">
      <img src="/logo.png" alt="Harbour Bikes logo" width="64" height="64" />
      <h1 className="text-4xl font-bold text-brand">%(heading)s</h1>
      <p className="mt-4 text-lg text-slate-600">City bikes, repairs and rentals by the harbour since 1998.</p>
      <Link to="/about" className="mt-6 inline-block rounded bg-slate-900 px-4 py-2 text-white">About us</Link>
    </main>
  );
}

function About() {
  return (
    <main className="mx-auto max-w-3xl p-10">
      <h1 className="text-3xl font-bold">About us</h1>
      <p className="mt-4 text-slate-600">A family workshop with three mechanics and a shop dog.</p>
    </main>
  );
}

export default function App() {
  return (
    <Routes>
      <Route path="/" element={<Home />} />
      <Route path="/about" element={<About />} />
    </Routes>
  );
}
"""

_MAIN = """import React from "react";
import ReactDOM from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import App from "./App";
import "./index.css";

ReactDOM.createRoot(document.getElementById("root")!).render(
  <React.StrictMode>
    <BrowserRouter>
      <App />
    </BrowserRouter>
  </React.StrictMode>,
);
"""

_INDEX = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <link rel="icon" type="image/png" href="/logo.png" />
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <title>Harbour Bikes</title>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.tsx"></script>
  </body>
</html>
"""

TAILWIND_CONFIG = """/** @type {import('tailwindcss').Config} */
export default {
  content: ['./index.html', './src/**/*.{js,ts,jsx,tsx}'],
  theme: {
    extend: {
      colors: { brand: '#0f766e' },
    },
  },
  plugins: [],
};
"""

_VITE_CONFIG = """import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
});
"""


def png(width: int = 4, height: int = 4) -> bytes:
    """A valid PNG of one teal colour (bytes that are not UTF-8 text: a binary asset)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x0f\x76\x6e" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _package_json(name: str) -> str:
    """Dependencies at the scaffold's own versions, so the test never installs a package."""
    scaffold = get_scaffold(Settings().scaffold, Settings().home).package_json()
    deps, dev = scaffold["dependencies"], scaffold["devDependencies"]
    wanted = ("react", "react-dom", "react-router-dom")
    tools = ("@vitejs/plugin-react", "autoprefixer", "postcss", "tailwindcss", "typescript", "vite")
    package = {
        "name": name,
        "private": True,
        "version": "0.0.0",
        "type": "module",
        "scripts": {"dev": "vite", "build": "vite build"},
        "dependencies": {n: deps[n] for n in wanted if n in deps},
        "devDependencies": {n: dev[n] for n in tools if n in dev},
    }
    return json.dumps(package, indent=2) + "\n"


def project_files(heading: str = HEADING) -> dict[str, str | bytes]:
    """The project's files as they are copied (no lockfile, no node_modules)."""
    return {
        "package.json": _package_json("harbour-bikes"),
        "index.html": _INDEX,
        "src/main.tsx": _MAIN,
        "src/App.tsx": _APP % {"heading": heading},
        "src/index.css": "@tailwind base;\n@tailwind components;\n@tailwind utilities;\n",
        "tailwind.config.js": TAILWIND_CONFIG,
        "postcss.config.js": "export default {\n  plugins: {\n    tailwindcss: {},\n    autoprefixer: {},\n  },\n};\n",
        "vite.config.ts": _VITE_CONFIG,
        "public/logo.png": png(),
        ".env": "VITE_SHOP_NAME=Harbour Bikes\n",  # part of the project: Vite builds with it
    }


#: what an export of the project holds besides its files, and the import leaves out
LEFT_OUT: dict[str, str | bytes] = {
    "package-lock.json": '{"lockfileVersion": 3}\n',
    "node_modules/left-pad/index.js": "module.exports = 1;\n",
    ".env.local": "VITE_SECRET=do-not-copy\n",
    "dist/index.html": "<html>old build</html>\n",
}


def write_project(folder: Path, files: dict[str, str | bytes] | None = None) -> Path:
    for rel, content in {**project_files(), **LEFT_OUT, **(files or {})}.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


def zip_project(
    path: Path, top: str | None = "harbour-bikes-main", files: dict[str, str | bytes] | None = None
) -> Path:
    """The project as a zip, its files under one top folder (as GitHub and bolt.new download it) unless `top` is None."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, content in {**project_files(), **LEFT_OUT, **(files or {})}.items():
            archive.writestr(f"{top}/{rel}" if top else rel, content)
    return path


def zip_of(path: Path, entries: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return path


def zip_declaring_huge_member(path: Path, name: str = "public/video.mp4", declared: int = 2_000_000_000) -> Path:
    """A valid React project zip whose member `name` declares `declared` bytes (its real data is 30 bytes)."""
    zip_of(path, {"package.json": _package_json("huge"), name: b"x" * 30})
    return declare_size(path, name, declared, local=True)


def declare_size(path: Path, name: str, declared: int, *, local: bool = False) -> Path:
    """Edit the uncompressed size that `name`'s central directory entry (and with `local`, its local header too)
    declares, leaving its data as it is."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    headers = [(b"PK\x01\x02", 46, 24)] + ([(b"PK\x03\x04", 30, 22)] if local else [])
    for signature, name_at, size_at in headers:
        at = data.find(signature)
        while at != -1:
            if data[at + name_at : at + name_at + len(encoded)] == encoded:
                struct.pack_into("<I", data, at + size_at, declared)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links as their target text), for "nothing changed here" checks."""
    found: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[rel] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            found[rel] = path.read_bytes()
        elif path.is_dir():
            found[rel + "/"] = b""
    return found
