// A site's own build configuration, read as data (static_eval.mjs), never run.
//
// From tailwind.config.{ts,js,cjs,mjs}: theme (with extend), darkMode, content (globs inside the site), safelist,
// prefix, important, and plugins from an allow-list of well-known packages, loaded from the scaffold's own copy.
// From vite.config.{ts,js,mts,mjs,cjs}: resolve.alias (replacements inside the site), base, define of literals;
// plugins other than React are left out with a note (a dev-only tagger changes nothing in a build).
// From tsconfig paths: aliases, when the Vite config uses vite-tsconfig-paths (Vite alone does not read them).
// Anything dynamic is ignored with a warning that names it; a file that cannot be parsed is a warning too.
import fs from "node:fs";
import path from "node:path";
import { DYNAMIC, Evaluator, PackageRef } from "./static_eval.mjs";

export const TAILWIND_PLUGINS = [
  "@tailwindcss/forms",
  "@tailwindcss/typography",
  "@tailwindcss/aspect-ratio",
  "@tailwindcss/container-queries",
  "tailwindcss-animate",
];
const REACT_PLUGINS = ["@vitejs/plugin-react", "@vitejs/plugin-react-swc"];
const TSCONFIG_PATHS_PLUGIN = "vite-tsconfig-paths";
const MAX_CONFIG_BYTES = 200_000;

function findFile(root, stem, extensions) {
  for (const ext of extensions) {
    const file = path.join(root, `${stem}.${ext}`);
    try {
      const stat = fs.lstatSync(file);
      if (stat.isFile() && stat.size <= MAX_CONFIG_BYTES) return file;
    } catch {
      // not there
    }
  }
  return null;
}

const MAX_NESTING = 200;

// How deep brackets nest in `code` (strings and comments counted too: a cap, not a parser).
function nesting(code) {
  let depth = 0;
  let most = 0;
  for (const ch of code) {
    if (ch === "(" || ch === "[" || ch === "{") most = Math.max(most, ++depth);
    else if (ch === ")" || ch === "]" || ch === "}") depth = Math.max(0, depth - 1);
  }
  return most;
}

// The exported value of one config file, or null; problems go to `warnings`.
function readExport(root, file, parseAst, modules, context, warnings) {
  const code = fs.readFileSync(file, "utf8");
  if (nesting(code) > MAX_NESTING) {
    warnings.push(`${path.basename(file)} nests deeper than ${MAX_NESTING} levels; it is ignored`);
    return null;
  }
  let ast;
  try {
    ast = parseAst(code, { lang: /\.m?ts$/.test(file) ? "ts" : "js" });
  } catch (err) {
    warnings.push(`${path.basename(file)} could not be read (${String(err?.message ?? err).split("\n")[0].slice(0, 200)}); it is ignored`);
    return null;
  }
  const evaluator = new Evaluator({ root, file, code, modules, context });
  let value;
  try {
    const node = evaluator.declare(ast.body);
    if (!node) {
      warnings.push(`${path.basename(file)} exports no configuration object; it is ignored`);
      return null;
    }
    value = evaluator.configValue(node);
  } catch (err) { // a config too deep to read (the evaluator recurses): ignored, never fatal to the build
    warnings.push(`${path.basename(file)} could not be read (${String(err?.message ?? err).slice(0, 120)}); it is ignored`);
    return null;
  }
  for (const place of evaluator.dynamic.slice(0, 8)) warnings.push(`${place}: computed when run, so ignored (configs are read as data)`);
  return value === DYNAMIC || value === null || typeof value !== "object" ? null : value;
}

const inside = (root, file) => file === root || file.startsWith(root + path.sep);

export function readTailwind(root, { parseAst, modules }) {
  const warnings = [];
  const file = findFile(root, "tailwind.config", ["ts", "js", "cjs", "mjs", "mts", "cts"]);
  if (!file) return { config: null, warnings };
  const value = readExport(root, file, parseAst, modules, {}, warnings);
  if (!value) return { config: null, warnings };
  const config = {};
  if (value.theme && typeof value.theme === "object") config.theme = value.theme;
  for (const key of ["darkMode", "prefix", "important"]) if (value[key] !== undefined) config[key] = value[key];
  const content = Array.isArray(value.content) ? value.content : value.content?.files;
  if (Array.isArray(content)) {
    const kept = content.filter((g) => typeof g === "string" && !path.isAbsolute(g) && !g.split(/[\\/]/).includes(".."));
    if (kept.length < content.length) warnings.push("tailwind.config: content globs outside the site are ignored");
    config.content = kept.map((g) => path.join(root, g));
  }
  if (Array.isArray(value.safelist)) config.safelist = value.safelist.filter((s) => typeof s === "string" || s?.pattern?.regex);
  config.plugins = []; // [{ source, args }]: loaded from the scaffold's copy by the build worker
  for (const plugin of Array.isArray(value.plugins) ? value.plugins : []) {
    if (plugin instanceof PackageRef && TAILWIND_PLUGINS.includes(plugin.source) && !plugin.member) {
      config.plugins.push({ source: plugin.source, args: plugin.args });
    } else {
      const what = plugin instanceof PackageRef ? plugin.source : "an inline plugin";
      warnings.push(`tailwind.config: the plugin ${what} is not one webgen loads; it is ignored`);
    }
  }
  return { config, warnings };
}

