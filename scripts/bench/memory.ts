/**
 * npm run bench:memory: what an idle connection, a subscription and a
 * retained message cost, for our host-sim broker beside aedes (both Node: V8
 * heap plus ArrayBuffer memory, after forced GCs) and mosquitto (resident set
 * size from /proc: C has no heap statistics, so its figure includes allocator
 * slack). Each broker runs in its own process; the clients come from the load
 * generator's process, so their sockets are not counted.
 *
 *   npm run bench:memory [-- --json [FILE]] [--connections N] [--subs N] [--retained N]
 *                        [--board-timeout S] [--full]
 *
 * Steps, each measured after two forced GCs: baseline; N idle connections
 * (CONNECT only); then each subscribes to S filters (mem/<run>/<client>/<n>/+);
 * then R retained messages (64-byte payloads on distinct topics); then
 * everything closed (what is left is a leak or a cache).
 *
 * Extension points for the boards: runBoardFigures() runs each of
 * BOARD_SCRIPTS (firmware/espruino/tools/memory.ts, firmware/nodemcu/tools/memory.ts) that
 * exists, as its own process group with `--json` (and its quick arguments:
 * Espruino's `--quick` leaves out 1,000 QoS 1 and the hostile phase, which
 * `--full` or test:system run), bounded by --board-timeout seconds (default
 * 90), and
 * prints the last JSON object or array it wrote to stdout; formatFigures()
 * and MemoryFigures are the shape for more Node-side figures.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { BrokerHandle, startMosquitto, startNodeBroker } from "./run";
import { ROOT, Rpc, forkTs, grouped, machineInfo, machineLine, ratioText, table } from "./common";

/** One broker's (or board's) memory figures, in `unit`. */
export interface MemoryFigures {
  name: string;
  /** "bytes" (Node heap + ArrayBuffers, or RSS for mosquitto), "JsVars" (Espruino), "KB" (Lua). */
  unit: string;
  /** How the figures were taken, printed beside them. */
  method: string;
  baseline: number;
  perConnection: number;
  perSubscription: number;
  perRetained: number;
  /** Left over after every client closed, relative to the baseline. */
  afterClose: number;
}

export interface MemoryOptions {
  connections: number;
  subsPerConnection: number;
  retained: number;
}

export const DEFAULT_MEMORY_OPTIONS: MemoryOptions = { connections: 1000, subsPerConnection: 10, retained: 10000 };

