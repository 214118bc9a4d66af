/**
 * Shared pieces of the benchmark suite (npm run bench, bench:codec,
 * bench:memory): the scenario table, the machine line, child processes and
 * the formatting of ratios. Every figure is printed beside an anchor measured
 * in the same run on the same machine; nothing here is a timed test.
 */
import { ChildProcess, execFileSync, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const ROOT = path.join(__dirname, "..", "..");
export const LOOPBACK = "127.0.0.1";

// ---- scenarios ----

export interface ScenarioSpec {
  /** Short key used in JSON and on the command line. */
  key: string;
  label: string;
  kind: "throughput" | "latency";
  qos: number;
  subscribers: number;
  /** Idle connections opened (and kept) before the traffic starts. */
  idle: number;
  /** Messages published and not yet delivered (QoS 1: and not yet acknowledged) at most. */
  window: number;
  /** Messages per write of the publisher. */
  batch: number;
  /** Fewest messages worth a write (QoS 1 refills the window in smaller steps). */
  minBatch: number;
  payload: number;
  warmupMs: number;
  measureMs: number;
}

/** The five scenarios of issue 6, each a few seconds long. */
export const SCENARIOS: ScenarioSpec[] = [
  {
    key: "qos0", label: "1->1 QoS 0, 64 B", kind: "throughput", qos: 0, subscribers: 1, idle: 0,
    window: 2000, batch: 200, minBatch: 200, payload: 64, warmupMs: 400, measureMs: 1600,
  },
  {
    key: "fanout", label: "1->10 fan-out QoS 0", kind: "throughput", qos: 0, subscribers: 10, idle: 0,
    window: 500, batch: 50, minBatch: 50, payload: 64, warmupMs: 400, measureMs: 1600,
  },
  {
    key: "qos1", label: "1->1 QoS 1, window 100", kind: "throughput", qos: 1, subscribers: 1, idle: 0,
    window: 100, batch: 100, minBatch: 10, payload: 64, warmupMs: 400, measureMs: 1600,
  },
  {
    key: "idle", label: "1,000 idle + 1->1 QoS 0", kind: "throughput", qos: 0, subscribers: 1, idle: 1000,
    window: 2000, batch: 200, minBatch: 200, payload: 64, warmupMs: 400, measureMs: 1600,
  },
  {
    key: "latency", label: "ping-pong latency", kind: "latency", qos: 0, subscribers: 1, idle: 0,
    window: 1, batch: 1, minBatch: 1, payload: 64, warmupMs: 300, measureMs: 1500,
  },
];

export interface ScenarioResult {
  /** Messages received by the subscribers while measuring. */
  delivered: number;
  seconds: number;
  /** Delivered messages per second (latency: round trips per second). */
  rate: number;
  /** Messages a broker never delivered (the window was reset after a stall). */
  lost: number;
  /** Ping-pong round trip, microseconds. */
  p50Us?: number;
  p99Us?: number;
  /** CPU used while measuring, in cores (1 = one core busy): the broker's (-1 unknown) and the load generator's. */
  brokerCpu?: number;
  loadgenCpu?: number;
}

// ---- the machine line ----

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  os: string;
  mosquitto: string;
  aedes: string;
  mqttPacket: string;
}

/** Version of a package in node_modules, or "absent". */
export function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")).version as string;
  } catch (_) {
    return "absent";
  }
}

/** Path of Debian's mosquitto, or undefined when it is not installed. */
export function mosquittoPath(): string | undefined {
  for (const p of ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/local/bin/mosquitto"]) {
    try {
      execFileSync(p, ["-h"], { stdio: "pipe", timeout: 3000 });
      return p;
    } catch (e) {
      // `mosquitto -h` exits 3 after printing its usage: it is there
      const err = e as { status?: number; stdout?: Buffer };
      if (err.status !== undefined && err.stdout !== undefined && /mosquitto version/.test(err.stdout.toString())) return p;
    }
  }
  return undefined;
}

export function mosquittoVersion(bin: string | undefined): string {
  if (bin === undefined) return "absent";
  let out = "";
  try {
    out = execFileSync(bin, ["-h"], { stdio: "pipe", timeout: 3000 }).toString();
  } catch (e) {
    const err = e as { stdout?: Buffer };
    out = err.stdout !== undefined ? err.stdout.toString() : "";
  }
  const m = /mosquitto version (\S+)/.exec(out);
  return m !== null ? m[1] : "unknown";
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus.length > 0 ? cpus[0].model.trim() : "unknown",
    cores: cpus.length,
    node: process.version,
    os: os.type() + " " + os.release(),
    mosquitto: mosquittoVersion(mosquittoPath()),
    aedes: packageVersion("aedes"),
    mqttPacket: packageVersion("mqtt-packet"),
  };
}