function tsconfigAliases(root, warnings) {
  const aliases = [];
  for (const name of ["tsconfig.app.json", "tsconfig.json"]) {
    const file = path.join(root, name);
    if (!fs.existsSync(file)) continue;
    let data;
    try {
      // JSON with comments and trailing commas, as TypeScript reads it
      const text = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\/|("(?:\\.|[^"\\])*")|\/\/[^\n]*/g, (m, str) => str ?? "");
      data = JSON.parse(text.replace(/,(\s*[}\]])/g, "$1"));
    } catch {
      warnings.push(`${name} could not be read; its paths are ignored`);
      continue;
    }
    const options = data?.compilerOptions ?? {};
    const base = path.resolve(root, typeof options.baseUrl === "string" ? options.baseUrl : ".");
    for (const [pattern, targets] of Object.entries(options.paths ?? {})) {
      const target = Array.isArray(targets) ? targets[0] : null;
      if (typeof target !== "string") continue;
      const wildcard = pattern.endsWith("*") && target.endsWith("*");
      const replacement = path.resolve(base, wildcard ? target.slice(0, -1) : target);
      if (!inside(root, replacement)) continue;
      // "@/*" -> "src/*": the prefix "@/" becomes "<site>/src/"; a pattern without "*" is one exact name
      if (wildcard) aliases.push({ find: pattern.slice(0, -1), replacement: replacement + (pattern.endsWith("/*") ? path.sep : "") });
      else aliases.push({ find: new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`), replacement });
    }
    if (aliases.length) break;
  }
  return aliases;
}

export function readVite(root, { parseAst }) {
  const warnings = [];
  const notes = [];
  const file = findFile(root, "vite.config", ["ts", "js", "mts", "mjs", "cts", "cjs"]);
  const result = { alias: [], define: {}, base: null, warnings, notes };
  if (!file) return result;
  const value = readExport(root, file, parseAst, {}, { mode: "production", command: "build", isSsrBuild: false, isPreview: false }, warnings);
  if (!value) return result;
  const plugins = (Array.isArray(value.plugins) ? value.plugins.flat(3) : []).filter(Boolean);
  const left = plugins.filter((p) => !(p instanceof PackageRef && REACT_PLUGINS.includes(p.source)));
  if (left.length) {
    const names = left.map((p) => (p instanceof PackageRef ? p.source : "an inline plugin"));
    notes.push(`vite.config: the plugin(s) ${[...new Set(names)].join(", ")} are left out of webgen's build`);
  }
  let alias = value.resolve?.alias;
  if (alias && !Array.isArray(alias) && typeof alias === "object") alias = Object.entries(alias).map(([find, replacement]) => ({ find, replacement }));
  for (const entry of Array.isArray(alias) ? alias : []) {
    let { find, replacement } = entry ?? {};
    if (typeof replacement !== "string") {
      warnings.push(`vite.config: the alias ${JSON.stringify(String(find))} is computed when run; it is ignored`);
      continue;
    }
    replacement = path.resolve(root, replacement);
    if (!inside(root, replacement)) {
      warnings.push(`vite.config: the alias ${JSON.stringify(find)} points outside the site; it is ignored`);
      continue;
    }
    if (find?.regex) find = new RegExp(find.regex, find.flags);
    if (typeof find === "string" || find instanceof RegExp) result.alias.push({ find, replacement });
  }
  if (plugins.some((p) => p instanceof PackageRef && p.source === TSCONFIG_PATHS_PLUGIN)) {
    result.alias.push(...tsconfigAliases(root, warnings));
  }
  if (value.define && typeof value.define === "object") {
    for (const [key, raw] of Object.entries(value.define)) {
      if (raw === undefined) continue;
      result.define[key] = typeof raw === "string" ? raw : JSON.stringify(raw);
    }
  }
  if (typeof value.base === "string") {
    if (value.base === "" || value.base === "./" || value.base === "/") result.base = value.base || "./";
    else notes.push(`vite.config: base ${JSON.stringify(value.base)} is served at / here`);
  }
  return result;
}
