/**
 * A coverage-guided fuzzing loop in the manner of libFuzzer, for Node: it
 * runs inside a worker thread on a bundle whose firmware/ modules were
 * instrumented with istanbul-lib-instrument (test/cli/fuzz.ts builds it), so
 * every statement and branch of the core has a counter. An input that
 * reaches a counter, or a new hit-count bucket of one, joins the corpus and
 * is mutated further.
 *
 * (Jazzer.js would be the first choice; on this machine its prebuilt addon
 * needs glibc 2.38 and Debian 12 has 2.36, and its npm package carries no
 * sources to build from. The targets keep Jazzer's shape: see targets.ts.)
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { TARGETS } from "./targets";

export interface EngineOptions {
  targets: string[];
  seconds: number;
  seed: number;
  maxLen: number;
  corpusDir: string;
  save: boolean;
  minimize: boolean;
  /** Int32 [0] exec count, [1] input length, [2] target index; then the input bytes. */
  heartbeat: SharedArrayBuffer;
}

type Counters = { [file: string]: { s: { [id: string]: number }; b: { [id: string]: number[] }; f: { [id: string]: number } } };

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Byte strings worth inserting: MQTT headers, names and wildcards (libFuzzer's -dict). */
const DICT: number[][] = [
  [0x10], [0x20], [0x30], [0x32], [0x34], [0x3d], [0x40, 0x02], [0x50, 0x02], [0x62, 0x02], [0x70, 0x02], [0x82], [0xa2],
  [0xc0, 0x00], [0xe0, 0x00], [0x00, 0x04, 77, 81, 84, 84, 4], [0x00, 0x06, 77, 81, 73, 115, 100, 112, 3],
  [0xff, 0xff, 0xff, 0x7f], [0x80, 0x80, 0x80, 0x80, 0x01], [0x00, 0x00], [0xff, 0xff], [0x00, 0x01],
  [35], [43], [47], [36, 83, 89, 83, 47], [47, 35], [43, 47], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xef, 0xbf, 0xbf], [0x00],
  [0x02, 0x3c], [0xc2, 0x00], [0x06, 0x00, 0x01, 0x75, 0x00, 0x06], [0x75], [0xf8 /* write n from next byte */],
];

export function seeds(target: string): Uint8Array[] {
  const u16 = (n: number) => [n >> 8, n & 255];
  const str = (s: string) => [...u16(s.length), ...Buffer.from(s, "latin1")];
  const pkt = (first: number, body: number[]) => [first, body.length, ...body];
  const connect = (id: string, flags: number, extra: number[] = []) => pkt(0x10, [...str("MQTT"), 4, flags, 0, 10, ...str(id), ...extra]);
  const packets = [
    connect("c1", 2),
    connect("c2", 0),
    connect("w", 2 + 4 + 8 + 32, [...str("ok/will"), ...str("bye")]),
    connect("u1", 2 + 128 + 64, [...str("u"), ...str("secret")]),
    connect("u2", 2 + 128 + 64, [...str("u"), ...str("wrong")]),
    pkt(0x82, [0, 1, ...str("ok/#"), 1, ...str("$SYS/#"), 0]),
    pkt(0x82, [0, 2, ...str("#"), 2]),
    pkt(0xa2, [0, 3, ...str("ok/#")]),
    pkt(0x30, [...str("ok/a"), 104, 105]),
    pkt(0x33, [...str("ok/r"), 0, 5, 114]),
    pkt(0x34, [...str("ok/b"), 0, 6, 113, 50]),
    pkt(0x30, [...str("$SYS/x"), 1]),
    pkt(0x30, [...str("ok/+"), 1]),
    pkt(0x62, [0, 6]),
    pkt(0x40, [0, 1]),
    pkt(0x50, [0, 1]),
    pkt(0x70, [0, 1]),
    [0xc0, 0],
    [0xe0, 0],
  ];
  if (target === "parser") return packets.map((p) => Uint8Array.from([1, ...p]));
  const write = (p: number[]) => [0xf8, p.length, ...p];
  const out: Uint8Array[] = [];
  for (let mode = 0; mode < 4; mode++) {
    out.push(Uint8Array.from([mode, ...write(packets[0]), ...write(packets[5]), ...write(packets[8]), ...write(packets[10]), ...write(packets[13])]));
    out.push(Uint8Array.from([mode, ...write(packets[3]), ...write(packets[6]), ...write(packets[9]), 0x05 + 8 * 20, ...write(packets[17])]));
    out.push(Uint8Array.from([mode, ...write(packets[2]), 0x05 + 8 * 31, 0x05 + 8 * 31, 0x0e, ...write(packets[1]), 0x07, ...write(packets[1])]));
    out.push(Uint8Array.from([mode, ...write(packets[4]), 0x07, ...write(packets[4]), 0x07, ...write(packets[4]), 0x07, ...write(packets[4])]));
  }
  return out;
}

