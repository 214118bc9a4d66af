/**
 * npm run bench:codec: parse and encode throughput of our codec beside
 * mqtt-packet on the same bytes (tinybench), and bytes allocated per parsed
 * packet from V8's own heap statistics.
 *
 *   npm run bench:codec [-- --json [FILE]] [--time MS]
 *
 * Our parse: PacketReader.feed (the broker's framing) with a sink that calls
 * decodePacket into one reused Decoded: the whole-packet decoder, which reads
 * fields through the broker's cursor (codec/cursor.ts) and makes the
 * handlers' checks with their functions. mqtt-packet's is parser.parse with a
 * 'packet' listener. Ours is measured as plain JS, an esbuild bundle of the
 * codec (codec-entry.ts; the Espruino build bundles it the same way), since
 * mqtt-packet is plain JS too; one more row shows ours run through tsx, where
 * every reference across modules goes through an export getter. Encoding: ours writes into a caller's buffer
 * (encodePublish / encodeSubscribe), mqtt-packet's generate() returns a new
 * Buffer per packet. Every iteration handles a batch of packets, so timer
 * overhead is negligible; tasks alternate ours / mqtt-packet over two rounds
 * and the better round of each is kept (a shared machine is noisy).
 *
 * Allocation is measured in a child process started with --expose-gc and a
 * young generation big enough (--min/--max-semi-space-size) that no GC runs
 * during the measured loop: V8's used_heap_size after minus before (after a
 * forced GC), over 2n parses less over n parses (so the measuring's own
 * allocations cancel), divided by the packets parsed. Node 20 has no
 * cumulative allocation counter, hence the no-GC window; a GC observed during
 * it (PerformanceObserver 'gc') is reported, since the figure would then be low.
 */
import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { PerformanceObserver, performance } from "node:perf_hooks";
import * as v8 from "node:v8";
import {
  PINGREQ, PINGRESP, PUBACK, PUBCOMP, PUBREC, PUBREL, SUBACK, UNSUBACK,
} from "../../firmware/core/codec/constants";
import {
  encodeAck, encodeConnect, encodeEmpty, encodePublish, encodePublishString, encodeSubscribe, encodeSuback,
  encodeUnsubscribe, publishSize,
} from "../../firmware/core/codec/encode";
import type { PacketSink } from "../../firmware/core/codec/reader";
import { Bytes } from "../../firmware/core/platform";
import { bundleTs, grouped, machineInfo, machineLine, ratioText, table } from "./common";
import { loadProfile } from "../../host-sim/config";

// mqtt-packet is CommonJS: parser() and generate()
// eslint-disable-next-line @typescript-eslint/no-var-requires
const mqttPacket = require("mqtt-packet") as {
  parser(opts?: { protocolVersion?: number }): {
    on(ev: "packet", f: (p: unknown) => void): void;
    on(ev: "error", f: (e: Error) => void): void;
    parse(buf: Buffer): number;
  };
  generate(packet: Record<string, unknown>): Buffer;
};

const alloc = { bytes: (n: number): Bytes => new Uint8Array(n) };

type CodecModule = typeof import("./codec-entry");

/** Our codec as plain JS (an esbuild bundle under .build/) or through tsx. */
export function loadCodec(mode: "bundle" | "tsx"): CodecModule {
  if (mode === "tsx") return require("./codec-entry") as CodecModule;
  return require(bundleTs("scripts/bench/codec-entry.ts", "bench-codec.js")) as CodecModule;
}
const TOPIC = "sensors/kitchen/temperature";
const FILTER = "sensors/+/temperature";
/** Packets per benchmark iteration. */
const BATCH = 256;

// ---- the packets, built once with our encoders ----

function payloadBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 97 + (i % 26);
  return b;
}

function publishPacket(payload: number, qos: number, id: number): Buffer {
  const out = Buffer.alloc(publishSize(TOPIC.length, payload, qos));
  encodePublishString(out, 0, TOPIC, payloadBytes(payload).toString("latin1"), qos, false, false, id);
  return out;
}

function subscribePacket(id: number): Buffer {
  const out = Buffer.alloc(64);
  const n = encodeSubscribe(out, 0, id, [FILTER], [1]);
  return out.subarray(0, n);
}

function repeat(p: Buffer, times: number): Buffer {
  return Buffer.concat(Array.from({ length: times }, () => p));
}

