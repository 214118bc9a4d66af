/**
 * `npm run build:lua`: the core plus the NodeMCU adapter as one Lua file per
 * Lua version, with TypeScriptToLua (tsconfig.lua.json):
 * - dist/lua/broker.lua   Lua 5.1 (NodeMCU on the ESP8266; LuaJIT runs it too)
 * - dist/lua/broker53.lua Lua 5.3 (NodeMCU on the ESP32; the 5.1 file lacks
 *   nothing there, but 5.3 has `goto` for `continue`, which is smaller)
 * - dist/lua/init.lua     what NodeMCU runs at boot (firmware/nodemcu/init.lua)
 * - .build/lua/vectors51.lua, vectors53.lua: the differential harness
 *   (test/lua/vectors.ts) for test/unit/lua-wasm.test.ts
 * and checks that every file of the core (firmware/, Espruino's adapter
 * aside) translates for both versions: the files neither bundle imports are
 * translated on their own. Any TypeScript or TypeScriptToLua
 * diagnostic (a bitwise operator on 5.1, an unsupported built-in...) fails
 * the build.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import * as tstl from "typescript-to-lua";

const ROOT = path.join(__dirname, "..", "..", "..");
const CONFIG = path.join(ROOT, "tsconfig.lua.json");
export const LUA_DIST = path.join(ROOT, "dist", "lua");
export const LUA_BUILD = path.join(ROOT, ".build", "lua");
export const BROKER_51 = path.join(LUA_DIST, "broker.lua");
export const BROKER_53 = path.join(LUA_DIST, "broker53.lua");
export const INIT_LUA = path.join(LUA_DIST, "init.lua");
export const VECTORS_51 = path.join(LUA_BUILD, "vectors51.lua");
export const VECTORS_53 = path.join(LUA_BUILD, "vectors53.lua");

export type LuaVersion = "5.1" | "5.3";

/** The bundle a given interpreter runs: broker53.lua on 5.3, broker.lua on 5.1 and LuaJIT. */
export function brokerFor(lua: string): string {
  return /5\.3|53/.test(lua) ? BROKER_53 : BROKER_51;
}

function baseOptions(): tstl.CompilerOptions {
  const parsed = tstl.parseConfigFileWithSystem(CONFIG);
  if (parsed.errors.length > 0) throw new Error(formatDiagnostics(parsed.errors));
  return parsed.options;
}

function formatDiagnostics(list: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(list, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => "\n",
  });
}

/**
 * Strip what only costs space on a board: indentation and empty lines
 * (TypeScriptToLua emits no long strings or comments with removeComments, so
 * no line's leading blanks are data). Checked: a `[[` would stop the build.
 */
function compact(code: string): string {
  if (code.includes("[[") || code.includes("--[")) throw new Error("bundle holds a Lua long string or comment: compact() cannot strip it safely");
  return code
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join("\n") + "\n";
}

/** Transpile `entry` (and what it imports) into one bundle; throws with every diagnostic. */
export function bundle(entry: string, target: LuaVersion, extra: tstl.CompilerOptions = {}): string {
  const options: tstl.CompilerOptions = {
    ...baseOptions(),
    ...extra,
    luaTarget: target === "5.1" ? tstl.LuaTarget.Lua51 : tstl.LuaTarget.Lua53,
    luaBundle: "bundle.lua",
    luaBundleEntry: entry,
    configFilePath: CONFIG,
  };
  let out: string | undefined;
  const result = tstl.transpileFiles([entry], options, (name, text) => {
    if (path.basename(name) === "bundle.lua") out = text;
  });
  if (result.diagnostics.length > 0) {
    throw new Error(`TypeScriptToLua (Lua ${target}, ${path.relative(ROOT, entry)}):\n${formatDiagnostics(result.diagnostics)}`);
  }
  if (out === undefined) throw new Error(`TypeScriptToLua wrote no bundle for ${path.relative(ROOT, entry)}`);
  return out;
}

function coreFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      if (fs.statSync(p).isDirectory()) {
        if (name !== "espruino" && name !== "tools") walk(p);
      } else if (name.endsWith(".ts")) out.push(p);
    }
  };
  walk(path.join(ROOT, "firmware"));
  return out;
}

/** The bundle's module name for a source file ("firmware.codec.decode"). */
function moduleName(file: string): string {
  return path.relative(ROOT, file).replace(/\.ts$/, "").split(path.sep).join(".");
}

/** Core files that are in none of the bundles (so not translated yet). */
function uncovered(bundles: string[]): string[] {
  return coreFiles().filter((f) => !bundles.some((b) => b.includes(`["${moduleName(f)}"] = function`)));
}

/** Core files through TypeScriptToLua for `target`, output discarded: diagnostics only. */
export function checkCore(target: LuaVersion, files: string[] = coreFiles()): number {
  const options: tstl.CompilerOptions = {
    ...baseOptions(),
    luaTarget: target === "5.1" ? tstl.LuaTarget.Lua51 : tstl.LuaTarget.Lua53,
    luaBundle: undefined,
    luaBundleEntry: undefined,
    configFilePath: CONFIG,
  };
  const result = tstl.transpileFiles(files, options, () => {});
  if (result.diagnostics.length > 0) {
    throw new Error(`TypeScriptToLua (Lua ${target}, the core):\n${formatDiagnostics(result.diagnostics)}`);
  }
  return files.length;
}

function header(target: LuaVersion): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  return `-- ${pkg.name} ${pkg.version} for NodeMCU, Lua ${target}: built by npm run build:lua from firmware/ (do not edit)\n`;
}

export interface LuaBuild {
  files: { name: string; bytes: number }[];
  coreFiles: number;
}

export function buildLua(opts: { quiet?: boolean } = {}): LuaBuild {
  fs.mkdirSync(LUA_DIST, { recursive: true });
  fs.mkdirSync(LUA_BUILD, { recursive: true });
  const main = path.join(ROOT, "firmware", "nodemcu", "main.ts");
  const vectors = path.join(ROOT, "test", "lua", "vectors.ts");
  const written: { name: string; bytes: number }[] = [];
  const put = (file: string, text: string) => {
    fs.writeFileSync(file, text);
    written.push({ name: path.relative(ROOT, file), bytes: Buffer.byteLength(text) });
  };
  let n = coreFiles().length;
  for (const target of ["5.1", "5.3"] as const) {
    const broker = bundle(main, target);
    const harness = bundle(vectors, target);
    // the two bundles hold nearly the whole core; whatever neither imports is translated on its own
    const rest = uncovered([broker, harness]);
    if (rest.length > 0) checkCore(target, rest);
    put(target === "5.1" ? BROKER_51 : BROKER_53, header(target) + compact(broker));
    put(target === "5.1" ? VECTORS_51 : VECTORS_53, compact(harness));
  }
  put(INIT_LUA, fs.readFileSync(path.join(__dirname, "..", "init.lua"), "utf8"));
  if (!opts.quiet) {
    for (const f of written) console.log(`${f.name}: ${f.bytes} bytes`);
    console.log(`core: ${n} files translate for Lua 5.1 and 5.3 without a diagnostic`);
  }
  return { files: written, coreFiles: n };
}

if (require.main === module) {
  try {
    buildLua();
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