/** The engine's mutations (bit flips, interesting bytes, inserts, deletes, copies, dictionary words, lengths, crossover). */
export function mutator(rand: () => number, maxLen: number): (src: Uint8Array, other: Uint8Array) => Uint8Array {
  return (src: Uint8Array, other: Uint8Array): Uint8Array => {
    let d = Array.from(src);
    const n = 1 + Math.floor(rand() * 4);
    for (let k = 0; k < n; k++) {
      const at = Math.floor(rand() * (d.length + 1));
      const r = Math.floor(rand() * 10);
      if (r === 0 && d.length > 0) d[at % d.length] ^= 1 << Math.floor(rand() * 8);
      else if (r === 1 && d.length > 0) d[at % d.length] = Math.floor(rand() * 256);
      else if (r === 2 && d.length > 0) d[at % d.length] = [0, 1, 2, 0x7f, 0x80, 0xff, 0x10, 0x30, 0x82, 0xfe][Math.floor(rand() * 10)];
      else if (r === 3) d.splice(at, 0, ...Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256)));
      else if (r === 4 && d.length > 1) d.splice(at, 1 + Math.floor(rand() * Math.min(16, d.length - 1)));
      else if (r === 5 && d.length > 0) {
        const from = Math.floor(rand() * d.length);
        const len = 1 + Math.floor(rand() * Math.min(32, d.length - from));
        d.splice(at, 0, ...d.slice(from, from + len));
      } else if (r === 6 && other.length > 0) {
        const from = Math.floor(rand() * other.length);
        const len = 1 + Math.floor(rand() * Math.min(64, other.length - from));
        d.splice(at, 0, ...Array.from(other.subarray(from, from + len)));
      } else if (r === 7) d.splice(at, 0, ...DICT[Math.floor(rand() * DICT.length)]);
      else if (r === 8 && d.length > 2) {
        // a 16-bit length somewhere set to something near the truth or absurd
        const p = at % (d.length - 1);
        const v = [0, 1, d.length - p, d.length - p - 2, 0xffff, Math.floor(rand() * 300)][Math.floor(rand() * 6)];
        d[p] = (v >> 8) & 255;
        d[p + 1] = v & 255;
      } else if (r === 9 && other.length > 0) {
        // crossover: head of one, tail of the other
        d = d.slice(0, at).concat(Array.from(other.subarray(Math.floor(rand() * other.length))));
      }
    }
    if (d.length > maxLen) d.length = maxLen;
    return Uint8Array.from(d);
  };
}

