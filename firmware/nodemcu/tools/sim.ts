/**
 * `npm run sim:lua -- --port 1883 --lua lua5.1|lua5.3|luajit [--board NAME]
 *   [--config mosquitto.conf] [--dir FOLDER] [--max-conn N] [--verbose]`
 *
 * The NodeMCU build (dist/lua/broker.lua, broker53.lua on lua5.3) on the
 * desktop: a folder plays the board's flash (broker.lua, init.lua and
 * config.lua, as `npm run flash:nodemcu` would write them), and the
 * interpreter boots it through firmware/nodemcu/tools/nodemcu_shim.lua, NodeMCU's
 * modules on luasocket. --port 0 takes a free port (printed).
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BROKER_51, brokerFor, buildLua, INIT_LUA } from "./build";
import { loadProfile } from "../../../host-sim/config";
import { configLua } from "./config";
import { readFlags } from "../../tools/flags";

const ROOT = path.join(__dirname, "..", "..", "..");
export const SHIM = path.join(__dirname, "nodemcu_shim.lua");

/** Interpreters the shim runs on, with the Debian package for each. */
export const INTERPRETERS: { [cmd: string]: string } = { "lua5.1": "lua5.1", "lua5.3": "lua5.3", luajit: "luajit" };

/** A missing interpreter or lua-socket is an error naming the Debian package to install. */
export function checkLua(lua: string): void {
  const pkg = INTERPRETERS[lua];
  if (pkg === undefined) throw new Error(`--lua must be one of ${Object.keys(INTERPRETERS).join(", ")}, got "${lua}"`);
  if (spawnSync("sh", ["-c", `command -v ${lua}`]).status !== 0) {
    throw new Error(`${lua} not found: install Debian's ${pkg} (apt-get install -y ${pkg})`);
  }
  const r = spawnSync(lua, ["-e", 'require("socket")'], { encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`luasocket is missing for ${lua}: install Debian's lua-socket (apt-get install -y lua-socket)\n${r.stderr}`);
  }
}

/** Build dist/lua when it is missing or older than the TypeScript it comes from. */
export function ensureLuaBuild(): void {
  const newest = (dir: string): number => {
    let t = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
    }
    return t;
  };
  const built = fs.existsSync(BROKER_51) ? fs.statSync(BROKER_51).mtimeMs : 0;
  if (built === 0 || newest(path.join(ROOT, "firmware")) > built) buildLua({ quiet: true });
}

/**
 * The net module's connection limit for a board: lwIP's 5 TCP connections on
 * an ESP8266; elsewhere one more than the profile's clients (so the broker,
 * not the network stack, refuses the next client with CONNACK 3).
 */
export function connectionLimit(board: string): number {
  if (/esp8266/.test(board)) return 5;
  return Math.max(5, loadProfile(board).maxClients + 1);
}

export interface LuaBrokerOptions {
  lua: string;
  /** 0 (default): a free port. */
  port?: number;
  board?: string;
  config?: string;
  /** The folder playing the flash; a new temporary one by default. Its config.lua is rewritten. */
  dir?: string;
  /** Keep the folder's own broker.lua, init.lua and config.lua (a folder `flash:nodemcu` wrote). */
  asFlashed?: boolean;
  /** The net module's connection limit (default: connectionLimit(board)). */
  maxConnections?: number;
  verbose?: boolean;
  /** Every line the process prints, as it comes. */
  onLine?: (line: string) => void;
}

export interface LuaBroker {
  port: number;
  dir: string;
  proc: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Lay out the flash folder and boot the Lua broker in it; resolves once it listens. */
export async function startLuaBroker(opts: LuaBrokerOptions): Promise<LuaBroker> {
  checkLua(opts.lua);
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "nodemcu-flash-"));
  if (!opts.asFlashed) {
    ensureLuaBuild();
    fs.copyFileSync(brokerFor(opts.lua), path.join(dir, "broker.lua"));
    fs.copyFileSync(INIT_LUA, path.join(dir, "init.lua"));
    fs.writeFileSync(path.join(dir, "config.lua"), configLua({
      board: opts.board ?? "nodemcu-esp8266", config: opts.config, port: opts.port ?? 0, verbose: opts.verbose,
    }));
  }
  const args = [SHIM, "--boot-delay", "1", "--max-conn", String(opts.maxConnections ?? connectionLimit(opts.board ?? "nodemcu-esp8266"))];
  const proc = spawn(opts.lua, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let pending = "";
  let port = -1;
  const onData = (d: Buffer) => {
    const text = d.toString("latin1");
    out += text;
    if (out.length > 400000) out = out.slice(-200000);
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const l of lines) {
      const m = /^nodemcu-shim: listening on [^:]+:(\d+)/.exec(l);
      if (m && port < 0) port = Number(m[1]);
      if (opts.onLine) opts.onLine(l);
    }
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const deadline = Date.now() + 15000;
  while (port < 0) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${opts.lua} exited before listening:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`the Lua broker did not listen within 15 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port,
    dir,
    proc,
    log: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        await exited;
      }
    },
  };
}

const USAGE = "npm run sim:lua -- [--port 1883] [--lua lua5.1|lua5.3|luajit] [--board nodemcu-esp8266] [--config FILE] [--dir FOLDER] [--max-conn 5] [--verbose]";

function parseArgs(argv: string[]): LuaBrokerOptions {
  const o: LuaBrokerOptions = { lua: "lua5.1", port: 1883 };
  readFlags(argv, USAGE, (a, v) => {
    if (a === "--port") o.port = Number(v());
    else if (a === "--lua") o.lua = v();
    else if (a === "--board") o.board = v();
    else if (a === "--config") o.config = path.resolve(v());
    else if (a === "--dir") o.dir = path.resolve(v());
    else if (a === "--max-conn") o.maxConnections = Number(v());
    else if (a === "--verbose" || a === "-v") o.verbose = true;
    else return false;
    return true;
  });
  if (!Number.isInteger(o.port) || o.port! < 0 || o.port! > 65535) throw new Error("--port takes 0..65535");
  return o;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.dir !== undefined) fs.mkdirSync(opts.dir, { recursive: true });
  const b = await startLuaBroker({ ...opts, onLine: (l) => console.log(l) });
  console.log(`NodeMCU broker on ${opts.lua}: mqtt://127.0.0.1:${b.port} (flash folder ${b.dir}); Ctrl-C stops it`);
  // a temporary flash folder goes with the broker; one given with --dir stays
  const tidy = () => {
    if (opts.dir === undefined) fs.rmSync(b.dir, { recursive: true, force: true });
  };
  const stop = () => void b.stop().then(() => {
    tidy();
    process.exit(0);
  });
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  b.proc.once("exit", (code) => {
    tidy();
    process.exit(code ?? 1);
  });
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
