/**
 * Shrinking what the firmware keeps in the JsVar pool, on the ES5 bundle
 * before identifiers are minified: constants inlined, unused functions and
 * classes dropped, and cold code moved off the pool.
 *
 * Cold code off the JsVar pool. On Espruino a function's body stays in flash,
 * but every function that exists costs about 5 JsVars plus one per parameter
 * for as long as it exists, and a nested function exists only while its
 * parent runs. So the functions only needed now and then (CONNECT,
 * SUBSCRIBE, saving and loading state, the $SYS tree) are moved out of the
 * bundle's top level into one factory, `$cold(i)`, that creates entry point
 * i with what it reaches when called: a CONNECT pays for the connect code
 * (about 11 JsVars a function) for its few milliseconds, and the idle broker
 * pays for the factory alone. Hot code calls `$cold(i)(...)` where it called
 * the entry point by name.
 *
 * Works on the ES5 bundle before identifiers are minified: `roots` are
 * top-level function names; every top-level function referred to only from
 * cold code goes cold with them.
 */
import * as acorn from "acorn";
import * as walk from "acorn-walk";

export interface ColdReport {
  moved: string[];
  stubs: string[];
  /** Parameters of the moved functions: each was a JsVar while resident. */
  params: number;
}

const FACTORY = "$cold";

interface TopFunction {
  name: string;
  node: any;
  params: number;
}

/**
 * Put the value of each top-level constant (`var SLASH = 47`, never
 * assigned again) where it is used: esbuild inlines constants.ts but not the
 * named constants of other modules, and each is a variable in the pool.
 */
export function inlineConstants(es5: string): { code: string; inlined: string[] } {
  const ast = acorn.parse(es5, { ecmaVersion: 5, ranges: true }) as any;
  const body = outerBody(ast);
  const values = new Map<string, { text: string; decl: any; st: any }>();
  for (const st of body) {
    if (st.type !== "VariableDeclaration") continue;
    for (const d of st.declarations) {
      const init = d.init;
      const literal = init && ((init.type === "Literal" && init.regex === undefined && init.value !== null) ||
        (init.type === "UnaryExpression" && init.operator === "-" && init.argument.type === "Literal" && typeof init.argument.value === "number"));
      if (literal) values.set(d.id.name, { text: `(${es5.slice(init.start, init.end)})`, decl: d, st });
    }
  }
  // not a constant if anything assigns it or declares the same name
  walk.full(ast, (n: any) => {
    if (n.type === "AssignmentExpression" && n.left.type === "Identifier") values.delete(n.left.name);
    if (n.type === "UpdateExpression" && n.argument.type === "Identifier") values.delete(n.argument.name);
    if (/Function/.test(n.type)) {
      for (const p of n.params) values.delete(p.name);
      if (n.id) values.delete(n.id.name);
    }
    if (n.type === "VariableDeclarator" && values.has(n.id.name) && values.get(n.id.name)!.decl !== n) values.delete(n.id.name);
  });
  const edits: { start: number; end: number; text: string }[] = [];
  walk.full(ast, (n: any) => {
    if (n.type === "Identifier" && values.has(n.name) && values.get(n.name)!.decl.id !== n) {
      edits.push({ start: n.start, end: n.end, text: values.get(n.name)!.text });
    }
  });
  es5 = applyEdits(es5, edits);
  // then, with no use left, the declarations go (a var list may hold a class that used one)
  return { code: dropDeclarators(es5, (d) => values.has(d.id.name) && d.init !== null && (d.init.type === "Literal" || d.init.type === "UnaryExpression")), inlined: [...values.keys()] };
}

/** Remove the top-level declarators `dead` picks; a var list keeps its others. */
function dropDeclarators(es5: string, dead: (d: any) => boolean): string {
  const body = outerBody(acorn.parse(es5, { ecmaVersion: 5, ranges: true }) as any);
  const cuts: { start: number; end: number; text: string }[] = [];
  for (const st of body) {
    if (st.type !== "VariableDeclaration" || !st.declarations.some(dead)) continue;
    const keep = st.declarations.filter((d: any) => !dead(d));
    cuts.push({ start: st.start, end: st.end, text: keep.length === 0 ? "" : `${st.kind} ${keep.map((d: any) => es5.slice(d.start, d.end)).join(", ")};` });
  }
  return applyEdits(es5, cuts);
}

