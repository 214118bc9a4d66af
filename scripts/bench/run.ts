/**
 * npm run bench: our host-sim broker beside aedes and Debian's mosquitto, in
 * one run on this machine, as ratios. Each broker runs in its own process on
 * its own loopback port; one load generator (loadgen.ts, its own process)
 * drives each in turn with the same pre-encoded packets. Scenarios alternate
 * between brokers and the best of the rounds is kept for each, so a burst of
 * noise on a shared machine hits one figure, not one broker.
 *
 *   npm run bench [-- --json [FILE]] [--rounds N] [--only qos0,fanout,qos1,idle,latency]
 *                 [--brokers ours,aedes,mosquitto] [--tsx] [--profile DIR] [--pin]
 *
 * --json     also write the results as JSON (to FILE, or to stdout after the table)
 * --tsx      one more column: our broker loaded through tsx instead of from the
 *            esbuild bundle that `npm start` runs (what tsx's export getters cost)
 * --profile  run our broker under `node --cpu-prof`, profiles written to DIR
 *            (summarise them with: npx tsx scripts/bench/profile.ts DIR)
 * --pin      pin each broker to CPU 0 and the load generator to CPU 1 (taskset)
 */
import { ChildProcess, fork, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  LOOPBACK, MachineInfo, Rpc, SCENARIOS, ScenarioResult, ScenarioSpec, bundleTs, forkTs, freePort, grouped,
  machineInfo, machineLine, mosquittoPath, ratioText, sleep, table, waitForPort,
} from "./common";

export const BROKERS = ["ours", "aedes", "mosquitto"];
/** The whole run gives up after this long (every step is bounded too). */
const RUN_LIMIT_MS = 170000;

interface Options {
  json: boolean;
  jsonFile: string | undefined;
  rounds: number;
  only: string[];
  brokers: string[];
  tsx: boolean;
  profileDir: string | undefined;
  pin: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    json: false, jsonFile: undefined, rounds: 2, only: SCENARIOS.map((s) => s.key), brokers: BROKERS.slice(),
    tsx: false, profileDir: undefined, pin: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") {
      o.json = true;
      if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) o.jsonFile = argv[++i];
    } else if (a === "--rounds") {
      o.rounds = Math.max(1, Number(argv[++i]) | 0);
    } else if (a === "--only") {
      o.only = argv[++i].split(",");
    } else if (a === "--brokers") {
      o.brokers = argv[++i].split(",");
    } else if (a === "--tsx") {
      o.tsx = true;
    } else if (a === "--profile") {
      o.profileDir = path.resolve(argv[++i]);
    } else if (a === "--pin") {
      o.pin = true;
    } else {
      throw new Error("bench: unknown option " + a);
    }
  }
  return o;
}

/** A broker under test: its port and how to stop it. */
export interface BrokerHandle {
  name: string;
  port: number;
  pid: number;
  rpc: Rpc | undefined;
  stop(): Promise<void>;
}

/**
 * Our broker, aedes or the echo floor in a child process (broker.ts). Ours
 * runs from an esbuild bundle, as `npm start` runs it (bin/esp-mqtt-broker.js);
 * "ours-tsx" is the same broker loaded through tsx.
 */