/** A small deterministic generator (mulberry32), so every run parses the same stream. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A stream of every kind of packet a broker sees and sends (PUBLISH of QoS
 * 0/1/2 from 0 to 2,000 bytes, the four acks, SUBSCRIBE, SUBACK, UNSUBSCRIBE,
 * UNSUBACK, PINGREQ, PINGRESP, a CONNECT), split into chunks of 1..1460 bytes
 * at random places, as TCP may deliver it.
 */
export function mixedStream(bytes: number, seed = 6): { chunks: Buffer[]; packets: number; publishes: number; total: number } {
  const rnd = prng(seed);
  const parts: Buffer[] = [];
  let size = 0;
  let packets = 0;
  let publishes = 0;
  const scratch = Buffer.alloc(4096);
  const connect = (): Buffer => {
    const n = encodeConnect(scratch, 0, {
      protocolName: "MQTT", protocolLevel: 4, clientId: "bench-client", cleanSession: true, keepalive: 60,
      username: undefined, password: undefined, willTopic: undefined, willMessage: undefined, willQos: 0, willRetain: false,
    });
    return Buffer.from(scratch.subarray(0, n));
  };
  parts.push(connect());
  packets++;
  while (size < bytes) {
    const r = rnd();
    const id = 1 + Math.floor(rnd() * 65534);
    let n: number;
    if (r < 0.55) {
      const qos = Math.floor(rnd() * 3);
      const len = rnd() < 0.8 ? Math.floor(rnd() * 200) : Math.floor(rnd() * 2000);
      n = encodePublish(scratch, 0, qos, false, false, id, Buffer.from(TOPIC, "latin1"), 0, TOPIC.length, payloadBytes(len), 0, len);
      publishes++;
    } else if (r < 0.75) {
      const types = [PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK];
      const t = types[Math.floor(rnd() * types.length)];
      n = encodeAck(scratch, 0, t, t === PUBREL ? 2 : 0, id);
    } else if (r < 0.83) {
      n = encodeSubscribe(scratch, 0, id, [FILTER, "a/b/#"], [1, 0]);
    } else if (r < 0.87) {
      n = encodeSuback(scratch, 0, id, [1, 0], 2);
    } else if (r < 0.91) {
      n = encodeUnsubscribe(scratch, 0, id, [FILTER]);
    } else {
      n = encodeEmpty(scratch, 0, rnd() < 0.5 ? PINGREQ : PINGRESP);
    }
    parts.push(Buffer.from(scratch.subarray(0, n)));
    size += n;
    packets++;
  }
  const all = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let p = 0; p < all.length;) {
    const n = 1 + Math.floor(rnd() * 1460);
    chunks.push(all.subarray(p, Math.min(all.length, p + n)));
    p += n;
  }
  return { chunks, packets, publishes, total: all.length };
}

// ---- the two parsers ----

interface Parser {
  packets: number;
  parse(buf: Buffer): void;
}

const HOST_READER_KEEP = loadProfile("host").readerKeepBytes;

/** Ours: the broker's PacketReader framing, decodePacket (over the broker's cursor and checks) into one reused Decoded. */
function ourParser(codec: CodecModule): Parser {
  const decodePacket = codec.decodePacket;
  const decoded = new codec.Decoded();
  // as the host broker's readers are set up (host profile: readerKeepBytes)
  const reader = new codec.PacketReader(alloc, 1024 * 1024, 256, HOST_READER_KEEP);
  const sink: PacketSink & { packets: number } = {
    packets: 0,
    onPacket(first: number, buf: Bytes, off: number, len: number): number {
      const e = decodePacket(first, buf, off, len, decoded);
      if (e !== 0) throw new Error("ours: malformed packet in the benchmark stream");
      sink.packets++;
      return e;
    },
  };
  return {
    get packets() { return sink.packets; },
    parse(buf: Buffer): void {
      const e = reader.feed(buf, 0, buf.length, sink);
      if (e !== 0) throw new Error("ours: framing error " + e);
    },
  };
}

class TheirParser implements Parser {
  parser = mqttPacket.parser({ protocolVersion: 4 });
  packets = 0;
  constructor() {
    this.parser.on("packet", () => { this.packets++; });
    this.parser.on("error", (e) => { throw e; });
  }
  parse(buf: Buffer): void {
    this.parser.parse(buf);
  }
}

// ---- throughput ----

interface Row {
  what: string;
  unit: string;
  /** Per second, in `unit`. */
  ours: number;
  theirs: number;
  ratio: number;
}

