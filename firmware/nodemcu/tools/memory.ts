/**
 * `npx tsx firmware/nodemcu/tools/memory.ts [--lua wasm5.1,wasm5.3,lua5.1,lua5.3,luajit] [--board nodemcu-esp8266] [--json]`
 * (also what `npm run bench:memory` can call for the NodeMCU build)
 *
 * The NodeMCU broker's Lua heap, collectgarbage("count") after a full
 * collection: idle, with 5 clients x 4 subscriptions + 8 retained messages,
 * and across 10,000 messages (firmware/nodemcu/tools/memory.lua on NodeMCU's simulated
 * modules). The broker's figures exclude its code, which a board keeps in
 * the Lua Flash Store. The WebAssembly interpreters (wasm5.1, wasm5.3) are
 * 32-bit builds like the ESP8266 and ESP32; Debian's are 64-bit, so their
 * pointers and tables are larger. Goal: under 24 KB idle, under 32 KB loaded.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { brokerFor } from "./build";
import { configLua } from "./config";
import { ensureLuaBuild } from "./sim";

const ROOT = path.join(__dirname, "..", "..", "..");
export const MEMORY_LUA = path.join(__dirname, "memory.lua");
const VM_LUA = path.join(__dirname, "nodemcu_vm.lua");

export const GOAL_IDLE_KB = 24;
export const GOAL_LOADED_KB = 32;

export interface MemoryReport {
  interpreter: string;
  lua: string;
  codeKb: number;
  idleKb: number;
  loadedKb: number;
  after10000Kb: number;
  samplesKb: number[];
  growthKb: number;
  delivered: number;
  clients: number;
  retained: number;
  subscriptions: number;
}

function parse(interpreter: string, text: string): MemoryReport {
  const kv: { [k: string]: string } = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv[line.slice(0, i)] = line.slice(i + 1);
  }
  const num = (k: string) => {
    if (kv[k] === undefined) throw new Error(`memory.lua printed no ${k}:\n${text}`);
    return Number(kv[k]);
  };
  return {
    interpreter,
    lua: kv.lua,
    codeKb: num("code_kb"),
    idleKb: num("idle_kb"),
    loadedKb: num("loaded_kb"),
    after10000Kb: num("after_10000_kb"),
    samplesKb: kv.samples_kb.split(",").map(Number),
    growthKb: num("growth_kb"),
    delivered: num("delivered"),
    clients: num("clients"),
    retained: num("retained"),
    subscriptions: num("subscriptions"),
  };
}

function configText(board: string): string {
  return configLua({ board, port: 1883 });
}

/** In the reference interpreter compiled to WebAssembly (32-bit, like the boards). */
export function measureWasm(version: "5.1" | "5.3", board = "nodemcu-esp8266"): MemoryReport {
  // imported here: the test helper pulls in the WebAssembly bindings only when asked
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { LuaVm, NODEMCU_MODULES } = require("./lua-vm") as typeof import("./lua-vm");
  const vm = new LuaVm(version);
  try {
    vm.load("NODEMCU_MODULES", NODEMCU_MODULES);
    vm.load("VM", VM_LUA);
    vm.run(`MEMORY_CONFIG = (function() ${configText(board).replace(/^--.*\n/, "")} end)()`);
    // the bundle is loaded by memory.lua's caller; measure it the same way as standalone
    vm.run(`collectgarbage("collect"); collectgarbage("collect"); MEMORY_BEFORE = collectgarbage("count")`);
    vm.load("MQTT", brokerFor(version));
    const text = vm.run(`return (function(...)\n${fs.readFileSync(MEMORY_LUA, "utf8")}\nend)()`, "memory.lua");
    // memory.lua measured code as 0 (MQTT was already there): measure it here
    const codeKb = Number(vm.run(`collectgarbage("collect"); collectgarbage("collect"); return collectgarbage("count") - MEMORY_BEFORE`));
    const r = parse(`wasm${version}`, text);
    r.codeKb = Math.round(codeKb * 10) / 10;
    return r;
  } finally {
    vm.close();
  }
}

/** In a Debian interpreter (lua5.1, lua5.3, luajit: 64-bit builds). */
export function measureNative(lua: string, board = "nodemcu-esp8266"): MemoryReport {
  ensureLuaBuild();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lua-memory-"));
  try {
    const cfg = path.join(dir, "config.lua");
    fs.writeFileSync(cfg, configText(board));
    // LuaJIT counts its compiled traces in collectgarbage("count"): measured with the JIT off
    const jitOff = lua === "luajit" ? ["-joff"] : [];
    const r = spawnSync(lua, [...jitOff, MEMORY_LUA, brokerFor(lua), VM_LUA, cfg], { encoding: "utf8", cwd: dir });
    if (r.error) throw new Error(`${lua}: ${r.error.message} (install Debian's ${lua})`);
    if (r.status !== 0) throw new Error(`${lua} memory.lua failed:\n${r.stderr}`);
    return parse(lua, r.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function measure(interpreter: string, board = "nodemcu-esp8266"): MemoryReport {
  if (interpreter === "wasm5.1") return measureWasm("5.1", board);
  if (interpreter === "wasm5.3") return measureWasm("5.3", board);
  return measureNative(interpreter, board);
}

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let list = ["wasm5.1", "wasm5.3", "lua5.1", "lua5.3", "luajit"];
  let board = "nodemcu-esp8266";
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--lua") list = argv[++i].split(",");
    else if (argv[i] === "--board") board = argv[++i];
    else if (argv[i] === "--json") json = true;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  ensureLuaBuild();
  const reports: MemoryReport[] = [];
  for (const l of list) {
    if (!l.startsWith("wasm") && !have(l)) {
      console.error(`${l}: not installed (Debian's ${l}), skipped`);
      continue;
    }
    reports.push(measure(l, board));
  }
  if (json) {
    console.log(JSON.stringify(reports, null, 1));
    return;
  }
  console.log(`NodeMCU broker heap, board profile ${board} (KB, collectgarbage("count") after a full collection; code excluded)`);
  console.log("interpreter  code   idle  loaded  after 10k  growth  delivered");
  for (const r of reports) {
    const pad = (v: number | string, n: number) => String(v).padStart(n);
    console.log(`${r.interpreter.padEnd(11)} ${pad(r.codeKb.toFixed(1), 5)} ${pad(r.idleKb.toFixed(1), 6)} ${pad(r.loadedKb.toFixed(1), 7)} ` +
      `${pad(r.after10000Kb.toFixed(1), 10)} ${pad(r.growthKb.toFixed(1), 7)} ${pad(r.delivered, 10)}`);
  }
  console.log(`goal: idle < ${GOAL_IDLE_KB} KB, loaded < ${GOAL_LOADED_KB} KB, no growth over 10,000 messages`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
