// Long-lived build worker: one Node process per SiteBuilder, reused across builds.
// Protocol: one JSON request per stdin line {"id", "root", "outDir", "allow"}; one JSON reply per line on the fd named by $WEBGEN_REPLY_FD
// (stdout and stderr stay free for whatever the bundler prints).
// The Vite/Tailwind/PostCSS configuration is defined here, owned by webgen: no config file of the site is ever
// loaded or run (configFile: false, inline PostCSS config). What a site's configs say (its Tailwind theme, Vite
// aliases, base and defines) is read from them as data (site_config.mjs) and put into that configuration.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";
import fs from "node:fs";
import readline from "node:readline";
import crypto from "node:crypto";
import { copyVendor, plainIds, prepareVendor, servesSite, vendorPlugin } from "./vendor.mjs";
import { trackImports } from "./track_imports.mjs";
import { readTailwind, readVite } from "./site_config.mjs";

const scaffoldDir = process.argv[2];
const privateDir = process.argv[3]; // a folder only the harness writes (removed by it when this worker ends)
if (!scaffoldDir || !privateDir) throw new Error("usage: build_worker.mjs SCAFFOLD_DIR PRIVATE_DIR");
const requireFromScaffold = createRequire(path.join(scaffoldDir, "package.json"));
const importFromScaffold = (name) => import(pathToFileURL(requireFromScaffold.resolve(name)).href);

const vite = await importFromScaffold("vite");
const react = (await importFromScaffold("@vitejs/plugin-react")).default;
const tailwindcss = requireFromScaffold("tailwindcss");
// The shared React bundle (vendor.mjs), made before the first build (from the scaffold's folder); null if it
// cannot be made: each build then bundles React itself, and the first reply carries a notice that says why.
async function importRolldown() {
  try {
    return await importFromScaffold("rolldown");
  } catch {
    const fromVite = createRequire(requireFromScaffold.resolve("vite/package.json")); // not hoisted: Vite's own
    return import(pathToFileURL(fromVite.resolve("rolldown")).href);
  }
}
let vendor = null;
let notice = null;
const rolldown = await importRolldown();
try {
  vendor = await prepareVendor(scaffoldDir, requireFromScaffold, rolldown);
} catch (err) {
  notice = `no shared React bundle (each build bundles React itself): ${String(err?.message ?? err).slice(0, 500)}`;
}
const rolldownRequire = createRequire(fs.realpathSync(requireFromScaffold.resolve("vite/package.json")));
const { parseAst } = await import(pathToFileURL(rolldownRequire.resolve("rolldown/parseAst")).href);
// What a Tailwind config may import, given to the static reader as data (never the site's own copies).
const TAILWIND_MODULES = Object.fromEntries(
  ["colors", "defaultTheme"].flatMap((name) => {
    const value = requireFromScaffold(`tailwindcss/${name}`);
    return [[`tailwindcss/${name}`, value], [`tailwindcss/${name}.js`, value]];
  }),
);
const DEDUPE = ["react", "react-dom", "react-router", "react-router-dom"];
// Packages whose entry is a barrel of re-exports: named imports from them are rewritten to the module that
// defines each name, so the bundler parses a handful of files instead of thousands (lucide-react: ~0.35 s a build).
const BARRELS = ["lucide-react", "@ant-design/icons", "antd", "recharts"];
const replyFd = Number(process.env.WEBGEN_REPLY_FD ?? 1);
const reply = (obj) => fs.writeSync(replyFd, JSON.stringify(obj) + "\n");

// Refuse to read any module outside the site and the harness's node_modules folders (e.g. "/etc/passwd?raw").
function confine(root, allow) {
  const roots = [root, ...allow].filter((p) => fs.existsSync(p)).map((p) => fs.realpathSync(p) + path.sep);
  const inside = (file) => {
    let real;
    try {
      real = fs.realpathSync(file);
    } catch {
      return true; // missing files fail later with the bundler's own message
    }
    return roots.some((r) => real.startsWith(r)) || real + path.sep === roots[0];
  };
  // The hook runs only for ids outside those folders (a filter the bundler applies without calling into JS):
  // the thousands of modules under node_modules cost nothing. Inside it, symlinks are resolved again.
  const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const under = roots.map((r) => new RegExp(`^${escape(r)}`));
  return {
    name: "webgen-confine",
    enforce: "pre",
    load: {
      filter: { id: { exclude: under } },
      handler(id) {
        if (id.startsWith("\0") || id.startsWith("virtual:")) return null;
        const file = id.split("?")[0];
        if (path.isAbsolute(file) && !inside(file)) {
          throw new Error(`import of ${file} is outside the project folder`);
        }
        return null;
      },
    },
  };
}