function run(opts: EngineOptions): void {
  const post = (m: unknown) => parentPort!.postMessage(m);
  const rand = rng(opts.seed);
  const cov = (globalThis as unknown as { __fuzzcov?: Counters }).__fuzzcov;
  if (cov === undefined) throw new Error("the bundle is not instrumented (no __fuzzcov)");
  // every counter, flat: statements, branch slots, functions
  const sObjs: { [id: string]: number }[] = [];
  const fObjs: { [id: string]: number }[] = [];
  const bArrs: number[][] = [];
  let total = { s: 0, b: 0, f: 0 };
  for (const file of Object.keys(cov)) {
    sObjs.push(cov[file].s);
    fObjs.push(cov[file].f);
    total.s += Object.keys(cov[file].s).length;
    total.f += Object.keys(cov[file].f).length;
    for (const id of Object.keys(cov[file].b)) {
      bArrs.push(cov[file].b[id]);
      total.b += cov[file].b[id].length;
    }
  }
  const sKeys = sObjs.map((o) => Object.keys(o));
  const fKeys = fObjs.map((o) => Object.keys(o));
  const slots = total.s + total.b + total.f;
  const seen = new Uint8Array(slots * 8);
  const everS = new Uint8Array(total.s);
  const everB = new Uint8Array(total.b);
  const everF = new Uint8Array(total.f);
  const bucket = (n: number) => (n === 1 ? 0 : n === 2 ? 1 : n === 3 ? 2 : n < 8 ? 3 : n < 16 ? 4 : n < 32 ? 5 : n < 128 ? 6 : 7);
  const reset = () => {
    for (let i = 0; i < sObjs.length; i++) {
      const o = sObjs[i];
      const ks = sKeys[i];
      for (let k = 0; k < ks.length; k++) o[ks[k]] = 0;
      const fo = fObjs[i];
      const fk = fKeys[i];
      for (let k = 0; k < fk.length; k++) fo[fk[k]] = 0;
    }
    for (let i = 0; i < bArrs.length; i++) bArrs[i].fill(0);
  };
  /** New features of the last run (marks them seen). */
  const harvest = (): number => {
    let fresh = 0;
    let slot = 0;
    let si = 0;
    let fi = 0;
    let bi = 0;
    for (let i = 0; i < sObjs.length; i++) {
      const o = sObjs[i];
      const ks = sKeys[i];
      for (let k = 0; k < ks.length; k++, slot++, si++) {
        const n = o[ks[k]];
        if (n > 0) {
          everS[si] = 1;
          const f = slot * 8 + bucket(n);
          if (seen[f] === 0) {
            seen[f] = 1;
            fresh++;
          }
        }
      }
      const fo = fObjs[i];
      const fk = fKeys[i];
      for (let k = 0; k < fk.length; k++, slot++, fi++) if (fo[fk[k]] > 0) everF[fi] = 1;
    }
    for (let i = 0; i < bArrs.length; i++) {
      const a = bArrs[i];
      for (let k = 0; k < a.length; k++, slot++, bi++) {
        const n = a[k];
        if (n > 0) {
          everB[bi] = 1;
          const f = slot * 8 + bucket(n);
          if (seen[f] === 0) {
            seen[f] = 1;
            fresh++;
          }
        }
      }
    }
    return fresh;
  };
  const sum = (a: Uint8Array) => {
    let n = 0;
    for (let i = 0; i < a.length; i++) n += a[i];
    return n;
  };

  const hb = new Int32Array(opts.heartbeat, 0, 4);
  const hbBytes = new Uint8Array(opts.heartbeat, 16);
  let execs = 0;
  const findings: { target: string; message: string; input: string }[] = [];
  const findingKeys = new Set<string>();
  let slowest = 0;

  const exec = (t: number, fn: (d: Uint8Array) => void, input: Uint8Array, name: string): number => {
    hb[1] = input.length;
    hb[2] = t;
    hbBytes.set(input.subarray(0, hbBytes.length));
    Atomics.add(hb, 0, 1);
    execs++;
    reset();
    const started = Date.now();
    try {
      fn(input);
    } catch (e) {
      const message = ((e as Error).name || "Error") + ": " + (e as Error).message;
      const key = name + ":" + message.replace(/[0-9]+/g, "N").slice(0, 120);
      if (!findingKeys.has(key)) {
        findingKeys.add(key);
        findings.push({ target: name, message: message + "\n" + ((e as Error).stack ?? "").split("\n").slice(1, 6).join("\n"), input: Buffer.from(input).toString("base64") });
        post({ type: "finding", target: name, message, stack: (e as Error).stack, input: Buffer.from(input).toString("base64") });
      }
    }
    const took = Date.now() - started;
    if (took > slowest) slowest = took;
    if (took > 2000) post({ type: "finding", target: name, message: "slow input: " + took + " ms", input: Buffer.from(input).toString("base64") });
    return harvest();
  };

  const corpora: { name: string; fn: (d: Uint8Array) => void; inputs: Uint8Array[]; added: number; dir: string }[] = [];
  for (let t = 0; t < opts.targets.length; t++) {
    const name = opts.targets[t];
    const fn = TARGETS[name];
    const dir = path.join(opts.corpusDir, name);
    const files = existsSync(dir) ? readdirSync(dir).sort() : [];
    const loaded = files.map((f) => ({ f, data: new Uint8Array(readFileSync(path.join(dir, f))) }));
    const inputs: Uint8Array[] = [];
    const keep: string[] = [];
    // seeds first, then the corpus smallest first: an input that adds nothing is dropped from memory
    const all = [...seeds(name).map((d) => ({ f: "", data: d })), ...loaded.sort((a, b) => a.data.length - b.data.length)];
    for (const { f, data } of all) {
      if (exec(t, fn, data, name) > 0 || inputs.length === 0) {
        inputs.push(data);
        if (f !== "") keep.push(f);
      }
    }
    corpora.push({ name, fn, inputs, added: 0, dir });
    post({ type: "loaded", target: name, files: files.length, kept: inputs.length, useless: files.filter((f) => keep.indexOf(f) < 0) });
  }

  const mutate = mutator(rand, opts.maxLen);

  const deadline = Date.now() + opts.seconds * 1000;
  let lastReport = Date.now();
  let round = 0;
  while (Date.now() < deadline) {
    const c = corpora[round++ % corpora.length];
    const t = corpora.indexOf(c);
    for (let k = 0; k < 200; k++) {
      const base = c.inputs[Math.floor(rand() * c.inputs.length)];
      const other = c.inputs[Math.floor(rand() * c.inputs.length)];
      const input = mutate(base, other);
      if (exec(t, c.fn, input, c.name) > 0) {
        c.inputs.push(input);
        c.added++;
        if (opts.save) {
          mkdirSync(c.dir, { recursive: true });
          const name = createHash("sha1").update(input).digest("hex").slice(0, 16);
          writeFileSync(path.join(c.dir, name), input);
        }
      }
    }
    if (process.memoryUsage().heapUsed > 1.5 * 1024 * 1024 * 1024) {
      post({ type: "finding", target: c.name, message: "unbounded allocation: heap past 1.5 GB", input: "" });
      break;
    }
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      post({ type: "progress", execs, corpus: corpora.map((x) => x.name + " " + x.inputs.length).join(", "), s: sum(everS), b: sum(everB), total });
    }
  }
  post({
    type: "done", execs, slowest, findings: findings.length,
    corpus: corpora.map((x) => ({ target: x.name, inputs: x.inputs.length, added: x.added })),
    coverage: { statements: sum(everS), branches: sum(everB), functions: sum(everF), total },
  });
}

if (parentPort !== null && workerData !== null && workerData !== undefined && (workerData as { engine?: boolean }).engine === true) {
  run(workerData as EngineOptions);
}