interface Case {
  what: string;
  /** Packets handled by one call of ours / theirs. */
  packets: number;
  /** Bytes handled by one call (parse cases; 0 for encoding). */
  bytes: number;
  ours: () => void;
  theirs: () => void;
}

function parseCase(codec: CodecModule, what: string, data: Buffer[], packets: number): Case {
  const o = ourParser(codec);
  const t = new TheirParser();
  // check both see every packet before timing anything
  for (const c of data) o.parse(c);
  for (const c of data) t.parse(c);
  if (o.packets !== packets || t.packets !== packets) {
    throw new Error(what + ": parsed " + o.packets + " / " + t.packets + " packets, expected " + packets);
  }
  let bytes = 0;
  for (const c of data) bytes += c.length;
  return {
    what, packets, bytes,
    ours: () => { for (let i = 0; i < data.length; i++) o.parse(data[i]); },
    theirs: () => { for (let i = 0; i < data.length; i++) t.parse(data[i]); },
  };
}

function encodePublishCase(codec: CodecModule, payload: number): Case {
  const encode = codec.encodePublish;
  const topic = Buffer.from(TOPIC, "latin1");
  const body = payloadBytes(payload);
  const out = new Uint8Array(publishSize(TOPIC.length, payload, 1));
  const packet = { cmd: "publish", topic: TOPIC, payload: body, qos: 0, retain: false, dup: false };
  const check = mqttPacket.generate(packet);
  const mine = Buffer.alloc(out.length);
  const n = encode(mine, 0, 0, false, false, 0, topic, 0, topic.length, body, 0, payload);
  if (!check.equals(mine.subarray(0, n))) throw new Error("encode PUBLISH " + payload + ": the two encoders disagree");
  return {
    what: "encode PUBLISH " + payload + " B", packets: BATCH, bytes: 0,
    ours: () => {
      for (let i = 0; i < BATCH; i++) encode(out, 0, 0, false, false, 0, topic, 0, topic.length, body, 0, payload);
    },
    theirs: () => { for (let i = 0; i < BATCH; i++) mqttPacket.generate(packet); },
  };
}

function encodeSubscribeCase(codec: CodecModule): Case {
  const encode = codec.encodeSubscribe;
  const out = new Uint8Array(64);
  const filters = [FILTER];
  const qos = [1];
  const packet = { cmd: "subscribe", messageId: 7, subscriptions: [{ topic: FILTER, qos: 1 }] };
  const check = mqttPacket.generate(packet);
  const mine = Buffer.alloc(64);
  const n = encode(mine, 0, 7, filters, qos);
  if (!check.equals(mine.subarray(0, n))) throw new Error("encode SUBSCRIBE: the two encoders disagree");
  return {
    what: "encode SUBSCRIBE", packets: BATCH, bytes: 0,
    ours: () => { for (let i = 0; i < BATCH; i++) encode(out, 0, 7, filters, qos); },
    theirs: () => { for (let i = 0; i < BATCH; i++) mqttPacket.generate(packet); },
  };
}

export const MIXED_LABEL = "parse mixed stream, random chunks";
export const MIXED_TSX_LABEL = "parse mixed stream, ours via tsx";

export function codecCases(): Case[] {
  const codec = loadCodec("bundle");
  const mixed = mixedStream(512 * 1024);
  return [
    parseCase(codec, "parse PUBLISH 16 B", [repeat(publishPacket(16, 0, 0), BATCH)], BATCH),
    parseCase(codec, "parse PUBLISH 256 B", [repeat(publishPacket(256, 0, 0), BATCH)], BATCH),
    parseCase(codec, "parse PUBLISH 1024 B", [repeat(publishPacket(1024, 0, 0), BATCH)], BATCH),
    parseCase(codec, "parse SUBSCRIBE", [repeat(subscribePacket(7), BATCH)], BATCH),
    parseCase(codec, MIXED_LABEL, mixed.chunks, mixed.packets),
    parseCase(loadCodec("tsx"), MIXED_TSX_LABEL, mixed.chunks, mixed.packets),
    encodePublishCase(codec, 16),
    encodePublishCase(codec, 256),
    encodePublishCase(codec, 1024),
    encodeSubscribeCase(codec),
  ];
}