const EXTENSIONS = ["", ".mjs", ".js", "/index.mjs", "/index.js"];

function resolveRelative(fromFile, spec) {
  for (const ext of EXTENSIONS) {
    const candidate = path.resolve(path.dirname(fromFile), spec + ext);
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return null;
}

// exported name -> [file, imported name], read from `export { a as b } from "./x"` and `export * from "./y"` lines.
function readBarrel(file, map, depth = 0) {
  const text = fs.readFileSync(file, "utf8");
  for (const m of text.matchAll(/export\s*\{([^}]*)\}\s*from\s*["']([^"']+)["']/g)) {
    const target = m[2].startsWith(".") ? resolveRelative(file, m[2]) : null;
    if (!target) continue;
    for (const spec of m[1].split(",")) {
      const [imported, exported = imported] = spec.trim().split(/\s+as\s+/);
      if (imported && !map.has(exported)) map.set(exported, [target, imported]);
    }
  }
  for (const m of text.matchAll(/export\s*\*\s*from\s*["'](\.[^"']+)["']/g)) {
    const target = resolveRelative(file, m[1]);
    if (target && depth < 2) readBarrel(target, map, depth + 1);
  }
  return map;
}

function esmEntry(pkgDir) {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
    const dot = pkg.exports?.["."];
    const rel = (typeof dot === "object" && (dot.import?.default ?? dot.import ?? dot.module)) || pkg.module;
    return typeof rel === "string" ? path.resolve(pkgDir, rel) : null;
  } catch {
    return null;
  }
}

// name -> [file, imported name] of one installed copy of a barrel package, by its real folder: the scaffold's
// copy, or another version the site asked for (lucide-react 0.344 beside the scaffold's).
const barrelMaps = new Map();
function barrelMap(pkgDir) {
  if (!barrelMaps.has(pkgDir)) {
    const entry = esmEntry(pkgDir);
    barrelMaps.set(pkgDir, entry && fs.existsSync(entry) ? readBarrel(entry, new Map()) : null);
  }
  return barrelMaps.get(pkgDir);
}

// The barrels of this site: each package resolved from the site's own node_modules.
function siteBarrels(root) {
  const found = new Map();
  for (const name of BARRELS) {
    let dir;
    try {
      dir = fs.realpathSync(path.join(root, "node_modules", name));
    } catch {
      continue;
    }
    const map = barrelMap(dir);
    if (map) found.set(name, map);
  }
  return found;
}

function rewriteBarrelImports(barrels) {
  const pattern = /import\s*\{([^}]*)\}\s*from\s*["']([^"']+)["'];?/g;
  return {
    name: "webgen-barrels",
    enforce: "pre",
    transform: {
      filter: { id: { include: /\.[jt]sx?(\?|$)/, exclude: /node_modules/ } },
      handler(code, id) {
      if (id.includes("node_modules") || !/\.[jt]sx?$/.test(id.split("?")[0])) return null;
      let changed = false;
      const out = code.replace(pattern, (whole, names, source) => {
        const map = barrels.get(source);
        if (!map) return whole;
        const specs = names.split(",").map((s) => s.trim()).filter(Boolean);
        const parts = [];
        for (const spec of specs) {
          if (spec.startsWith("type ")) return whole;
          const [imported, local = imported] = spec.split(/\s+as\s+/);
          const hit = map.get(imported);
          if (!hit) return whole;
          parts.push(`import { ${hit[1]} as ${local} } from ${JSON.stringify(hit[0])};`);
        }
        changed = true;
        return parts.join(" ");
      });
      return changed ? { code: out, map: null } : null;
      },
    },
  };
}

