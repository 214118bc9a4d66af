/**
 * Fuzzing over other networks than the simulated one, without coverage
 * feedback (the coverage engine runs in a worker on synchronous targets):
 * the corpus, then mutations of it (engine.ts's mutator) until the time is
 * up, through
 * - "tcp": the connection program over real TCP sockets to a TcpTransport
 *   broker on 127.0.0.1 (tcp-target.ts);
 * - "receive": the connection program on the simulated network through the
 *   Espruino adapter's receive path (targets.ts fuzzConnectionReceive).
 * The inputs are the connection corpus, and the parser corpus turned into
 * connection programs (its bytes written on one connection, split where the
 * parser target splits them). Same checks as the simulated target; beyond
 * them, after the run: no TCP socket or server left, heap back within a bound.
 * Used by `npm run fuzz -- --net tcp|receive` and test/e2e/33-fuzz-tcp.test.ts.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { gc } from "../support/load";
import { mutator, rng, seeds } from "./engine";
import { fuzzConnectionReceive } from "./targets";
import { fuzzConnectionTcp, tcpHandles } from "./tcp-target";

export type FuzzNetKind = "tcp" | "receive";

export const NET_TARGETS: { [k in FuzzNetKind]: (data: Uint8Array) => Promise<void> } = {
  tcp: fuzzConnectionTcp,
  receive: async (d) => fuzzConnectionReceive(d),
};

/** A parser-target input as a connection program: mode 0 (open broker), its bytes in writes split at the parser target's cut. */
export function parserInputAsProgram(data: Uint8Array): Uint8Array {
  const bytes = data.subarray(1);
  const cut = bytes.length > 1 ? (bytes[bytes.length - 1] * 7) % bytes.length : 0;
  const out: number[] = [0];
  const write = (from: number, to: number) => {
    for (let i = from; i < to; i += 255) {
      const n = Math.min(255, to - i);
      out.push(0xf8, n, ...bytes.subarray(i, i + n));
    }
  };
  write(0, cut);
  write(cut, bytes.length);
  return Uint8Array.from(out);
}

export interface NetInput {
  name: string;
  data: Uint8Array;
}

/** Seeds and corpus files of the connection target, then the parser's as programs. */
export function netCorpus(corpusDir: string): NetInput[] {
  const load = (target: string): NetInput[] => {
    const dir = path.join(corpusDir, target);
    const files = existsSync(dir) ? readdirSync(dir).sort() : [];
    return [
      ...seeds(target).map((data, i) => ({ name: target + " seed " + i, data })),
      ...files.map((f) => ({ name: target + "/" + f, data: new Uint8Array(readFileSync(path.join(dir, f))) })),
    ];
  };
  return [...load("connection"), ...load("parser").map((x) => ({ name: x.name + " (as a program)", data: parserInputAsProgram(x.data) }))];
}

export interface NetFuzzOptions {
  net: FuzzNetKind;
  corpusDir: string;
  seed: number;
  /** Time for mutations after the corpus (s); 0: the corpus only. */
  seconds: number;
  /** At most this many mutations (-1: until the time is up). */
  maxMutations?: number;
  /** At most this many corpus inputs (-1: all). */
  maxCorpus?: number;
  maxLen?: number;
  /** One input may take this long before it is a hang. */
  hangMs?: number;
  log?: (line: string) => void;
  onFinding?: (f: NetFinding) => void;
}

export interface NetFinding {
  name: string;
  message: string;
  input: Uint8Array;
}

export interface NetFuzzResult {
  net: FuzzNetKind;
  corpus: number;
  mutations: number;
  findings: NetFinding[];
  slowestMs: number;
  wallMs: number;
  /** TCP sockets and servers still held after the run, beyond those before it. */
  handlesLeft: number;
  /** Heap after GC at the end minus after the corpus: what the mutations left behind. */
  heapGrowth: number;
}

async function once(fn: (d: Uint8Array) => Promise<void>, data: Uint8Array, hangMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(data),
      new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new Error("hang: one input ran over " + hangMs + " ms")), hangMs);
      }),
    ]);
    return undefined;
  } catch (e) {
    return ((e as Error).name || "Error") + ": " + (e as Error).message;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export async function runNetworkFuzz(o: NetFuzzOptions): Promise<NetFuzzResult> {
  const log = o.log ?? (() => {});
  const fn = NET_TARGETS[o.net];
  const hangMs = o.hangMs ?? 10000;
  const started = Date.now();
  const findings: NetFinding[] = [];
  const keys = new Set<string>();
  let slowest = 0;
  const exec = async (name: string, data: Uint8Array): Promise<void> => {
    const t = Date.now();
    const message = await once(fn, data, hangMs);
    const took = Date.now() - t;
    if (took > slowest) slowest = took;
    if (message === undefined) return;
    const key = message.replace(/[0-9]+/g, "N").slice(0, 120);
    if (keys.has(key)) return;
    keys.add(key);
    const f = { name, message, input: data };
    findings.push(f);
    if (o.onFinding !== undefined) o.onFinding(f);
  };
  const handles = tcpHandles();
  let inputs = netCorpus(o.corpusDir);
  if (o.maxCorpus !== undefined && o.maxCorpus >= 0) inputs = inputs.slice(0, o.maxCorpus);
  for (const x of inputs) await exec(x.name, x.data);
  log(`  ${o.net}: ${inputs.length} corpus inputs in ${((Date.now() - started) / 1000).toFixed(1)} s, ${findings.length} findings`);
  // the heap after the corpus (code compiled, corpus loaded) is the baseline the mutations must come back to
  await new Promise((r) => setTimeout(r, 20));
  gc();
  const heap = process.memoryUsage().heapUsed;
  const rand = rng(o.seed);
  const mutate = mutator(rand, o.maxLen ?? 1024);
  const pool = inputs.filter((x) => x.name.indexOf("connection") === 0).map((x) => x.data);
  const deadline = Date.now() + o.seconds * 1000;
  let mutations = 0;
  let lastLog = Date.now();
  while (pool.length > 0 && Date.now() < deadline && (o.maxMutations === undefined || o.maxMutations < 0 || mutations < o.maxMutations)) {
    const input = mutate(pool[Math.floor(rand() * pool.length)], pool[Math.floor(rand() * pool.length)]);
    mutations++;
    await exec("mutation " + mutations + " (seed " + o.seed + ")", input);
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`  ${o.net}: ${mutations} mutations, ${findings.length} findings`);
    }
  }
  // what the last inputs closed needs a few turns to be gone (tcp.ts destroys a socket that will not close after 2 s)
  for (const until = Date.now() + 3000; tcpHandles() > handles && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
  gc();
  return {
    net: o.net,
    corpus: inputs.length,
    mutations,
    findings,
    slowestMs: slowest,
    wallMs: Date.now() - started,
    handlesLeft: tcpHandles() - handles,
    heapGrowth: process.memoryUsage().heapUsed - heap,
  };
}
