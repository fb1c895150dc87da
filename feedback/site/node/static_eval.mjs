// Static evaluation of a config file's exported object literal: its values are read as data, never run.
//
// A value is computed from the syntax tree alone: literals, template strings, arrays, objects, spreads of these,
// references to top-level constants, members of known modules (`tailwindcss/colors`, `tailwindcss/defaultTheme`),
// `require`/`import` of a package (a marker that names it: the caller decides what a package may be), and a few
// pure forms (`path.resolve(__dirname, "src")`, `fileURLToPath(new URL("./src", import.meta.url))`,
// `JSON.stringify(literal)`, `defineConfig(x)`, `[...].filter(Boolean)`, `&&`, `||`, `??`, `?:`, `===`).
// Anything else (a function, a call of the site's own code, a computed key) is DYNAMIC: the caller drops that
// value and warns with the place it came from. Nothing here executes, imports or writes anything.
import path from "node:path";

export const DYNAMIC = Symbol("dynamic");

// A package a config imports or requires; `call` holds the arguments when it is called (a plugin factory).
export class PackageRef {
  constructor(source, member = null, args = null) {
    Object.assign(this, { source, member, args });
  }
}

const unwrap = (node) => {
  while (node && ["TSSatisfiesExpression", "TSAsExpression", "TSNonNullExpression", "ParenthesizedExpression", "TSTypeAssertion"].includes(node.type)) {
    node = node.expression;
  }
  return node;
};

export class Evaluator {
  // root: the site folder (`__dirname` of its configs); modules: {specifier: value} known without running them;
  // context: values of the config function's parameters ({ mode: "production", command: "build" }).
  constructor({ root, file, code, modules = {}, context = {} }) {
    Object.assign(this, { root, file, code, modules, context });
    this.scope = new Map();
    this.dynamic = []; // where DYNAMIC values came from: "line 12: a function"
  }

  where(node, what) {
    const line = node && typeof node.start === "number" ? this.code.slice(0, node.start).split("\n").length : "?";
    this.dynamic.push(`${path.basename(this.file)}:${line}: ${what}`);
    return DYNAMIC;
  }

  // Top-level constants and imports of a module body; returns the exported value's node.
  declare(body) {
    let exported = null;
    for (const statement of body) {
      if (statement.type === "ImportDeclaration") {
        for (const spec of statement.specifiers) {
          const source = statement.source.value;
          const known = Object.hasOwn(this.modules, source) ? this.modules[source] : new PackageRef(source);
          const value = spec.type === "ImportSpecifier" ? member(known, spec.imported.name ?? spec.imported.value) : known;
          this.scope.set(spec.local.name, { value });
        }
      } else if (statement.type === "VariableDeclaration") {
        for (const decl of statement.declarations) {
          if (decl.id.type === "Identifier" && decl.init) this.scope.set(decl.id.name, { node: decl.init });
        }
      } else if (statement.type === "ExportDefaultDeclaration") {
        exported = statement.declaration;
      } else if (statement.type === "ExpressionStatement") {
        const expr = statement.expression;
        const left = expr.type === "AssignmentExpression" ? expr.left : null;
        if (left?.type === "MemberExpression" && left.object?.name === "module" && left.property?.name === "exports") {
          exported = expr.right;
        }
      }
    }
    return exported;
  }

  lookup(name, node) {
    if (Object.hasOwn(this.context, name)) return this.context[name];
    if (name === "__dirname") return this.root;
    if (name === "undefined") return undefined;
    const entry = this.scope.get(name);
    if (!entry) return this.where(node, `\`${name}\` is not a constant of this file`);
    if (!("value" in entry)) {
      entry.value = DYNAMIC; // a self-reference while it is being computed stays dynamic
      entry.value = this.eval(entry.node);
    }
    return entry.value;
  }

  eval(raw) {
    const node = unwrap(raw);
    if (!node) return undefined;
    switch (node.type) {
      case "Literal":
        if (node.regex) return { regex: node.regex.pattern, flags: node.regex.flags };
        return node.value;
      case "TemplateLiteral": {
        let text = node.quasis[0].value.cooked;
        for (let i = 0; i < node.expressions.length; i++) {
          const value = this.eval(node.expressions[i]);
          if (value === DYNAMIC || (value !== null && typeof value === "object")) return DYNAMIC;
          text += String(value) + node.quasis[i + 1].value.cooked;
        }
        return text;
      }
      case "ArrayExpression": {
        const out = [];
        for (const element of node.elements) {
          if (element?.type === "SpreadElement") {
            const value = this.eval(element.argument);
            if (!Array.isArray(value)) return value === DYNAMIC ? DYNAMIC : this.where(element, "a spread of a non-array");
            out.push(...value);
          } else {
            out.push(element ? this.eval(element) : undefined);
          }
        }
        return out;
      }
      case "ObjectExpression":
        return this.object(node);
      case "Identifier":
        return this.lookup(node.name, node);
      case "MemberExpression": {
        if (node.object.type === "MetaProperty") return node.property.name === "url" ? `file://${path.join(this.root, path.basename(this.file))}` : DYNAMIC;
        const object = this.eval(node.object);
        const key = node.computed ? this.eval(node.property) : node.property.name;
        if (object === DYNAMIC || key === DYNAMIC) return DYNAMIC;
        return member(object, key, () => this.where(node, `\`.${String(key)}\` of a value that is not data`));
      }
      case "CallExpression":
        return this.call(node);
      case "NewExpression":
        if (node.callee.name === "URL" && node.arguments.length === 2) {
          const [spec, base] = node.arguments.map((a) => this.eval(a));
          if (typeof spec === "string" && typeof base === "string") return { url: new URL(spec, base).href };
        }
        return this.where(node, "a `new` expression");
      case "LogicalExpression": {
        const left = this.eval(node.left);
        if (left === DYNAMIC) return DYNAMIC;
        if (node.operator === "&&") return left ? this.eval(node.right) : left;
        if (node.operator === "||") return left ? left : this.eval(node.right);
        return left ?? this.eval(node.right);
      }
      case "ConditionalExpression": {
        const test = this.eval(node.test);
        if (test === DYNAMIC) return DYNAMIC;
        return this.eval(test ? node.consequent : node.alternate);
      }
      case "BinaryExpression": {
        const [a, b] = [this.eval(node.left), this.eval(node.right)];
        if (a === DYNAMIC || b === DYNAMIC) return DYNAMIC;
        const ops = { "===": () => a === b, "!==": () => a !== b, "==": () => a == b, "!=": () => a != b, "+": () => a + b };
        return ops[node.operator] ? ops[node.operator]() : this.where(node, `the operator ${node.operator}`);
      }
      case "UnaryExpression": {
        const value = this.eval(node.argument);
        if (value === DYNAMIC) return DYNAMIC;
        if (node.operator === "!") return !value;
        if (node.operator === "-" && typeof value === "number") return -value;
        return this.where(node, `the operator ${node.operator}`);
      }
      case "ArrowFunctionExpression":
      case "FunctionExpression":
        return this.where(node, "a function (never run)");
      default:
        return this.where(node, `a ${node.type}`);
    }
  }