export function machineLine(m: MachineInfo): string {
  return "machine: " + m.cpu + ", " + m.cores + " cores, " + m.os + ", node " + m.node +
    ", mosquitto " + m.mosquitto + ", aedes " + m.aedes + ", mqtt-packet " + m.mqttPacket;
}

// ---- child processes ----

/** Fork a TypeScript file under tsx with an IPC channel. */
export function forkTs(file: string, args: string[], nodeFlags: string[] = []): ChildProcess {
  return fork(path.join(__dirname, file), args, {
    execArgv: ["--import", "tsx", ...nodeFlags],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

/** A request/answer channel over a child's IPC: one answer per request, matched by id. */
export class Rpc {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readyWaiters: ((msg: Record<string, unknown>) => void)[] = [];
  ready: Record<string, unknown> | undefined;

  constructor(public child: ChildProcess, public name: string) {
    child.on("message", (msg: Record<string, unknown>) => {
      if (msg.ready === true) {
        this.ready = msg;
        for (const w of this.readyWaiters) w(msg);
        this.readyWaiters = [];
        return;
      }
      const p = this.pending.get(msg.id as number);
      if (p === undefined) return;
      this.pending.delete(msg.id as number);
      if (msg.ok === true) p.resolve(msg.result);
      else p.reject(new Error(name + ": " + String(msg.error)));
    });
    child.on("exit", (code, signal) => {
      const err = new Error(name + " exited (" + (signal !== null ? signal : code) + ")");
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  /** The child's first message, { ready: true, ... }, bounded in time. */
  whenReady(ms = 15000): Promise<Record<string, unknown>> {
    if (this.ready !== undefined) return Promise.resolve(this.ready);
    const child = this.child;
    return withTimeout(new Promise((resolve, reject) => {
      this.readyWaiters.push(resolve);
      child.once("exit", (code) => reject(new Error(this.name + " exited (" + code + ") before it was ready")));
    }), this.name + " to start", ms);
  }

  call<T>(cmd: string, args: Record<string, unknown> = {}, ms = 60000): Promise<T> {
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.child.send({ id, cmd, ...args });
    return withTimeout(p, this.name + " " + cmd, ms);
  }

  /** End the child (SIGTERM, then SIGKILL if it lingers). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  }
}

/** Serve requests from the parent: `handlers[cmd](msg)`; answers carry the request id. */
export function serveRpc(handlers: Record<string, (msg: Record<string, unknown>) => Promise<unknown>>): void {
  process.on("message", (msg: Record<string, unknown>) => {
    const h = handlers[msg.cmd as string];
    const send = (m: unknown) => { if (process.send !== undefined) process.send(m); };
    if (h === undefined) {
      send({ id: msg.id, ok: false, error: "unknown command " + String(msg.cmd) });
      return;
    }
    h(msg).then(
      (result) => send({ id: msg.id, ok: true, result }),
      (e: Error) => send({ id: msg.id, ok: false, error: e && e.stack ? e.stack : String(e) }),
    );
  });
  // the parent went away: so do we
  process.on("disconnect", () => process.exit(0));
}

export function withTimeout<T>(p: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out after " + ms + " ms waiting for " + what)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, LOOPBACK, () => {
      const addr = s.address() as net.AddressInfo;
      s.close(() => resolve(addr.port));
    });
  });
}

/** Resolve once something accepts TCP connections on the port (bounded). */
export async function waitForPort(port: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (true) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, LOOPBACK);
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error("nothing listens on port " + port + " after " + ms + " ms");
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- plain-JS builds of our code ----

/**
 * Bundle TypeScript into one CommonJS file under .build/ with esbuild (as the
 * Espruino build does) and return its path. Inside a bundle, references across
 * modules are direct; under tsx each one goes through an export getter.
 * The file sits one level under the repository root, so paths built from
 * __dirname + "/.." (boards/) still resolve.
 */
export function bundleTs(entry: string, outName: string, external: string[] = []): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const esbuild = require("esbuild") as typeof import("esbuild");
  const outfile = path.join(ROOT, ".build", outName);
  esbuild.buildSync({
    entryPoints: [path.resolve(ROOT, entry)], bundle: true, platform: "node", format: "cjs", target: "node20",
    outfile, external, logLevel: "error",
  });
  return outfile;
}

// ---- formatting ----

/** 1234567 -> "1,234,567". */
export function grouped(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A ratio as "1.53x", or "-" when either side is missing. */
export function ratioText(r: number | undefined): string {
  return r === undefined || !isFinite(r) ? "-" : r.toFixed(2) + "x";
}

/** Lines of a text table with right-aligned columns after the first. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

/** Percentile of sorted values (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  let i = Math.ceil((p / 100) * sorted.length) - 1;
  if (i < 0) i = 0;
  if (i >= sorted.length) i = sorted.length - 1;
  return sorted[i];
}