export async function startNodeBroker(name: string, nodeFlags: string[] = []): Promise<BrokerHandle> {
  const port = await freePort();
  let child: ChildProcess;
  if (name === "ours") {
    const file = bundleTs("scripts/bench/broker.ts", "bench-broker.js", ["aedes"]);
    child = fork(file, ["ours", String(port)], { execArgv: nodeFlags, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  } else if (name === "ours-tsx") {
    child = forkTs("broker.ts", ["ours", String(port)], nodeFlags);
  } else {
    child = forkTs("broker.ts", [name, String(port)], nodeFlags);
  }
  const rpc = new Rpc(child, name);
  await rpc.whenReady();
  return { name, port, pid: child.pid as number, rpc, stop: () => rpc.stop() };
}

/**
 * Debian's mosquitto with a minimal config (one loopback listener, anonymous,
 * 100 messages in flight per client like ours here), or undefined when absent.
 */
export async function startMosquitto(): Promise<BrokerHandle | undefined> {
  const bin = mosquittoPath();
  if (bin === undefined) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-mosquitto-"));
  const conf = path.join(dir, "mosquitto.conf");
  writeFileSync(conf, "listener " + port + " " + LOOPBACK + "\nallow_anonymous true\nmax_inflight_messages 100\npersistence false\nlog_dest none\n");
  const child: ChildProcess = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "inherit"] });
  // never left running behind us, even when the run gives up
  process.once("exit", () => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); });
  try {
    await waitForPort(port);
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    name: "mosquitto", port, pid: child.pid as number, rpc: undefined,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 2000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Pin a process (all its threads) to one CPU; false when taskset is missing or refused. */
function pin(pid: number, cpu: number): boolean {
  const r = spawnSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
  return r.status === 0;
}

type Cell = ScenarioResult | "absent";

export interface BenchReport {
  machine: MachineInfo;
  date: string;
  rounds: number;
  pinned: boolean;
  /** Broker columns, in order. */
  brokers: string[];
  /**
   * results[scenario][broker]: the best of the rounds (highest rate; for
   * latency the lowest p50 and the lowest p99, each over the rounds).
   */
  results: { [scenario: string]: { [broker: string]: Cell } };
  /** The echo floor of the latency scenario (a Node server doing no MQTT work). */
  floor: ScenarioResult | undefined;
  ratios: { [scenario: string]: { oursOverAedes?: number; oursOverMosquitto?: number } };
  goals: { what: string; ratio: number | undefined; goal: number; met: boolean }[];
  seconds: number;
}

/** Keep the better of two rounds: throughput by rate, latency p50 and p99 each by its minimum. */
function merge(spec: ScenarioSpec, a: ScenarioResult, b: ScenarioResult | undefined): ScenarioResult {
  if (b === undefined) return a;
  if (spec.kind === "latency") {
    const best = (a.p50Us as number) <= (b.p50Us as number) ? a : b;
    return { ...best, p99Us: Math.min(a.p99Us as number, b.p99Us as number) };
  }
  return a.rate >= b.rate ? a : b;
}

/**
 * How many times better ours is than an anchor: throughput ours/anchor,
 * latency anchor/ours (p50), so above 1 is always "ours is better".
 */
function ratio(spec: ScenarioSpec, ours: Cell | undefined, other: Cell | undefined): number | undefined {
  if (ours === undefined || other === undefined || ours === "absent" || other === "absent") return undefined;
  if (spec.kind === "latency") return (other.p50Us as number) / (ours.p50Us as number);
  return ours.rate / other.rate;
}

export function formatReport(r: BenchReport): string[] {
  const lines: string[] = [machineLine(r.machine)];
  const cols = r.brokers;
  const header = ["scenario", ...cols, "ours/aedes", "ours/mosquitto"];
  const rows: string[][] = [];
  const cell = (v: Cell | undefined, f: (x: ScenarioResult) => string): string =>
    v === undefined ? "-" : v === "absent" ? "absent" : f(v);
  for (const spec of SCENARIOS) {
    const res = r.results[spec.key];
    if (res === undefined) continue;
    const rt = r.ratios[spec.key];
    if (spec.kind === "throughput") {
      const f = (x: ScenarioResult) => grouped(x.rate) + (x.lost > 0 ? " (" + grouped(x.lost) + " lost)" : "");
      rows.push([spec.label + " (msg/s)", ...cols.map((c) => cell(res[c], f)),
        ratioText(rt.oursOverAedes), ratioText(rt.oursOverMosquitto)]);
    } else {
      const p50 = (x: ScenarioResult) => (x.p50Us as number).toFixed(0);
      const p99 = (x: ScenarioResult) => (x.p99Us as number).toFixed(0);
      const ratio99 = (a: Cell | undefined) => {
        const o = res.ours;
        return a === undefined || a === "absent" || o === undefined || o === "absent" ? undefined : (a.p99Us as number) / (o.p99Us as number);
      };
      rows.push([spec.label + " p50 (us)", ...cols.map((c) => cell(res[c], p50)),
        ratioText(rt.oursOverAedes), ratioText(rt.oursOverMosquitto)]);
      rows.push([spec.label + " p99 (us)", ...cols.map((c) => cell(res[c], p99)),
        ratioText(ratio99(res.aedes)), ratioText(ratio99(res.mosquitto))]);
    }
  }
  lines.push(...table(header, rows));
  lines.push("ratio = how many times better ours is: msg/s ours/anchor; latency anchor/ours. Best of " + r.rounds +
    " rounds, brokers alternating" + (r.pinned ? ", brokers pinned to CPU 0 and the load generator to CPU 1" : "") + ".");
  if (r.floor !== undefined) {
    const a = r.results.latency !== undefined ? r.results.latency.aedes : undefined;
    const most = a !== undefined && a !== "absent" ? (a.p50Us as number) / (r.floor.p50Us as number) : undefined;
    lines.push("latency floor: a Node server that only frames packets and writes each PUBLISH back (no MQTT work): p50 " +
      (r.floor.p50Us as number).toFixed(0) + " us, p99 " + (r.floor.p99Us as number).toFixed(0) +
      " us; the best ours/aedes any Node broker could show with this client: " + ratioText(most));
  }
  // who was busy: a broker near 1.00 core is the limit; a load generator near 1.00 caps what can be seen
  const cpuRows: string[][] = [];
  const cpuCell = (v: Cell | undefined): string =>
    v === undefined || v === "absent" || v.brokerCpu === undefined ? "-"
      : (v.brokerCpu < 0 ? "?" : v.brokerCpu.toFixed(2)) + " / " + (v.loadgenCpu as number).toFixed(2);
  for (const spec of SCENARIOS) {
    const res = r.results[spec.key];
    if (res === undefined) continue;
    cpuRows.push([spec.label, ...cols.map((c) => cpuCell(res[c]))]);
  }
  lines.push("");
  lines.push(...table(["CPU while measuring, cores (broker / load generator)", ...cols], cpuRows));
  for (const g of r.goals) {
    lines.push("goal " + g.what + " >= " + g.goal.toFixed(1) + "x: " + ratioText(g.ratio) + (g.ratio === undefined ? " (no anchor)" : g.met ? " met" : " NOT met"));
  }
  return lines;
}

export async function runBench(o: Options): Promise<BenchReport> {
  const started = Date.now();
  const specs = SCENARIOS.filter((s) => o.only.includes(s.key));
  const names = o.brokers.slice();
  if (o.tsx && !names.includes("ours-tsx")) names.splice(names.indexOf("ours") + 1, 0, "ours-tsx");
  const brokers: BrokerHandle[] = [];
  const machine = machineInfo();
  let loadgen: Rpc | undefined;
  let echo: BrokerHandle | undefined;
  let floor: ScenarioResult | undefined;
  let pinned = false;
  const results: BenchReport["results"] = {};
  try {
    for (const name of names) {
      if (name === "mosquitto") {
        const m = await startMosquitto();
        if (m !== undefined) brokers.push(m);
      } else {
        const flags: string[] = [];
        if (name === "ours" && o.profileDir !== undefined) {
          mkdirSync(o.profileDir, { recursive: true });
          flags.push("--cpu-prof", "--cpu-prof-dir=" + o.profileDir);
        }
        brokers.push(await startNodeBroker(name, flags));
      }
    }
    const latency = specs.find((s) => s.kind === "latency");
    if (latency !== undefined) echo = await startNodeBroker("echo");
    loadgen = new Rpc(forkTs("loadgen.ts", []), "loadgen");
    await loadgen.whenReady();
    if (o.pin) {
      pinned = pin(loadgen.child.pid as number, 1);
      for (const b of brokers) pinned = pin(b.pid, 0) && pinned;
      if (echo !== undefined) pin(echo.pid, 0);
    }
    for (const spec of specs) {
      results[spec.key] = {};
      for (const name of names) if (!brokers.some((b) => b.name === name)) results[spec.key][name] = "absent";
    }
    const lg = loadgen;
    const run = (spec: ScenarioSpec, b: BrokerHandle, round: number) => {
      const tag = spec.key + "-" + b.name + "-r" + round + "-" + process.pid;
      return lg.call<ScenarioResult>("run", { port: b.port, spec, tag, pid: b.pid }, spec.warmupMs + spec.measureMs + 60000);
    };
    for (let round = 0; round < o.rounds; round++) {
      for (const spec of specs) {
        // alternate the order so no broker always runs first
        const order = round % 2 === 0 ? brokers : brokers.slice().reverse();
        for (const b of order) {
          const res = await run(spec, b, round);
          const prev = results[spec.key][b.name];
          results[spec.key][b.name] = merge(spec, res, prev === "absent" ? undefined : prev);
          process.stderr.write(".");
        }
        if (spec.kind === "latency" && echo !== undefined) floor = merge(spec, await run(spec, echo, round), floor);
      }
    }
    process.stderr.write("\n");
  } finally {
    if (loadgen !== undefined) await loadgen.stop();
    if (echo !== undefined) await echo.stop();
    for (const b of brokers) await b.stop();
  }
  const ratios: BenchReport["ratios"] = {};
  const goals: BenchReport["goals"] = [];
  for (const spec of specs) {
    const res = results[spec.key];
    ratios[spec.key] = {
      oursOverAedes: ratio(spec, res.ours, res.aedes),
      oursOverMosquitto: ratio(spec, res.ours, res.mosquitto),
    };
    const ra = ratios[spec.key].oursOverAedes;
    goals.push({ what: spec.key + " ours/aedes", ratio: ra, goal: 1.5, met: ra !== undefined && ra >= 1.5 });
    if (spec.key === "qos0" || spec.key === "fanout") {
      const rm = ratios[spec.key].oursOverMosquitto;
      goals.push({ what: spec.key + " ours/mosquitto", ratio: rm, goal: 1.0, met: rm !== undefined && rm >= 1.0 });
    }
  }
  return {
    machine, date: new Date().toISOString(), rounds: o.rounds, pinned, brokers: names, results, floor, ratios, goals,
    seconds: (Date.now() - started) / 1000,
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  // the whole run is bounded: a broker that hangs does not hang the suite
  const guard = setTimeout(() => {
    console.error("bench: gave up after " + RUN_LIMIT_MS / 1000 + " s");
    process.exit(1);
  }, RUN_LIMIT_MS);
  guard.unref();
  const report = await runBench(o);
  for (const l of formatReport(report)) console.log(l);
  console.log("bench took " + report.seconds.toFixed(1) + " s");
  if (o.json) {
    const text = JSON.stringify(report, null, 2) + "\n";
    if (o.jsonFile !== undefined) writeFileSync(o.jsonFile, text);
    else process.stdout.write(text);
  }
  await sleep(0);
  process.exit(0);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
