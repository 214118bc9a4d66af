/**
 * Property names cost JsVars on Espruino: a name of 4 characters or fewer
 * holding a small value packs into one JsVar, a longer one takes more. The
 * minifier shortens variables but not properties, so the build renames the
 * core's own property names (fields and methods of its classes and
 * interfaces) to short ones with esbuild's mangleProps. Names that Espruino's
 * built-ins also use (socket.write, Storage.read, Uint8Array.set, ...) are
 * never renamed. The configuration written to the board (mqtt.json) uses the
 * same renaming, from the mangle cache the build writes beside the bundle.
 */
import * as ts from "typescript";
import { boardSources } from "./cold-roots";

/** Names used on Espruino's own objects, or as keys of objects handed to them: never renamed. */
const EXTERNAL = [
  "read", "write", "erase", "readJSON", "list", "getFree", "on", "end", "listen", "createServer", "memory",
  "usage", "free", "total", "SHA256", "connect", "getIP", "ip", "setHostname", "startAP", "password",
  "authMode", "host", "port", "removeAllListeners", "env", "VERSION", "BOARD", "require", "running", "start", "selftest", "mqtt",
];

function builtinNames(): Set<string> {
  const names = new Set<string>(EXTERNAL);
  const objs: unknown[] = [Object, Function, Array, String, Number, Boolean, Math, JSON, Date, Uint8Array, Error, RegExp,
    Object.prototype, Function.prototype, Array.prototype, String.prototype, Number.prototype, Date.prototype,
    Uint8Array.prototype, Object.getPrototypeOf(Uint8Array.prototype), Error.prototype, Promise, Promise.prototype];
  for (const o of objs) for (const n of Object.getOwnPropertyNames(o)) names.add(n);
  for (const n of ["length", "prototype", "constructor", "name", "message", "stack", "default", "exports", "__proto__"]) names.add(n);
  return names;
}

/** Every member name declared by classes, interfaces and object types in the board's code (the core and this adapter). */
export function coreMemberNames(root: string): string[] {
  const declared = new Set<string>();
  for (const f of boardSources(root)) {
    const sf = ts.createSourceFile(f.name, f.text, ts.ScriptTarget.ES5, true);
    const visit = (n: ts.Node) => {
      if ((ts.isPropertyDeclaration(n) || ts.isMethodDeclaration(n) || ts.isPropertySignature(n) ||
        ts.isMethodSignature(n) || ts.isGetAccessorDeclaration(n) || ts.isSetAccessorDeclaration(n)) &&
        n.name !== undefined && ts.isIdentifier(n.name)) {
        declared.add(n.name.text);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  const reserved = builtinNames();
  return [...declared].filter((n) => !reserved.has(n)).sort();
}

export function mangleRegExp(root: string): RegExp {
  return new RegExp(`^(${coreMemberNames(root).join("|")})$`);
}

/** Keys whose values are maps keyed by data (user names): those keys are kept, their values renamed. */
const MAP_FIELDS = ["passwords", "users"];

/** Rename an object's keys as the build renamed the properties (the config written to the board). */
export function renameKeys(value: unknown, cache: { [name: string]: string | false }, isMap = false): unknown {
  if (Array.isArray(value)) return value.map((v) => renameKeys(v, cache));
  if (value === null || typeof value !== "object") return value;
  const out: { [k: string]: unknown } = {};
  for (const [k, v] of Object.entries(value as object)) {
    const renamed = isMap ? k : (typeof cache[k] === "string" ? (cache[k] as string) : k);
    out[renamed] = renameKeys(v, cache, !isMap && MAP_FIELDS.indexOf(k) >= 0);
  }
  return out;
}
