/**
 * npm run fuzz -- [--minutes N] [--target parser|connection|all] [--seed N] [--max-len N] [--no-save] [--prune]
 * npm run fuzz -- --net tcp|receive [--minutes N] [--seed N] [--max-len N] [--max-mutations N]
 *
 * Coverage-guided fuzzing of the parser and the whole connection state
 * machine (test/fuzz/targets.ts). The targets and the firmware are bundled
 * with esbuild, firmware/ instrumented with istanbul-lib-instrument, and run
 * by test/fuzz/engine.ts in a worker thread; this process watches a
 * heartbeat and kills a run stuck in one input (a hang), saving the input.
 * Inputs that reach new coverage are written to test/fuzz/corpus/<target>/
 * (unless --no-save); --prune deletes corpus files that add nothing (but
 * regression-* files, inputs of past findings kept on purpose).
 * Findings (exceptions, hangs, slow inputs, heap past 1.5 GB) go to
 * test/fuzz/findings/ and make the exit code 1.
 *
 * --net: the connection target over another network, without coverage
 * feedback (test/fuzz/net-runner.ts): "tcp" sends every input over real
 * TCP sockets on 127.0.0.1 to a TcpTransport broker (host-sim/tcp.ts),
 * "receive" runs it through the Espruino adapter's receive path
 * (firmware/espruino/receive.ts) on the simulated network. The corpus
 * (connection inputs, and parser inputs as byte streams) first, then
 * mutations of it until the minutes are up (or --max-mutations); findings
 * as above, plus TCP sockets left open and heap growth over the mutations.
 */
import * as esbuild from "esbuild";
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";

// istanbul-lib-instrument ships no types: the one call used here
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createInstrumenter } = require("istanbul-lib-instrument") as {
  createInstrumenter(o: object): { instrumentSync(code: string, file: string): string };
};