/**
 * Drop top-level functions and lowered classes (`var X = (function () { ... })()`)
 * that nothing refers to: esbuild keeps a class whose only use it folded away
 * (the trie, when the board build picks the flat list), and on Espruino every
 * method of it would sit in the pool.
 */
export function dropUnused(es5: string): { code: string; dropped: string[] } {
  const dropped: string[] = [];
  for (;;) {
    const ast = acorn.parse(es5, { ecmaVersion: 5, ranges: true }) as any;
    const body = outerBody(ast);
    const declared = new Map<string, any>();
    for (const st of body) {
      if (st.type === "FunctionDeclaration") declared.set(st.id.name, st);
      if (st.type === "VariableDeclaration") {
        for (const d of st.declarations) if (isLoweredClass(d.init)) declared.set(d.id.name, d);
      }
    }
    const used = new Set<string>();
    for (const st of body) {
      walk.full(st, (n: any) => {
        if (n.type === "Identifier" && declared.has(n.name) && n !== declared.get(n.name).id) {
          // a reference from inside the thing itself does not keep it
          const own = declared.get(n.name);
          if (!(n.start >= own.start && n.end <= own.end)) used.add(n.name);
        }
      });
    }
    const dead = [...declared.keys()].filter((name) => !used.has(name));
    if (dead.length === 0) return { code: es5, dropped };
    dropped.push(...dead);
    const doomed = new Set(dead);
    const fns = body.filter((st: any) => st.type === "FunctionDeclaration" && doomed.has(st.id.name));
    es5 = applyEdits(es5, fns.map((f: any) => ({ start: f.start, end: f.end, text: "" })));
    es5 = dropDeclarators(es5, (d) => doomed.has(d.id.name) && isLoweredClass(d.init));
  }
}

/**
 * Replace each edit's range of `code` with its text. Edits must not overlap;
 * applied from the end so earlier offsets hold (a stable sort keeps the
 * given order among edits at one offset).
 */
export function applyEdits(code: string, edits: { start: number; end: number; text: string }[]): string {
  const sorted = edits.slice().sort((x, y) => y.start - x.start);
  for (const e of sorted) code = code.slice(0, e.start) + e.text + code.slice(e.end);
  return code;
}

/** esbuild's ES5 class: an argument-less function expression called at once. */
function isLoweredClass(init: any): boolean {
  return init !== null && init !== undefined && init.type === "CallExpression" && init.arguments.length === 0 &&
    init.callee.type === "FunctionExpression";
}