interface Heap {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

/** Resident set size of a process in bytes, from /proc (Linux). */
function rssOf(pid: number): number {
  const status = readFileSync("/proc/" + pid + "/status", "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m !== null ? Number(m[1]) * 1024 : NaN;
}

/** Memory of a broker now: Node heap + external after forced GCs, or RSS for a native one. */
async function sample(b: BrokerHandle): Promise<number> {
  if (b.rpc !== undefined) {
    const h = await b.rpc.call<Heap>("heap");
    // ArrayBuffers are counted in `external`: heap objects plus every byte buffer behind them
    return h.heapUsed + h.external;
  }
  // a native broker: let it settle, then read its resident size
  await new Promise((r) => setTimeout(r, 300));
  return rssOf(b.pid);
}

/** Figures for one broker, driven by the load generator `lg`. */
export async function measureBroker(b: BrokerHandle, lg: Rpc, o: MemoryOptions): Promise<MemoryFigures> {
  const tag = "m" + b.name + process.pid;
  const base = await sample(b);
  await lg.call("open", { port: b.port, count: o.connections, tag, subs: 0 });
  const withConns = await sample(b);
  await lg.call("subscribe", { count: o.subsPerConnection, tag });
  const withSubs = await sample(b);
  await lg.call("retain", { port: b.port, count: o.retained, tag, payload: 64 });
  const withRetained = await sample(b);
  await lg.call("closeAll", {});
  await new Promise((r) => setTimeout(r, 300));
  const after = await sample(b);
  return {
    name: b.name,
    unit: "bytes",
    method: b.rpc !== undefined ? "V8 heap used + external, after forced GC" : "resident set size (/proc VmRSS)",
    baseline: base,
    perConnection: (withConns - base) / o.connections,
    perSubscription: (withSubs - withConns) / (o.connections * o.subsPerConnection),
    perRetained: (withRetained - withSubs) / o.retained,
    afterClose: after - base,
  };
}

export function formatFigures(list: MemoryFigures[]): string[] {
  const byName = (n: string) => list.find((f) => f.name === n);
  const ours = byName("ours");
  const rows = list.map((f) => [
    f.name + " (" + f.unit + ")", grouped(f.baseline), grouped(f.perConnection), grouped(f.perSubscription),
    grouped(f.perRetained), (f.afterClose >= 0 ? "+" : "") + grouped(f.afterClose),
  ]);
  const lines = table(["memory", "baseline", "per idle connection", "per subscription", "per retained msg", "after close (retained kept)"], rows);
  // ratios: how many times less ours uses (anchor / ours), like the speed ratios
  for (const anchor of ["aedes", "mosquitto"]) {
    const a = byName(anchor);
    if (ours === undefined || a === undefined) continue;
    lines.push("anchor/ours (" + anchor + "): connection " + ratioText(a.perConnection / ours.perConnection) +
      ", subscription " + ratioText(a.perSubscription / ours.perSubscription) +
      ", retained " + ratioText(a.perRetained / ours.perRetained) + " (higher: ours uses less)");
  }
  for (const f of list) lines.push(f.name + ": " + f.method);
  return lines;
}

// ---- the boards: figures that other scripts produce ----

export interface BoardScript {
  label: string;
  /** Relative to the repository root. */
  file: string;
  /** Printed when the file is not there. */
  absent: string;
  /** Passed after --json unless bench:memory runs with --full. */
  quickArgs?: string[];
}

export const BOARD_SCRIPTS: BoardScript[] = [
  { label: "Espruino", file: "firmware/espruino/tools/memory.ts", absent: "Espruino: see npm run bench:espruino", quickArgs: ["--quick"] },
  { label: "Lua", file: "firmware/nodemcu/tools/memory.ts", absent: "Lua: pending" },
];

/** Every process descended from `pid` (Linux /proc), deepest last. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync("/proc/" + name + "/stat", "utf8");
      parent.set(Number(name), Number(stat.substring(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch (_) {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) {
      if (pp === p) {
        out.push(c);
        walk(c);
      }
    }
  };
  walk(pid);
  return out;
}

/** The last JSON object or array a script printed (it may start on any line), or undefined. */
function lastJson(out: string): unknown {
  const lines = out.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const c = lines[i].charAt(0);
    if (c !== "{" && c !== "[") continue;
    try {
      return JSON.parse(lines.slice(i).join("\n"));
    } catch (_) {
      // not the start of it: keep looking upwards
    }
  }
  return undefined;
}

/** "key value, ..." for the numbers and short strings of one result (lists left out). */
function flatten(f: unknown): string {
  if (typeof f !== "object" || f === null) return String(f);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
    if (typeof v === "number") parts.push(k + " " + (Number.isInteger(v) ? v : v.toFixed(1)));
    else if (typeof v === "string" && v.length < 40) parts.push(k + " " + v);
    else if (typeof v === "object" && v !== null && !Array.isArray(v)) parts.push(k + " " + JSON.stringify(v));
  }
  return parts.join(", ");
}

/**
 * Run one board script as its own process group (it may start an emulator),
 * bounded by `timeoutMs`; its stdout's last JSON object is its figures.
 */