async function throughput(timeMs: number): Promise<Row[]> {
  const { Bench } = await import("tinybench");
  const cases = codecCases();
  // per case, the best (lowest median) iteration time of each side over the rounds
  const best = new Map<string, number>();
  const key = (c: Case, side: string) => c.what + "|" + side;
  for (let round = 0; round < 2; round++) {
    const bench = new Bench({ time: timeMs, warmupTime: Math.min(100, timeMs / 2) });
    for (const c of cases) {
      // alternate which side runs first
      if (round === 0) {
        bench.add(key(c, "ours"), c.ours);
        bench.add(key(c, "theirs"), c.theirs);
      } else {
        bench.add(key(c, "theirs"), c.theirs);
        bench.add(key(c, "ours"), c.ours);
      }
    }
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result;
      if (r.state !== "completed") throw new Error(task.name + ": " + r.state);
      const ms = r.latency.p50;
      const prev = best.get(task.name);
      if (prev === undefined || ms < prev) best.set(task.name, ms);
    }
  }
  const rows: Row[] = [];
  for (const c of cases) {
    const oursMs = best.get(key(c, "ours")) as number;
    const theirsMs = best.get(key(c, "theirs")) as number;
    rows.push({ what: c.what, unit: "packets/s", ours: (c.packets * 1000) / oursMs, theirs: (c.packets * 1000) / theirsMs, ratio: theirsMs / oursMs });
    if (c.bytes > 0 && c.packets !== BATCH) {
      rows.push({ what: c.what, unit: "MB/s", ours: c.bytes / 1000 / oursMs, theirs: c.bytes / 1000 / theirsMs, ratio: theirsMs / oursMs });
    }
  }
  return rows;
}

// ---- allocation (runs in a child with --expose-gc and a big young generation) ----

export interface AllocFigure {
  what: string;
  oursBytesPerPacket: number;
  theirsBytesPerPacket: number;
  /** GCs seen while measuring ours / theirs (0 means the heap delta is every byte allocated). */
  oursGcs: number;
  theirsGcs: number;
}

async function measureAllocation(): Promise<AllocFigure[]> {
  const maybeGc = (globalThis as { gc?: () => void }).gc;
  if (maybeGc === undefined) throw new Error("run with --expose-gc");
  const gc: () => void = maybeGc;
  // start times of every GC; the forced ones come before a measured window, so only GCs inside it count
  const gcTimes: number[] = [];
  const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcTimes.push(e.startTime); });
  obs.observe({ entryTypes: ["gc"] });

  /**
   * Bytes used more after `calls` calls of `run` than before them (V8 heap plus
   * ArrayBuffer backing stores, which live outside it), and the GCs seen meanwhile.
   */
  async function grown(run: () => void, calls: number): Promise<{ bytes: number; gcs: number }> {
    gc();
    gc();
    const t0 = performance.now();
    const buffersBefore = process.memoryUsage().arrayBuffers;
    const before = v8.getHeapStatistics().used_heap_size;
    for (let i = 0; i < calls; i++) run();
    const after = v8.getHeapStatistics().used_heap_size;
    const buffersAfter = process.memoryUsage().arrayBuffers;
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, 20)); // let the observer hear of any GC
    return { bytes: after - before + buffersAfter - buffersBefore, gcs: gcTimes.filter((t) => t >= t0 && t <= t1).length };
  }

  /**
   * Heap bytes allocated per packet by `run` (which parses `packets` packets
   * per call): the growth over 2n calls less the growth over n calls, so what
   * the measuring itself allocates cancels out; n is chosen so the run
   * allocates tens of MB (V8 counts the heap in allocation buffers of some
   * tens of KB, noise that a large run makes small), and the median of three
   * such differences is kept.
   */
  async function perPacket(run: () => void, packets: number): Promise<{ bytes: number; gcs: number }> {
    for (let i = 0; i < 200; i++) run(); // warm up: compiled code, grown buffers
    const probe = await grown(run, 10);
    const perCall = Math.max(probe.bytes / 10, 1);
    const calls = Math.max(3, Math.min(4000, Math.floor(16e6 / perCall)));
    const diffs: number[] = [];
    let seen = 0;
    for (let k = 0; k < 3; k++) {
      const one = await grown(run, calls);
      const two = await grown(run, 2 * calls);
      diffs.push((two.bytes - one.bytes) / (packets * calls));
      seen += one.gcs + two.gcs;
    }
    diffs.sort((x, y) => x - y);
    return { bytes: Math.max(0, diffs[1]), gcs: seen };
  }

  const out: AllocFigure[] = [];
  const publish = repeat(publishPacket(64, 0, 0), BATCH);
  const mixed = mixedStream(256 * 1024);
  const sets: { what: string; data: Buffer[]; packets: number }[] = [
    { what: "PUBLISH 64 B, whole chunks", data: [publish], packets: BATCH },
    { what: "mixed stream, random chunks", data: mixed.chunks, packets: mixed.packets },
  ];
  const codec = loadCodec("bundle");
  for (const s of sets) {
    const o = ourParser(codec);
    const t = new TheirParser();
    const ours = await perPacket(() => { for (const c of s.data) o.parse(c); }, s.packets);
    const theirs = await perPacket(() => { for (const c of s.data) t.parse(c); }, s.packets);
    out.push({ what: s.what, oursBytesPerPacket: ours.bytes, theirsBytesPerPacket: theirs.bytes, oursGcs: ours.gcs, theirsGcs: theirs.gcs });
  }
  obs.disconnect();
  return out;
}