export function moveColdCode(es5: string, roots: string[], requireAll = false): { code: string; report: ColdReport } {
  const ast = acorn.parse(es5, { ecmaVersion: 5, ranges: true }) as any;
  const body = outerBody(ast);
  const top: { [name: string]: TopFunction } = {};
  for (const st of body) {
    if (st.type === "FunctionDeclaration") top[st.id.name] = { name: st.id.name, node: st, params: st.params.length };
  }
  // who refers to each top-level function: another top-level function by name, or "" for anything else
  const users: { [name: string]: Set<string> } = {};
  for (const name of Object.keys(top)) users[name] = new Set();
  for (const st of body) {
    const from = st.type === "FunctionDeclaration" ? st.id.name : "";
    walk.full(st, (n: any) => {
      if (n.type !== "Identifier" || !(n.name in top) || n === st.id) return;
      if (n.name !== from) users[n.name].add(from);
    });
  }

  // a bundle of part of the code (the on-device suite) lacks some; the broker's lacks none
  const absent = roots.filter((r) => !(r in top));
  if (requireAll && absent.length > 0) {
    throw new Error(`espruino-cold: marked @cold but not a function of the bundle (renamed by the bundler, or no longer used on the board): ${absent.join(", ")}`);
  }
  const cold = new Set<string>(roots.filter((r) => r in top));
  for (let changed = true; changed; ) {
    changed = false;
    for (const name of Object.keys(top)) {
      if (cold.has(name) || users[name].size === 0) continue;
      let allCold = true;
      for (const u of users[name]) if (u === "" || !cold.has(u)) allCold = false;
      if (allCold) {
        cold.add(name);
        changed = true;
      }
    }
  }
  // entry points: cold functions that hot code calls
  // every root is an entry of its own, also where only cold code calls it (so a CONNECT without a
  // password does not create the password code), and so is every cold function hot code calls
  const stubs = [...roots.filter((r) => cold.has(r)),
    ...[...cold].filter((name) => !roots.includes(name) && [...users[name]].some((u) => u === "" || !cold.has(u)))];
  if (cold.size === 0) return { code: es5, report: { moved: [], stubs: [], params: 0 } };

  // each entry point's case holds what it reaches, so a CONNECT creates the connect code only
  // (a function shared by two entry points is in both: flash, not JsVars)
  const refs: { [name: string]: Set<string> } = {};
  for (const name of Object.keys(top)) refs[name] = new Set();
  for (const name of Object.keys(users)) for (const u of users[name]) if (u !== "") refs[u].add(name);
  const reach = (root: string): string[] => {
    const seen = new Set<string>([root]);
    const todo = [root];
    while (todo.length > 0) {
      for (const r of refs[todo.pop() as string]) {
        // another entry is reached through the factory, not copied in
        if (cold.has(r) && !seen.has(r) && !stubs.includes(r)) {
          seen.add(r);
          todo.push(r);
        }
      }
    }
    return [...seen].sort((x, y) => top[x].node.start - top[y].node.start);
  };
  // a root's name must mean the root everywhere, or rewriting its uses below would be wrong
  walk.full(ast, (n: any) => {
    const shadows = (id: any) => id.type === "Identifier" && stubs.includes(id.name) && top[id.name].node.id !== id;
    if (/Function/.test(n.type) && (n.params.some(shadows) || (n.id && shadows(n.id)))) {
      throw new Error(`espruino-cold: ${n.id ? n.id.name : "a function"} shadows the entry point it names`);
    }
    if (n.type === "VariableDeclarator" && shadows(n.id)) throw new Error(`espruino-cold: a variable shadows ${n.id.name}`);
  });
  // hot code reaches an entry point through $cold(i), which creates that entry's group and returns it
  const edits: { start: number; end: number; text: string }[] = [];
  for (const name of cold) edits.push({ start: top[name].node.start, end: top[name].node.end, text: "" });
  for (const st of body) {
    if (st.type === "FunctionDeclaration" && cold.has(st.id.name)) continue;
    walk.full(st, (n: any) => {
      if (n.type === "Identifier" && stubs.includes(n.name)) edits.push({ start: n.start, end: n.end, text: `${FACTORY}(${stubs.indexOf(n.name)})` });
    });
  }
  // a cold function's text inside `root`'s case: the other entries it names become $cold(k)
  const textIn = (name: string, root: string): string => {
    const node = top[name].node;
    const inner: { start: number; end: number; text: string }[] = [];
    walk.full(node, (n: any) => {
      if (n.type === "Identifier" && n !== node.id && n.name !== root && stubs.includes(n.name)) {
        inner.push({ start: n.start - node.start, end: n.end - node.start, text: `${FACTORY}(${stubs.indexOf(n.name)})` });
      }
    });
    return applyEdits(es5.slice(node.start, node.end), inner);
  };
  const cases = stubs.map((root, i) => {
    const decls = reach(root).map((name) => textIn(name, root)).join("\n");
    return `case ${i}: return (function () {\n${decls}\nreturn ${root};\n})();`;
  }).join("\n");
  // first in the bundle: Espruino does not hoist a function declared after the code that runs at load
  edits.push({ start: body[0].start, end: body[0].start, text: `function ${FACTORY}(i) {\nswitch (i) {\n${cases}\n}\n}\n` });
  const out = applyEdits(es5, edits);
  let params = 0;
  for (const name of cold) params += top[name].params;
  return { code: out, report: { moved: [...cold].sort(), stubs, params } };
}

/** The statements inside the bundle's `(function() { ... })();` wrapper. */
export function outerBody(ast: any): any[] {
  for (const st of ast.body) {
    if (st.type !== "ExpressionStatement") continue;
    const call = st.expression;
    if (call.type === "CallExpression" && call.callee.type === "FunctionExpression") return call.callee.body.body;
  }
  throw new Error("espruino-cold: the bundle has no (function() { ... })() wrapper");
}