export function runBoardScript(s: BoardScript, timeoutMs: number, full = false): Promise<{ lines: string[]; figures: unknown }> {
  const file = path.join(ROOT, s.file);
  if (!existsSync(file)) return Promise.resolve({ lines: [s.absent], figures: undefined });
  return new Promise((resolve) => {
    const started = Date.now();
    // --json: the scripts print their figures as JSON with it (those that always do ignore it)
    const args = ["--import", "tsx", file, "--json"].concat(full || s.quickArgs === undefined ? [] : s.quickArgs);
    const child = spawn(process.execPath, args, {
      cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { err += d.toString(); });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // the script, its group, and whatever it started in groups of their own (an emulator)
      const pid = child.pid as number;
      for (const d of descendants(pid)) {
        try { process.kill(d, "SIGKILL"); } catch (_) { /* gone */ }
      }
      try { process.kill(-pid, "SIGKILL"); } catch (_) { /* gone */ }
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      const secs = ((Date.now() - started) / 1000).toFixed(0);
      if (timedOut) {
        resolve({ lines: [s.label + ": " + s.file + " did not finish in " + (timeoutMs / 1000) + " s (run it alone)"], figures: undefined });
        return;
      }
      const figures = lastJson(out);
      if (code !== 0 || figures === undefined) {
        // its last line of stderr that says something (a console dump may end in a prompt)
        const said = err.split("\n").filter((l) => /[a-z]{3}/i.test(l));
        const why = (said.length > 0 ? said[said.length - 1].trim() : "no figures on its stdout").substring(0, 160);
        resolve({ lines: [s.label + ": " + s.file + " failed after " + secs + " s (" + why + ")"], figures: undefined });
        return;
      }
      const list = Array.isArray(figures) ? figures : [figures];
      resolve({ lines: list.map((f) => s.label + " (" + s.file + ", " + secs + " s): " + flatten(f)), figures });
    });
  });
}

export async function runBoardFigures(timeoutMs: number, full = false): Promise<{ lines: string[]; figures: Record<string, unknown> }> {
  const lines: string[] = [];
  const figures: Record<string, unknown> = {};
  for (const s of BOARD_SCRIPTS) {
    const r = await runBoardScript(s, timeoutMs, full);
    lines.push(...r.lines);
    if (r.figures !== undefined) figures[s.label] = r.figures;
  }
  return { lines, figures };
}

// ---- main ----

export interface MemoryReport {
  machine: ReturnType<typeof machineInfo>;
  date: string;
  options: MemoryOptions;
  node: MemoryFigures[];
  boards: Record<string, unknown>;
  boardLines: string[];
  seconds: number;
}

export async function runMemory(o: MemoryOptions, boardTimeoutMs: number, full = false): Promise<MemoryReport> {
  const started = Date.now();
  const results: MemoryFigures[] = [];
  const lg = new Rpc(forkTs("loadgen.ts", []), "loadgen");
  try {
    await lg.whenReady();
    for (const name of ["ours", "aedes", "mosquitto"]) {
      const b = name === "mosquitto" ? await startMosquitto() : await startNodeBroker(name, ["--expose-gc"]);
      if (b === undefined) continue;
      try {
        results.push(await measureBroker(b, lg, o));
      } finally {
        await b.stop();
      }
    }
  } finally {
    await lg.stop();
  }
  const boards = await runBoardFigures(boardTimeoutMs, full);
  return {
    machine: machineInfo(), date: new Date().toISOString(), options: o, node: results,
    boards: boards.figures, boardLines: boards.lines, seconds: (Date.now() - started) / 1000,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o: MemoryOptions = { ...DEFAULT_MEMORY_OPTIONS };
  let json = false;
  let jsonFile: string | undefined;
  // the Espruino quick run takes about a minute under qemu
  let boardTimeoutMs = 90000;
  let full = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") {
      json = true;
      if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) jsonFile = argv[++i];
    } else if (a === "--connections") o.connections = Number(argv[++i]);
    else if (a === "--subs") o.subsPerConnection = Number(argv[++i]);
    else if (a === "--retained") o.retained = Number(argv[++i]);
    else if (a === "--board-timeout") boardTimeoutMs = Number(argv[++i]) * 1000;
    else if (a === "--full") {
      // the board scripts' whole runs (Espruino: QoS 1 and hostile phases too, a few minutes)
      full = true;
      boardTimeoutMs = Math.max(boardTimeoutMs, 600000);
    }
    else throw new Error("bench:memory: unknown option " + a);
  }
  const r = await runMemory(o, boardTimeoutMs, full);
  console.log(machineLine(r.machine));
  console.log(o.connections + " idle connections, " + o.connections * o.subsPerConnection + " subscriptions, " + o.retained + " retained messages of 64 bytes");
  for (const l of formatFigures(r.node)) console.log(l);
  for (const l of r.boardLines) console.log(l);
  console.log("bench:memory took " + r.seconds.toFixed(1) + " s");
  if (json) {
    const text = JSON.stringify(r, null, 2) + "\n";
    if (jsonFile !== undefined) writeFileSync(jsonFile, text);
    else process.stdout.write(text);
  }
  process.exit(0);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
