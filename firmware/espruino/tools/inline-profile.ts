/**
 * The board's limits written into its code. The core reads every limit from
 * the profile (`b.profile.maxInflight`), which on the desktop is an object
 * built from boards/*.json and mosquitto.conf. On the board that object
 * would cost about 40 JsVars for as long as it runs, and each read two
 * property lookups, on every packet. A board's limits are known when it is
 * flashed (its profile, with what the configuration overrides), so flash.ts
 * builds the bundle with them in place: each read of a profile field becomes
 * the field's value, and mqtt.json leaves them out.
 *
 * The build renames properties (espruino-mangle.ts), one short name per
 * property name across the bundle; no other object of the core has a field
 * named like a profile limit (test/unit/espruino-build.test.ts checks the
 * core), so every read of that name is a read of the profile. A write to one
 * is refused: a limit that changes at run time cannot be written in.
 */
import * as acorn from "acorn";

/** `code` with each read of a profile field (by its renamed name in `mangled`) replaced by `limits`' value. */
export function inlineProfile(code: string, limits: { [field: string]: number }, mangled: { [prop: string]: string | false }): string {
  const values = new Map<string, number>();
  for (const [field, value] of Object.entries(limits)) {
    const name = mangled[field] || field;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new Error(`inlineProfile: ${field} is ${JSON.stringify(value)}, not a limit`);
    }
    values.set(name, value);
  }
  const ast = acorn.parse(code, { ecmaVersion: 5 }) as any;
  const edits: { start: number; end: number; text: string }[] = [];
  const visit = (n: any, parent: any) => {
    if (n === null || typeof n !== "object") return;
    if (n.type === "MemberExpression" && !n.computed && values.has(n.property.name)) {
      const written = (parent.type === "AssignmentExpression" && parent.left === n) || parent.type === "UpdateExpression" ||
        (parent.type === "UnaryExpression" && parent.operator === "delete");
      if (written) throw new Error(`inlineProfile: the code writes the limit .${n.property.name} (${code.slice(n.start, n.end)})`);
      // the object may only be read for the field, never evaluated for effects: a name or a chain of names
      let o = n.object;
      while (o.type === "MemberExpression" && !o.computed) o = o.object;
      if (o.type !== "Identifier" && o.type !== "ThisExpression") {
        throw new Error(`inlineProfile: .${n.property.name} is read from an expression (${code.slice(n.start, n.end)})`);
      }
      const value = String(values.get(n.property.name));
      // `4.toString()` would not parse
      edits.push({ start: n.start, end: n.end, text: code[n.end] === "." ? "(" + value + ")" : value });
      return;
    }
    for (const k of Object.keys(n)) {
      const v = n[k];
      if (Array.isArray(v)) v.forEach((c) => c && typeof c.type === "string" && visit(c, n));
      else if (v && typeof v.type === "string") visit(v, n);
    }
  };
  visit(ast, { type: "Root" });
  edits.sort((a, b) => b.start - a.start);
  let out = code;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}