// Tailwind resolves and hashes a config given as an object on every build (~50 ms); a config given as a file
// is resolved once and then reused while the file is unchanged. One file per site (its content paths are the
// site's own), written once, in privateDir. Not one file for all sites: Tailwind shares a context between
// configs that hash the same, and a CSS file without @tailwind would then see classes of another site.
function tailwindConfig(root, site) {
  const config = { ...(site ?? {}), theme: site?.theme ?? { extend: {} }, plugins: [] };
  if (!site?.content?.length) config.content = [path.join(root, "index.html"), path.join(root, "src/**/*.{js,ts,jsx,tsx}")];
  // Plugins are the scaffold's copies of allow-listed packages, required by path; regexes in the safelist are
  // rebuilt from their source. The rest is JSON.
  const plugins = (site?.plugins ?? []).map(
    (p) => `require(${JSON.stringify(requireFromScaffold.resolve(p.source))})${p.args ? `(...${JSON.stringify(p.args)})` : ""}`,
  );
  const text =
    `const config = ${JSON.stringify(config)};\n` +
    `config.plugins = [${plugins.join(", ")}];\n` +
    `config.safelist = (config.safelist || []).map((s) => (s && s.pattern ? { ...s, pattern: new RegExp(s.pattern.regex, s.pattern.flags) } : s));\n` +
    `module.exports = config;\n`;
  const file = path.join(privateDir, `tailwind-${crypto.createHash("sha256").update(text).digest("hex").slice(0, 16)}.cjs`);
  if (!fs.existsSync(file)) fs.writeFileSync(file, text);
  return file;
}

// The site's own configs, read as data: { tailwind, vite, notes, warnings } (see site_config.mjs).
function readSite(root) {
  const tailwind = readTailwind(root, { parseAst, modules: TAILWIND_MODULES });
  const viteConfig = readVite(root, { parseAst });
  return { tailwind: tailwind.config, vite: viteConfig, notes: [...viteConfig.notes, ...tailwind.warnings, ...viteConfig.warnings] };
}

function siteConfig(root, outDir, allow, site, shared) {
  return {
    root,
    base: site.vite.base ?? "/",
    configFile: false,
    logLevel: "silent",
    clearScreen: false,
    cacheDir: path.join(root, ".webgen", "vite"),
    define: site.vite.define,
    plugins: [
      confine(root, allow),
      ...(shared ? [vendorPlugin(shared.vendor, shared)] : []),
      rewriteBarrelImports(siteBarrels(root)),
      react(),
      trackImports(),
    ],
    css: { postcss: { plugins: [tailwindcss(tailwindConfig(root, site.tailwind))] } },
    // `module` before `browser`: a package whose browser entry is a UMD bundle (react-datepicker) is read as the
    // ES module Vite 5 picks (its resolver preferred `module` over a CommonJS browser entry), not as CommonJS.
    resolve: { dedupe: DEDUPE, alias: site.vite.alias, mainFields: ["module", "jsnext:main", "jsnext", "browser"] },
    build: {
      outDir,
      emptyOutDir: true,
      minify: false,
      sourcemap: false,
      reportCompressedSize: false,
      chunkSizeWarningLimit: 100000,
    },
  };
}

function describeError(err) {
  const items = Array.isArray(err?.errors) && err.errors.length ? err.errors : [err];
  return items.map((e) => ({
    message: plainIds(String(e?.message ?? e)).slice(0, 4000),
    file: e?.loc?.file ?? e?.id ?? null,
    line: e?.loc?.line ?? null,
    column: e?.loc?.column ?? null,
    frame: e?.frame ? plainIds(String(e.frame)).slice(0, 2000) : null,
    plugin: e?.plugin ?? null,
  }));
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    reply({ id: null, ok: false, errors: [{ message: "bad request" }] });
    continue;
  }
  const warnings = [];
  const unresolved = [];
  const started = performance.now();
  let result;
  let notes = [];
  try {
    process.chdir(req.root); // bundler messages then name files relative to the site
    const shared = vendor && servesSite(vendor, req.root, createRequire) ? { vendor, used: false } : null;
    const site = readSite(req.root);
    notes = site.notes;
    const cfg = siteConfig(req.root, req.outDir, req.allow ?? [], site, shared);
    cfg.build.rollupOptions = {
      onwarn: (w) => {
        if (w.code === "UNRESOLVED_IMPORT") unresolved.push(w);
        else if (warnings.length < 50) warnings.push(plainIds(String(w.message ?? w)).slice(0, 1000));
      },
    };
    await vite.build(cfg);
    if (shared?.used) copyVendor(vendor, req.outDir);
    // An unresolved bare import would be left external and fail in the browser: it is a build error.
    result = { id: req.id, ok: unresolved.length === 0, errors: unresolved.length ? describeError({ errors: unresolved }) : [], warnings };
  } catch (err) {
    result = { id: req.id, ok: false, errors: describeError(err), warnings };
  }
  result.seconds = (performance.now() - started) / 1000;
  result.notes = notes.slice(0, 20);
  if (notice) [result.notice, notice] = [notice, null]; // said once, in the worker's first reply
  reply(result);
}
