// React, ReactDOM and React Router, bundled once per scaffold and shared by every site build.
//
// Bundling react-dom and the router again was about two thirds of a warm site build. Instead, the scaffold's
// copies of the packages in VENDORED are bundled once, minified, into one ES module (cached on disk next to
// the scaffold, keyed by their versions and by this file). It is built from the scaffold's folder when the
// worker starts, before any site is built, so nothing a site contains (its package.json) can reach it. In a
// site build, an import of one of them that resolves to the scaffold's copy takes the same names from
// `./webgen-vendor/vendor.js` (relative to the chunk, in dist/assets/); the file is copied into the site's
// `dist/` (a built site still stands alone) and preloaded by its index.html. An import that resolves anywhere
// else (a site with its own copy of React) is bundled as before.
//
// Each package keeps its module format to the bundler, so a site's build fails or passes as it did when the
// packages were bundled with it: react and react-dom are CommonJS (a name they lack is `undefined` at run time),
// the router is an ES module (a name it lacks, such as v5's `useHistory`, is a located build error).
import path from "node:path";
import fs from "node:fs";
import crypto from "node:crypto";

export const VENDORED = ["react", "react/jsx-runtime", "react-dom", "react-dom/client", "react-router", "react-router-dom"];
const URL_DIR = "assets/webgen-vendor"; // under the site's dist/ and its URL root
const FILE = "vendor.js";
const VENDOR_URL = `/${URL_DIR}/${FILE}`;
const CHUNK_TO_VENDOR = `./${path.basename(URL_DIR)}/${FILE}`;
const FORMAT = 3; // the cache key also covers this file's text and Rolldown's version
const SHIM = "\0webgen-vendor:"; // what a site's import resolves to
const NAMES = "\0webgen-vendor-names:"; // a package's names as an ES module, which its shim requires
const IDENT = /^[A-Za-z_$][\w$]*$/;

// What each vendored specifier exports at run time, read from the scaffold's copy.
function describe(requireFromScaffold) {
  const specs = {};
  for (const spec of VENDORED) {
    const mod = requireFromScaffold(spec);
    const pkgFile = requireFromScaffold.resolve(`${spec.split("/")[0]}/package.json`);
    specs[spec] = {
      names: Object.keys(mod).filter((n) => n !== "default" && n !== "__esModule" && IDENT.test(n)).sort(),
      esm: Boolean(mod.__esModule), // compiled from ES modules: the bundler reads the package's ES build
      hasDefault: !mod.__esModule || "default" in mod, // CommonJS: the default import is module.exports
      version: JSON.parse(fs.readFileSync(pkgFile, "utf8")).version,
      packageDir: fs.realpathSync(path.dirname(pkgFile)) + path.sep,
    };
  }
  return specs;
}

// The vendor module exports every name of every package as `v<index>$<name>` (and `v<index>$default`).
const alias = (spec, name) => `v${VENDORED.indexOf(spec)}$${name}`;

function vendorEntry(specs) {
  const lines = [];
  for (const [spec, d] of Object.entries(specs)) {
    const ns = alias(spec, "ns");
    lines.push(`import * as ${ns} from ${JSON.stringify(spec)};`);
    if (d.hasDefault) lines.push(`export const ${alias(spec, "default")} = ${ns}.default;`);
    for (const name of d.names) lines.push(`export const ${alias(spec, name)} = ${ns}.${name};`);
  }
  return lines.join("\n") + "\n";
}

// An ES module with the package's names, taken from the vendor module. The import is relative (every chunk is
// in assets/), so that a site served under a path prefix (the UI's preview) still finds it.
function namesModule(spec, d) {
  const lines = [`import * as v from ${JSON.stringify(CHUNK_TO_VENDOR)};`];
  if (d.hasDefault) lines.push(`export default v.${alias(spec, "default")};`);
  for (const name of d.names) lines.push(`export const ${name} = v.${alias(spec, name)};`);
  return lines.join("\n") + "\n";
}

async function bundle(rolldown, specs, outDir, scaffoldDir) {
  const ENTRY = "\0webgen-vendor-entry";
  const entry = {
    name: "webgen-vendor-entry",
    resolveId: (id) => (id === ENTRY ? id : null),
    load: (id) => (id === ENTRY ? vendorEntry(specs) : null),
  };
  const unresolved = [];
  await rolldown.build({
    input: { vendor: ENTRY },
    cwd: scaffoldDir, // the packages are looked up from the scaffold, whatever the working directory
    plugins: [entry],
    platform: "browser",
    onLog: (level, log) => {
      if (log.code === "UNRESOLVED_IMPORT") unresolved.push(log.message);
    },
    preserveEntrySignatures: "strict",
    transform: { define: { "process.env.NODE_ENV": JSON.stringify("production") } },
    // keepNames: a page error's stack names the router's functions, not the minifier's letters
    output: { dir: outDir, format: "es", minify: true, keepNames: true, entryFileNames: FILE, codeSplitting: false },
  });
  if (unresolved.length) throw new Error(`the vendor bundle left imports unresolved: ${unresolved.slice(0, 3).join("; ")}`);
}

