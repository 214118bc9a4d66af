/**
 * The core's one-expression helpers written out where they are called, on
 * the ES5 bundle before identifiers are minified. The packet cursor
 * (firmware/core/codec/cursor.ts: readU16, readStringLength) is how every
 * handler reads its fields; on Espruino a resident function costs about 5
 * JsVars and one a parameter for as long as the broker runs, and each call
 * its scope, while the same expression written in place costs neither. So a
 * function whose doc comment carries `@inline` is replaced at each call by
 * its expression, with the call's arguments in place of its parameters, and
 * leaves the bundle.
 *
 * Only what keeps the meaning is taken, else the build stops:
 * - the function: declared at the top of its file, its body one `return`
 *   of an expression of its parameters alone, with no call or assignment;
 * - each call: as many arguments as parameters, none with a call or an
 *   assignment in it (an argument may be evaluated once, more often, or not
 *   at all); a parameter used more than once takes a name or a literal only,
 *   so nothing is computed twice that the source computes once;
 * - the name: only ever called (never passed as a value), never declared
 *   again, and present in the broker's bundle (a bundler's renaming would
 *   otherwise leave it resident without a word).
 */
import * as acorn from "acorn";
import * as walk from "acorn-walk";
import * as ts from "typescript";
import { applyEdits, outerBody } from "./shrink";