const ROOT = path.join(__dirname, "..", "..");
const CORPUS = path.join(ROOT, "test", "fuzz", "corpus");
const FINDINGS = path.join(ROOT, "test", "fuzz", "findings");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf("--" + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.indexOf("--" + name) >= 0;

const minutes = Number(arg("minutes", "1"));
const targetArg = arg("target", "all");
const targets = targetArg === "all" ? ["parser", "connection"] : [targetArg];
const seed = Number(arg("seed", String(Date.now() % 1000000)));
const maxLen = Number(arg("max-len", "1024"));
const save = !flag("no-save");
const prune = flag("prune");
const netArg = arg("net", "");
const HANG_MS = 10000;

async function mainNet(): Promise<number> {
  if (netArg !== "tcp" && netArg !== "receive") {
    console.error(`fuzz: --net takes tcp or receive, not "${netArg}"`);
    return 2;
  }
  const { runNetworkFuzz } = await import("../fuzz/net-runner");
  console.log(`fuzz over ${netArg === "tcp" ? "real TCP (127.0.0.1, host-sim/tcp.ts)" : "the Espruino receive path"}: corpus, then mutations for ${minutes} min, seed ${seed}`);
  let findings = 0;
  const r = await runNetworkFuzz({
    net: netArg,
    corpusDir: CORPUS,
    seed,
    seconds: minutes * 60,
    maxLen,
    maxMutations: Number(arg("max-mutations", "-1")),
    hangMs: HANG_MS,
    log: (l) => console.log(l),
    onFinding: (f) => {
      findings++;
      mkdirSync(FINDINGS, { recursive: true });
      const name = path.join(FINDINGS, "connection-" + netArg + "-" + Date.now() + "-" + findings);
      writeFileSync(name, f.input);
      writeFileSync(name + ".txt", f.name + ": " + f.message + "\n");
      console.log(`FINDING [connection over ${netArg}] ${f.name}: ${f.message.split("\n")[0]}\n  input saved: ${path.relative(ROOT, name)}`);
    },
  });
  console.log(`fuzz done: ${r.corpus} corpus inputs and ${r.mutations} mutations in ${(r.wallMs / 1000).toFixed(0)} s, slowest input ${r.slowestMs} ms`);
  console.log(`  heap after the mutations: ${r.heapGrowth >= 0 ? "+" : ""}${(r.heapGrowth / 1024).toFixed(0)} KB; TCP sockets and servers left open: ${r.handlesLeft}`);
  if (r.handlesLeft > 0) {
    findings++;
    console.log(`FINDING [connection over ${netArg}] ${r.handlesLeft} TCP sockets or servers left open after the run`);
  }
  if (r.heapGrowth > 64 * 1024 * 1024) {
    findings++;
    console.log(`FINDING [connection over ${netArg}] heap grew ${(r.heapGrowth / 1048576).toFixed(0)} MB over the mutations`);
  }
  console.log(`  findings: ${findings}`);
  return findings > 0 ? 1 : 0;
}

async function bundle(): Promise<string> {
  const instrumenter = createInstrumenter({ coverageVariable: "__fuzzcov", esModules: true, compact: true, produceSourceMap: false });
  const result = await esbuild.build({
    entryPoints: [path.join(ROOT, "test", "fuzz", "engine.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    write: false,
    logLevel: "error",
    plugins: [{
      name: "instrument-firmware",
      setup(build) {
        build.onLoad({ filter: /[\\/]firmware[\\/].*\.ts$/ }, async (a) => {
          const source = readFileSync(a.path, "utf8");
          const js = await esbuild.transform(source, { loader: "ts", format: "esm", target: "es2019" });
          return { contents: instrumenter.instrumentSync(js.code, path.relative(ROOT, a.path)), loader: "js" };
        });
      },
    }],
  });
  const file = path.join(os.tmpdir(), "esp-mqtt-fuzz-" + process.pid + ".cjs");
  writeFileSync(file, result.outputFiles[0].text);
  return file;
}

async function main(): Promise<number> {
  const file = await bundle();
  const heartbeat = new SharedArrayBuffer(16 + maxLen);
  const hb = new Int32Array(heartbeat, 0, 4);
  console.log(`fuzz: ${targets.join(", ")} for ${minutes} min, seed ${seed}, inputs up to ${maxLen} bytes, corpus ${path.relative(ROOT, CORPUS)}${save ? "" : " (not saved)"}`);
  const started = Date.now();
  let findings = 0;
  const saveFinding = (target: string, message: string, input: Buffer) => {
    findings++;
    mkdirSync(FINDINGS, { recursive: true });
    const name = path.join(FINDINGS, target + "-" + Date.now());
    writeFileSync(name, input);
    writeFileSync(name + ".txt", message + "\n");
    console.log(`FINDING [${target}] ${message.split("\n")[0]}\n  input saved: ${path.relative(ROOT, name)}`);
  };
  const result = await new Promise<{ [k: string]: unknown } | undefined>((resolve) => {
    const worker = new Worker(file, {
      workerData: { engine: true, targets, seconds: minutes * 60, seed, maxLen, corpusDir: CORPUS, save, minimize: prune, heartbeat },
      resourceLimits: { maxOldGenerationSizeMb: 2048 },
    });
    let last = -1;
    let lastChange = Date.now();
    const watchdog = setInterval(() => {
      const n = Atomics.load(hb, 0);
      if (n !== last) {
        last = n;
        lastChange = Date.now();
        return;
      }
      if (Date.now() - lastChange > HANG_MS) {
        clearInterval(watchdog);
        const len = Atomics.load(hb, 1);
        const input = Buffer.from(new Uint8Array(heartbeat, 16, Math.min(len, maxLen)));
        saveFinding(targets[Atomics.load(hb, 2)] ?? "?", `hang: one input ran over ${HANG_MS} ms`, input);
        void worker.terminate();
        resolve(undefined);
      }
    }, 500);
    worker.on("message", (m: { [k: string]: unknown }) => {
      if (m.type === "progress") {
        const t = m.total as { s: number; b: number };
        console.log(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${m.execs} execs, corpus ${m.corpus}, statements ${m.s}/${t.s}, branches ${m.b}/${t.b}`);
      } else if (m.type === "loaded") {
        // regression-* files are findings kept on purpose: never pruned
        const useless = (m.useless as string[]).filter((f) => f.indexOf("regression-") !== 0);
        console.log(`  ${m.target}: ${m.files} corpus files, ${m.kept} inputs kept (seeds included)`);
        if (prune) for (const f of useless) unlinkSync(path.join(CORPUS, m.target as string, f));
        if (prune && useless.length > 0) console.log(`  ${m.target}: pruned ${useless.length} files that add no coverage`);
      } else if (m.type === "finding") {
        saveFinding(m.target as string, (m.message as string) + "\n" + ((m.stack as string) ?? ""), Buffer.from(m.input as string, "base64"));
      } else if (m.type === "done") {
        clearInterval(watchdog);
        resolve(m);
        void worker.terminate();
      }
    });
    worker.on("error", (e) => {
      clearInterval(watchdog);
      saveFinding(targets.join("+"), "worker died: " + e.message + "\n" + e.stack, Buffer.alloc(0));
      resolve(undefined);
    });
  });
  unlinkSync(file);
  const wall = (Date.now() - started) / 1000;
  if (result !== undefined) {
    const c = result.coverage as { statements: number; branches: number; functions: number; total: { s: number; b: number; f: number } };
    const pct = (a: number, b: number) => ((100 * a) / b).toFixed(1) + "%";
    console.log(`fuzz done: ${result.execs} executions in ${wall.toFixed(0)} s (${Math.round((result.execs as number) / wall)}/s), slowest input ${result.slowest} ms`);
    for (const x of result.corpus as { target: string; inputs: number; added: number }[]) console.log(`  ${x.target}: ${x.inputs} inputs in the corpus, ${x.added} new this run`);
    console.log(`  firmware coverage: statements ${c.statements}/${c.total.s} (${pct(c.statements, c.total.s)}), branches ${c.branches}/${c.total.b} (${pct(c.branches, c.total.b)}), functions ${c.functions}/${c.total.f} (${pct(c.functions, c.total.f)})`);
  }
  console.log(`  findings: ${findings}`);
  return findings > 0 ? 1 : 0;
}

(netArg !== "" ? mainNet() : main()).then((code) => process.exit(code), (e) => {
  console.error(e);
  process.exit(2);
});