// The vendor bundle of this scaffold, built on first use. Workers that race to build it each build their own
// copy and rename it into place; the first rename wins. The module's bytes are kept in memory for the copies.
export async function prepareVendor(scaffoldDir, requireFromScaffold, rolldown) {
  const specs = describe(requireFromScaffold);
  const source = fs.readFileSync(new URL(import.meta.url), "utf8");
  const keyed = JSON.stringify({ FORMAT, specs, rolldown: rolldown.VERSION ?? null, source });
  const key = crypto.createHash("sha256").update(keyed).digest("hex").slice(0, 16);
  const dir = path.join(scaffoldDir, ".webgen-vendor", key);
  const ready = () => fs.existsSync(path.join(dir, "manifest.json")) && fs.existsSync(path.join(dir, FILE));
  if (!ready()) {
    const staging = `${dir}.${process.pid}-${crypto.randomUUID()}.tmp`;
    try {
      await bundle(rolldown, specs, staging, scaffoldDir);
      fs.writeFileSync(path.join(staging, "manifest.json"), JSON.stringify(specs));
      fs.renameSync(staging, dir);
    } catch (err) {
      if (!ready() && fs.existsSync(dir) && fs.existsSync(path.join(staging, "manifest.json"))) {
        fs.rmSync(dir, { recursive: true, force: true }); // an incomplete copy, left by hand
        fs.renameSync(staging, dir);
      } else if (!ready()) throw err;
    } finally {
      fs.rmSync(staging, { recursive: true, force: true }); // another worker's copy is in place, or it failed
    }
  }
  return { dir, specs, code: fs.readFileSync(path.join(dir, FILE)) };
}

// Whether every vendored package resolves, from the site's folder, to the scaffold's copy (a site with its
// own React bundles it, with the rest, as before: one React per page).
export function servesSite(vendor, root, createRequire) {
  const requireFromSite = createRequire(path.join(root, "package.json"));
  return VENDORED.every((spec) => {
    try {
      return fs.realpathSync(requireFromSite.resolve(spec)).startsWith(vendor.specs[spec].packageDir);
    } catch {
      return false;
    }
  });
}

// The site build's side. `state.used` is set when the build took anything from the vendor module.
export function vendorPlugin(vendor, state) {
  const escape = (text) => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  const filter = new RegExp(`^(${[...VENDORED, CHUNK_TO_VENDOR].map(escape).join("|")})$|^\0webgen-vendor-names:`);
  return {
    name: "webgen-vendor",
    enforce: "pre",
    resolveId: {
      filter: { id: filter },
      async handler(source, importer, options) {
        const fromShim = importer?.startsWith(NAMES) || importer?.startsWith(SHIM);
        if (source === CHUNK_TO_VENDOR) return fromShim ? { id: source, external: true } : null; // left to the browser
        if (source.startsWith(NAMES)) return fromShim && Object.hasOwn(vendor.specs, source.slice(NAMES.length)) ? source : null;
        const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
        if (!resolved || resolved.external) return resolved;
        let real;
        try {
          real = fs.realpathSync(resolved.id.split("?")[0]);
        } catch {
          return resolved;
        }
        if (!real.startsWith(vendor.specs[source].packageDir)) return resolved;
        return vendor.specs[source].esm ? NAMES + source : SHIM + source; // an ES package is checked by name
      },
    },
    load: {
      filter: { id: /^\0webgen-vendor(-names)?:/ },
      handler(id) {
        const spec = id.slice(id.indexOf(":") + 1);
        const d = Object.hasOwn(vendor.specs, spec) ? vendor.specs[spec] : null;
        if (!d) return null;
        state.used = true;
        if (id.startsWith(NAMES)) return { code: namesModule(spec, d), moduleSideEffects: true };
        return { code: `module.exports = require(${JSON.stringify(NAMES + spec)});\n`, moduleSideEffects: true };
      },
    },
    // The page asks for the vendor module together with its entry, not once it has parsed the entry.
    transformIndexHtml: {
      order: "post",
      handler: () =>
        state.used
          ? [{ tag: "link", attrs: { rel: "modulepreload", crossorigin: true, href: VENDOR_URL }, injectTo: "head" }]
          : [],
    },
  };
}

export function copyVendor(vendor, outDir) {
  const target = path.join(outDir, URL_DIR);
  fs.mkdirSync(target, { recursive: true });
  fs.writeFileSync(path.join(target, FILE), vendor.code);
}

// Bundler messages name a package's shim by its internal id (with a NUL, or a written-out "\0"): name the package.
export const plainIds = (text) => text.replace(/(?:\0|\\0)webgen-vendor(?:-names)?:([\w/-]+)/g, "$1");