function allocationInChild(): Promise<AllocFigure[]> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, "codec.ts"), ["--alloc-child"], {
      execArgv: ["--import", "tsx", "--expose-gc", "--min-semi-space-size=128", "--max-semi-space-size=128"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error("allocation run timed out")); }, 60000);
    child.once("message", (m) => { clearTimeout(timer); resolve(m as AllocFigure[]); });
    child.once("exit", (code) => { clearTimeout(timer); if (code !== 0) reject(new Error("allocation run exited " + code)); });
  });
}

// ---- report ----

export interface CodecReport {
  machine: ReturnType<typeof machineInfo>;
  date: string;
  throughput: Row[];
  allocation: AllocFigure[];
  goal: { what: string; ratio: number; goal: number; met: boolean };
  seconds: number;
}

export function formatCodec(r: CodecReport): string[] {
  const lines = [machineLine(r.machine)];
  lines.push(...table(
    ["codec (" + BATCH + " packets or one stream per iteration)", "unit", "ours", "mqtt-packet", "ours/mqtt-packet"],
    r.throughput.map((x) => [x.what, x.unit, x.unit === "MB/s" ? x.ours.toFixed(1) : grouped(x.ours),
      x.unit === "MB/s" ? x.theirs.toFixed(1) : grouped(x.theirs), ratioText(x.ratio)]),
  ));
  lines.push("");
  lines.push(...table(
    ["bytes allocated per parsed packet", "ours", "mqtt-packet", "GCs during run (ours / theirs)"],
    r.allocation.map((a) => [a.what, a.oursBytesPerPacket.toFixed(1), a.theirsBytesPerPacket.toFixed(1), a.oursGcs + " / " + a.theirsGcs]),
  ));
  lines.push("(growth of V8 used_heap_size + ArrayBuffers over 2n parses less that over n, median of 3, forced GC");
  lines.push(" before each, young generation of 128 MB so no GC runs meanwhile; a GC count above 0 makes that row a lower bound)");
  lines.push("goal " + r.goal.what + " >= " + r.goal.goal.toFixed(1) + "x: " + ratioText(r.goal.ratio) + (r.goal.met ? " met" : " NOT met"));
  return lines;
}

export async function runCodec(timeMs: number): Promise<CodecReport> {
  const started = Date.now();
  const rows = await throughput(timeMs);
  const allocation = await allocationInChild();
  const mixed = rows.find((x) => x.what === MIXED_LABEL) as Row;
  return {
    machine: machineInfo(), date: new Date().toISOString(), throughput: rows, allocation,
    goal: { what: "parse mixed stream ours/mqtt-packet", ratio: mixed.ratio, goal: 3, met: mixed.ratio >= 3 },
    seconds: (Date.now() - started) / 1000,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--alloc-child") {
    const figures = await measureAllocation();
    if (process.send !== undefined) process.send(figures);
    process.exit(0);
  }
  let json = false;
  let jsonFile: string | undefined;
  let timeMs = 250;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--json") {
      json = true;
      if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) jsonFile = argv[++i];
    } else if (argv[i] === "--time") {
      timeMs = Number(argv[++i]);
    } else {
      throw new Error("bench:codec: unknown option " + argv[i]);
    }
  }
  const report = await runCodec(timeMs);
  for (const l of formatCodec(report)) console.log(l);
  console.log("bench:codec took " + report.seconds.toFixed(1) + " s");
  if (json) {
    const text = JSON.stringify(report, null, 2) + "\n";
    if (jsonFile !== undefined) writeFileSync(jsonFile, text);
    else process.stdout.write(text);
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