/** The names of the functions marked `@inline` in these sources. */
export function inlineMarks(files: { name: string; text: string }[]): string[] {
  const names: string[] = [];
  for (const f of files) {
    if (f.text.indexOf("@inline") < 0) continue;
    const sf = ts.createSourceFile(f.name, f.text, ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node) => {
      for (const tag of ts.getJSDocTags(n)) {
        if (tag.tagName.text !== "inline") continue;
        const at = `${f.name}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
        if (!ts.isFunctionDeclaration(n) || n.name === undefined || n.parent !== sf) {
          throw new Error(`${at}: @inline marks a function declared at the top of its file`);
        }
        if (names.indexOf(n.name.text) >= 0) throw new Error(`${at}: a second @inline ${n.name.text}`);
        names.push(n.name.text);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return names.sort();
}

/** Nothing in `n` calls, assigns, creates or deletes: evaluating it any number of times means the same. */
function pure(n: any): boolean {
  let ok = true;
  walk.full(n, (c: any) => {
    if (c.type === "CallExpression" || c.type === "NewExpression" || c.type === "AssignmentExpression" ||
      c.type === "UpdateExpression" || c.type === "FunctionExpression" || c.type === "SequenceExpression" ||
      (c.type === "UnaryExpression" && c.operator === "delete")) ok = false;
  });
  return ok;
}

/** A name or a literal: what may stand for a parameter used more than once. */
function simple(n: any): boolean {
  return n.type === "Identifier" || (n.type === "Literal" && n.regex === undefined) || n.type === "ThisExpression";
}

interface Inlinable {
  params: string[];
  /** The returned expression, and where each use of a parameter lies in it (offsets into `text`). */
  text: string;
  uses: { start: number; end: number; param: number }[];
  decl: any;
}

function inlinable(code: string, decl: any, name: string): Inlinable {
  const fail = (why: string) => new Error(`inlineCalls: ${name} ${why}`);
  const body = decl.body.body;
  if (body.length !== 1 || body[0].type !== "ReturnStatement" || body[0].argument === null) {
    throw fail("is not one `return` of an expression");
  }
  const params: string[] = decl.params.map((p: any) => {
    if (p.type !== "Identifier") throw fail("has a parameter that is not a plain name");
    return p.name;
  });
  const expr = body[0].argument;
  if (!pure(expr)) throw fail("calls or assigns in its expression");
  const uses: Inlinable["uses"] = [];
  walk.fullAncestor(expr, (n: any, _state: any, ancestors: any[]) => {
    if (n.type !== "Identifier") return;
    const parent = ancestors[ancestors.length - 2];
    if (parent !== undefined && parent.type === "MemberExpression" && parent.property === n && !parent.computed) return;
    const i = params.indexOf(n.name);
    if (i < 0) throw fail(`reads ${n.name}, which is not a parameter`);
    uses.push({ start: n.start - expr.start, end: n.end - expr.start, param: i });
  });
  return { params, text: code.slice(expr.start, expr.end), uses, decl };
}

/**
 * `es5` with each call of the functions named in `names` replaced by the
 * function's expression, and their declarations gone. `requireAll`: each
 * name must be declared in the bundle (the broker's; the on-device suite
 * holds only what it reaches).
 */
export function inlineCalls(es5: string, names: string[], requireAll = false): { code: string; inlined: { [name: string]: number } } {
  const ast = acorn.parse(es5, { ecmaVersion: 5 }) as any;
  const body = outerBody(ast);
  const found = new Map<string, Inlinable>();
  for (const st of body) {
    if (st.type === "FunctionDeclaration" && names.indexOf(st.id.name) >= 0) found.set(st.id.name, inlinable(es5, st, st.id.name));
  }
  for (const name of names) {
    if (requireAll && !found.has(name)) throw new Error(`inlineCalls: ${name} is marked @inline but is not in the bundle (renamed, or no longer used on the board)`);
  }
  const edits: { start: number; end: number; text: string }[] = [];
  const inlined: { [name: string]: number } = {};
  // another declaration of the name would make some of its calls not calls of it
  walk.full(ast, (n: any) => {
    const declared = (n.type === "FunctionDeclaration" || n.type === "FunctionExpression") ? [n.id, ...n.params]
      : n.type === "VariableDeclarator" ? [n.id] : n.type === "CatchClause" ? [n.param] : [];
    for (const id of declared) {
      if (id === null || id.type !== "Identifier" || !found.has(id.name)) continue;
      if (!(n === found.get(id.name)!.decl && id === n.id)) throw new Error(`inlineCalls: ${id.name} is declared again (${es5.slice(n.start, Math.min(n.end, n.start + 60))})`);
    }
  });
  walk.fullAncestor(ast, (n: any, _state: any, ancestors: any[]) => {
    const parent = ancestors[ancestors.length - 2];
    if (n.type !== "Identifier" || !found.has(n.name)) return;
    const f = found.get(n.name)!;
    if (parent === f.decl && parent.id === n) return;
    if (parent !== undefined && parent.type === "MemberExpression" && parent.property === n && !parent.computed) return;
    if (parent !== undefined && parent.type === "Property" && parent.key === n && !parent.computed) return;
    const call = parent;
    const where = () => es5.slice(call.start, call.end);
    if (call === undefined || call.type !== "CallExpression" || call.callee !== n) {
      throw new Error(`inlineCalls: ${n.name} is used other than called (${es5.slice(parent.start, Math.min(parent.end, parent.start + 60))})`);
    }
    if (call.arguments.length !== f.params.length) throw new Error(`inlineCalls: ${where()} has ${call.arguments.length} arguments for ${f.params.length} parameters`);
    const args: string[] = call.arguments.map((a: any, i: number) => {
      if (!pure(a)) throw new Error(`inlineCalls: ${where()}: argument ${i + 1} calls or assigns`);
      const count = f.uses.filter((u) => u.param === i).length;
      if (count > 1 && !simple(a)) throw new Error(`inlineCalls: ${where()}: argument ${i + 1} stands for ${f.params[i]}, used ${count} times; give it a name first`);
      const t = es5.slice(a.start, a.end);
      return simple(a) ? t : "(" + t + ")";
    });
    let text = f.text;
    for (const u of f.uses.slice().sort((x, y) => y.start - x.start)) text = text.slice(0, u.start) + args[u.param] + text.slice(u.end);
    edits.push({ start: call.start, end: call.end, text: "(" + text + ")" });
    inlined[n.name] = (inlined[n.name] || 0) + 1;
  });
  for (const f of found.values()) edits.push({ start: f.decl.start, end: f.decl.end, text: "" });
  return { code: applyEdits(es5, edits), inlined };
}