  object(node) {
    const out = {};
    for (const prop of node.properties) {
      if (prop.type === "SpreadElement") {
        const value = this.eval(prop.argument);
        if (value && typeof value === "object" && !Array.isArray(value) && !(value instanceof PackageRef)) Object.assign(out, value);
        else if (value !== DYNAMIC) this.where(prop, "a spread of a non-object");
        continue;
      }
      const key = prop.computed ? this.eval(prop.key) : (prop.key.name ?? prop.key.value);
      if (key === DYNAMIC || key === undefined) continue;
      if (prop.method || prop.kind !== "init") {
        this.where(prop, `\`${key}\` is a function (never run)`);
        continue;
      }
      const value = this.eval(prop.value);
      if (value !== DYNAMIC) out[key] = value;
      else this.dynamic.push(`  (\`${key}\` is left out)`);
    }
    return out;
  }

  call(node) {
    const callee = unwrap(node.callee);
    const args = node.arguments;
    const name = callee.type === "Identifier" ? callee.name : null;
    if (name === "require" && args.length === 1) {
      const source = this.eval(args[0]);
      if (typeof source !== "string") return this.where(node, "a `require` of a computed name");
      return Object.hasOwn(this.modules, source) ? this.modules[source] : new PackageRef(source);
    }
    if (name === "defineConfig" && args.length === 1) return this.configValue(args[0]);
    if (callee.type === "MemberExpression" && !callee.computed) {
      const method = callee.property.name;
      if (callee.object.name === "JSON" && method === "stringify" && args.length === 1) {
        const value = this.eval(args[0]);
        return value === DYNAMIC ? DYNAMIC : JSON.stringify(value);
      }
      if (method === "filter" && args.length === 1 && unwrap(args[0]).name === "Boolean") {
        const list = this.eval(callee.object);
        return Array.isArray(list) ? list.filter(Boolean) : DYNAMIC;
      }
    }
    const target = this.eval(callee);
    if (target instanceof PackageRef) {
      if (isPath(target, "resolve") || isPath(target, "join")) return this.pathCall(node, target.member);
      if (target.source === "node:url" || target.source === "url") {
        const arg = this.eval(args[0]);
        return arg?.url?.startsWith("file://") ? new URL(arg.url).pathname : this.where(node, "a computed URL");
      }
      return new PackageRef(target.source, target.member, args.map((a) => this.eval(a)));
    }
    return this.where(node, name ? `a call of \`${name}\`` : "a call");
  }

  pathCall(node, method) {
    const parts = node.arguments.map((a) => this.eval(a));
    if (!parts.every((p) => typeof p === "string")) return this.where(node, "a path computed at run time");
    return method === "join" ? path.join(...parts) : path.resolve(this.root, ...parts);
  }

  // A config given as a function (Vite's `({ mode }) => ({...})`): its body, with the parameters known.
  configValue(raw) {
    const node = unwrap(raw);
    if (node.type !== "ArrowFunctionExpression" && node.type !== "FunctionExpression") return this.eval(node);
    const param = node.params[0];
    if (param?.type === "ObjectPattern") {
      for (const prop of param.properties) {
        const key = prop.key?.name;
        if (key && prop.value?.type === "Identifier") this.scope.set(prop.value.name, { value: this.context[key] });
      }
    }
    if (node.body.type !== "BlockStatement") return this.eval(node.body);
    for (const statement of node.body.body) {
      if (statement.type === "VariableDeclaration") {
        for (const decl of statement.declarations) {
          if (decl.id.type === "Identifier" && decl.init) this.scope.set(decl.id.name, { node: decl.init });
        }
      } else if (statement.type === "ReturnStatement") {
        return this.eval(statement.argument);
      }
    }
    return this.where(node, "a config function without a plain return");
  }
}

const isPath = (ref, method) => (ref.source === "path" || ref.source === "node:path") && ref.member === method;

// `object[key]` of data (undefined when it lacks the key, as JavaScript has it), or of a package (a named import
// such as `{ resolve } from "path"`); a member of anything else is not data.
function member(object, key, onFail = () => DYNAMIC) {
  if (object instanceof PackageRef) return object.member ? onFail() : new PackageRef(object.source, key);
  if (object !== null && typeof object === "object") return Object.hasOwn(object, key) ? object[key] : undefined;
  return onFail();
}
