// The site's own dynamic imports (`import("./pages/About")`, as React.lazy routes use) are handed to
// `window.__webgenTrack` when the page defines it: the renderer's page script (page_session.REQUESTS_JS) counts
// them as calls in flight, so that a route is not read while its chunk still loads (a lazy route shows its
// fallback until then, and no network event may have reached the harness yet). Anywhere else (the UI's preview,
// a downloaded site) the promise is returned as it is.
const HELPER =
  "const __webgenImport = (promise) => (typeof window !== \"undefined\" && typeof window.__webgenTrack === " +
  "\"function\" ? window.__webgenTrack(promise) : promise);\n";

function importExpressions(node, found) {
  if (!node || typeof node !== "object") return found;
  if (Array.isArray(node)) {
    for (const item of node) importExpressions(item, found);
    return found;
  }
  if (node.type === "ImportExpression") found.push(node);
  for (const key in node) {
    if (key !== "type" && key !== "start" && key !== "end") importExpressions(node[key], found);
  }
  return found;
}

export function trackImports() {
  return {
    name: "webgen-track-imports",
    enforce: "post", // after TypeScript and JSX are compiled away: plain JavaScript to parse
    transform: {
      filter: { id: { include: /\.[jt]sx?(\?|$)/, exclude: /node_modules/ }, code: { include: /\bimport\s*\(/ } },
      handler(code) {
        let ast;
        try {
          ast = this.parse(code);
        } catch {
          return null; // left as it is: the bundler reports what it cannot parse
        }
        const calls = importExpressions(ast.body, []);
        if (!calls.length) return null;
        // Insertions applied from the end of the code, so that the offsets still to apply stay valid.
        const edits = calls.flatMap((call) => [[call.start, "__webgenImport("], [call.end, ")"]]);
        edits.sort((a, b) => b[0] - a[0]);
        let out = code;
        for (const [at, text] of edits) out = out.slice(0, at) + text + out.slice(at);
        return { code: HELPER + out, map: null };
      },
    },
  };
}
