/**
 * The bundle's code at Espruino's global scope instead of inside esbuild's
 * IIFE. A function made inside another function keeps a link to that scope
 * (its hidden "\xFFsco" property): one JsVar per function, for as long as the
 * broker runs. Measured on the interpreter here: 100 functions at the top of
 * an IIFE left 653 JsVars in use, the same 100 at global scope 552. The
 * bundle's ~55 top-level functions are so ~55 JsVars of the idle budget.
 *
 * Its names become globals, so none may be one Espruino already has: the
 * pins (D0..D39 on an ESP32), E, and the rest of what the interpreter's
 * global object lists. The minifier keeps clear of the globals the bundle
 * uses (E, print, Date, ...), not of those it never names: checked here.
 */
import * as acorn from "acorn";

/** Names Espruino's global scope already holds, on the ESP32 and on the Linux build. */
export const ESPRUINO_GLOBALS = /^(?:[DA]\d+|E|quit|Object|Function|LED\d*|BTN\d*|Serial\d*|Pin|SPI\d*|I2C\d*|NaN|global|process)$/;

/** `code` (one IIFE, then maybe a trailing comment) with the IIFE's body at global scope. */
export function toGlobalScope(code: string): string {
  const ast = acorn.parse(code, { ecmaVersion: 5 }) as any;
  const body = ast.body.filter((s: any) => !(s.type === "ExpressionStatement" && s.directive !== undefined));
  const call = body.length === 1 && body[0].type === "ExpressionStatement" ? body[0].expression : undefined;
  const fn = call !== undefined && call.type === "CallExpression" ? call.callee : undefined;
  if (fn === undefined || fn.type !== "FunctionExpression" || fn.params.length !== 0 || call.arguments.length !== 0) {
    throw new Error("toGlobalScope: the bundle is not one IIFE without arguments");
  }
  const clashes: string[] = [];
  for (const s of fn.body.body) {
    const names = s.type === "FunctionDeclaration" ? [s.id.name]
      : s.type === "VariableDeclaration" ? s.declarations.map((d: any) => d.id.name) : [];
    for (const n of names) if (ESPRUINO_GLOBALS.test(n)) clashes.push(n);
  }
  // `this` at the top of the IIFE was undefined, at global scope it is the global object
  let usesThis = false;
  const visit = (n: any, inFunction: boolean) => {
    if (n === null || typeof n !== "object" || usesThis) return;
    if (n.type === "ThisExpression" && !inFunction) usesThis = true;
    for (const k of Object.keys(n)) {
      const v = n[k];
      const inner = inFunction || /Function/.test(n.type);
      if (Array.isArray(v)) v.forEach((c) => c && typeof c.type === "string" && visit(c, inner));
      else if (v && typeof v.type === "string") visit(v, inner);
    }
  };
  fn.body.body.forEach((s: any) => visit(s, false));
  if (clashes.length > 0) throw new Error(`toGlobalScope: names Espruino already has at global scope: ${clashes.join(", ")}`);
  if (usesThis) throw new Error("toGlobalScope: the IIFE's own body uses `this`");
  const prologue = code.slice(0, body[0].start);
  const inner = code.slice(fn.body.start + 1, fn.body.end - 1);
  return prologue + inner + code.slice(body[0].end);
}
