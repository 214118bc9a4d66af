/**
 * Cold code in files of its own on the board. The cold pass
 * (espruino-shrink.ts) puts every entry point in one factory, `$cold(i)`,
 * a switch over cases. But Espruino runs source text: a call reads the
 * function's whole text, past the case it wanted and past its `return`,
 * from flash (on the interpreter here about 1.4 us a character: 35 ms a
 * call for a 20 KB factory, paid by every PINGREQ, SUBSCRIBE and CONNECT).
 * So after minifying, each case's text is cut out into a Storage file of
 * its own ("mqc" + i) and the factory becomes one line that evaluates that
 * file in its own scope (so the case sees the bundle's names as before):
 * a call reads only the code it runs. The functions it makes still run
 * from flash (Storage.read hands out flash, not a copy).
 *
 * The files travel in the bundle as a trailing comment, one JSON string a
 * line, which `npm run flash` writes beside .bootcde (splitColdFiles).
 */
import * as acorn from "acorn";

/** Storage names of cold entry i: prefix + i (at most 28 characters); the device-test suite has its own. */
export const COLD_FILE_PREFIX = "mqc";
export const SELFTEST_COLD_PREFIX = "mqt";
const TRAILER = "/*mqtt cold files\n";

/** Move the factory's cases out of minified `code`; returns the bundle with its trailer. */
export function coldToFiles(code: string, prefix: string = COLD_FILE_PREFIX): string {
  const ast = acorn.parse(code, { ecmaVersion: 5, ranges: true }) as any;
  let factory: any;
  acornWalk(ast, (n: any) => {
    if (factory !== undefined || n.type !== "FunctionDeclaration" || n.params.length !== 1) return;
    const body = n.body.body;
    if (body.length === 1 && body[0].type === "SwitchStatement" && body[0].discriminant.type === "Identifier" &&
      body[0].discriminant.name === n.params[0].name && body[0].cases.every((c: any) => c.test && c.test.type === "Literal")) {
      factory = n;
    }
  });
  if (factory === undefined) return code; // nothing cold
  const files: string[] = [];
  for (const c of factory.body.body[0].cases) {
    const ret = c.consequent[0];
    if (c.test.value !== files.length || ret.type !== "ReturnStatement" || c.consequent.length !== 1) {
      throw new Error("espruino-cold-files: the factory's cases are not `case i: return ...` in order");
    }
    const text = code.slice(ret.argument.start, ret.argument.end);
    if (text.indexOf("*/") >= 0) throw new Error(`espruino-cold-files: cold entry ${files.length} holds "*/"`);
    files.push(text);
  }
  // no parameter by name: the file is evaluated in this scope, where a name of the bundle's own
  // that the parameter's shadowed would mean the number instead
  const loader = `(){return eval(require("Storage").read("${prefix}"+arguments[0]))}`;
  const main = code.slice(0, factory.params[0].start - 1) + loader + code.slice(factory.body.end);
  return main + "\n" + TRAILER + files.map((f, i) => JSON.stringify([prefix + i, f])).join("\n") + "\n*/\n";
}

/** The bundle without its trailer, and the cold files it carries. */
export function splitColdFiles(bundle: string): { main: string; files: { name: string; text: string }[] } {
  const at = bundle.lastIndexOf("\n" + TRAILER);
  if (at < 0) return { main: bundle, files: [] };
  const lines = bundle.slice(at + 1 + TRAILER.length).split("\n").filter((l) => l.startsWith("["));
  return {
    main: bundle.slice(0, at + 1),
    files: lines.map((l) => {
      const [name, text] = JSON.parse(l) as [string, string];
      return { name, text };
    }),
  };
}

function acornWalk(node: any, visit: (n: any) => void): void {
  if (node === null || typeof node !== "object") return;
  if (typeof node.type === "string") visit(node);
  for (const key of Object.keys(node)) {
    const v = node[key];
    if (Array.isArray(v)) for (const x of v) acornWalk(x, visit);
    else if (v !== null && typeof v === "object" && typeof v.type === "string") acornWalk(v, visit);
  }
}
