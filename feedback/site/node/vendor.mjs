// React, ReactDOM and React Router, bundled once per scaffold and shared by every site build.
//
// Bundling react-dom and the router again was about two thirds of a warm site build. Instead, the scaffold's
// copies of the packages in VENDORED are bundled once, minified, into one ES module (cached on disk next to
// the scaffold, keyed by their versions). In a site build, an import of one of them that resolves to the
// scaffold's copy becomes a small shim that takes the same names from `/assets/webgen-vendor/vendor.js`; the
// file is copied into the site's `dist/` (a built site still stands alone) and preloaded by its index.html.
// An import that resolves anywhere else (a site with its own copy of React) is bundled as before.
//
// Each shim is a CommonJS module to the bundler, as react and react-dom are: an imported name that the package
// lacks is `undefined` at run time, not a build error, as it was when they were bundled with the site.
import path from "node:path";
import fs from "node:fs";
import crypto from "node:crypto";

export const VENDORED = ["react", "react/jsx-runtime", "react-dom", "react-dom/client", "react-router", "react-router-dom"];
const URL_DIR = "assets/webgen-vendor"; // under the site's dist/ and its URL root
const FILE = "vendor.js";
const VENDOR_URL = `/${URL_DIR}/${FILE}`;
const CHUNK_TO_VENDOR = `./${path.basename(URL_DIR)}/${FILE}`;
const FORMAT = 2; // bump when the layout of the cached bundle changes
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

async function bundle(rolldown, specs, outDir) {
  const ENTRY = "\0webgen-vendor-entry";
  const entry = {
    name: "webgen-vendor-entry",
    resolveId: (id) => (id === ENTRY ? id : null),
    load: (id) => (id === ENTRY ? vendorEntry(specs) : null),
  };
  await rolldown.build({
    input: { vendor: ENTRY },
    plugins: [entry],
    platform: "browser",
    logLevel: "silent",
    preserveEntrySignatures: "strict",
    transform: { define: { "process.env.NODE_ENV": JSON.stringify("production") } },
    output: { dir: outDir, format: "es", minify: true, entryFileNames: FILE, codeSplitting: false },
  });
}

// The vendor bundle of this scaffold, built on first use. Workers that race to build it each build their own
// copy and rename it into place; the first rename wins.
export async function prepareVendor(scaffoldDir, requireFromScaffold, rolldown) {
  const specs = describe(requireFromScaffold);
  const key = crypto.createHash("sha256").update(JSON.stringify({ FORMAT, specs })).digest("hex").slice(0, 16);
  const dir = path.join(scaffoldDir, ".webgen-vendor", key);
  const ready = () => fs.existsSync(path.join(dir, "manifest.json")) && fs.existsSync(path.join(dir, FILE));
  if (!ready()) {
    const staging = `${dir}.${process.pid}.tmp`;
    fs.rmSync(staging, { recursive: true, force: true });
    await bundle(rolldown, specs, staging);
    fs.writeFileSync(path.join(staging, "manifest.json"), JSON.stringify(specs));
    try {
      fs.renameSync(staging, dir);
    } catch (err) {
      if (ready()) fs.rmSync(staging, { recursive: true, force: true }); // another worker's copy is in place
      else if (fs.existsSync(dir)) {
        fs.rmSync(dir, { recursive: true, force: true }); // an incomplete copy, left by hand
        fs.renameSync(staging, dir);
      } else throw err;
    }
  }
  return { dir, specs };
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
        if (source === CHUNK_TO_VENDOR) return { id: source, external: true }; // left to the browser
        if (source.startsWith(NAMES)) return source;
        const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
        if (!resolved || resolved.external) return resolved;
        let real;
        try {
          real = fs.realpathSync(resolved.id.split("?")[0]);
        } catch {
          return resolved;
        }
        return real.startsWith(vendor.specs[source].packageDir) ? SHIM + source : resolved;
      },
    },
    load: {
      filter: { id: /^\0webgen-vendor(-names)?:/ },
      handler(id) {
        state.used = true;
        const spec = id.slice(id.indexOf(":") + 1);
        const d = vendor.specs[spec];
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
  fs.copyFileSync(path.join(vendor.dir, FILE), path.join(target, FILE));
}

// Bundler messages name a package's shim by its internal id: name the package instead.
export const plainIds = (text) => text.replace(/\0webgen-vendor(?:-names)?:([\w/-]+)/g, "$1");
