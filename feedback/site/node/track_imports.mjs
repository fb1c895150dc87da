// The site's own dynamic imports (`import("./pages/About")`, as React.lazy routes use) are handed to
// `window.__webgenTrack` when the page defines it: the renderer's page script (page_session.REQUESTS_JS) counts
// them as calls in flight, so that a route is not read while its chunk still loads (a lazy route shows its
// fallback until then, and no network event may have reached the harness yet). Anywhere else (the UI's preview,
// a downloaded site) the promise is returned as it is.
//
// The helper is a function declaration appended to the module: hoisted, so a call made while an import cycle
// evaluates the module finds it, and no line of the site's code moves (build errors keep their line numbers).

function importExpressions(ast) {
  const found = [];
  const stack = [ast];
  while (stack.length) { // iterative: a deeply nested expression must not overflow the stack
    const node = stack.pop();
    if (!node || typeof node !== "object") continue;
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
      continue;
    }
    if (node.type === "ImportExpression") found.push(node);
    for (const key in node) {
      if (key !== "type" && key !== "start" && key !== "end") stack.push(node[key]);
    }
  }
  return found;
}

// A name the module does not use already.
function helperName(code) {
  let name = "__webgenImport";
  while (code.includes(name)) name += "_";
  return name;
}

export function trackImports() {
  return {
    name: "webgen-track-imports",
    enforce: "post", // after TypeScript and JSX are compiled away: plain JavaScript to parse
    transform: {
      filter: { id: { include: /\.[cm]?[jt]sx?(\?|$)/, exclude: /node_modules/ }, code: { include: /\bimport\s*\(/ } },
      handler(code) {
        let calls;
        try {
          calls = importExpressions(this.parse(code));
        } catch {
          return null; // left as it is: the bundler reports what it cannot parse
        }
        if (!calls.length) return null;
        const name = helperName(code);
        // Insertions applied from the end of the code, so that the offsets still to apply stay valid.
        const edits = calls.flatMap((call) => [[call.start, `${name}(`], [call.end, ")"]]);
        edits.sort((a, b) => b[0] - a[0]);
        let out = code;
        for (const [at, text] of edits) out = out.slice(0, at) + text + out.slice(at);
        const helper =
          `function ${name}(promise) { return typeof window !== "undefined" && ` +
          `typeof window.__webgenTrack === "function" ? window.__webgenTrack(promise) : promise; }`;
        return { code: `${out}\n${helper}\n`, map: null };
      },
    },
  };
}
