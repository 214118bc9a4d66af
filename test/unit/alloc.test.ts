/**
 * Steady-state QoS 0 publishing allocates nothing: the core (no simulator,
 * no sockets) with a transport that only counts bytes, one publisher and one
 * subscriber, fed a million pre-encoded PUBLISH packets from one buffer.
 *
 * Measured three ways:
 * - heapUsed after a forced GC, before and after the run (retained growth);
 * - young-generation bytes allocated during the run (new-space usage before
 *   and after, exact when no GC ran in between);
 * - GC events during the run (PerformanceObserver 'gc' entries).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { constants as perfConstants, PerformanceObserver, performance } from "node:perf_hooks";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { Broker } from "../../firmware/core/broker/broker";
import { encodePublishString } from "../../firmware/core/codec/encode";
import { Bytes, Transport } from "../../firmware/core/platform";
import { nodePlatform } from "../../host-sim/platform";
import { configWith, connectBytes, decodeAll, subscribeBytes } from "../support/sim-client";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/** Discards what the broker sends; counts packets and bytes per connection (preallocated). */
class CountingTransport implements Transport {
  bytes = 0;
  packets: number[] = new Array(16).fill(0);
  /** The first bytes sent to each connection, for checking the handshake. */
  firstBytes: number[][] = [];
  keepFirst = true;
  send(connId: number, buf: Bytes, off: number, len: number): boolean {
    this.bytes += len;
    // a packet may go out in parts (a fixed header, then the body as received): count the parts
    // that start a packet (a body part starts with its topic length's high byte, 0 here)
    if (buf[off] >= 16) this.packets[connId] += 1;
    if (this.keepFirst) {
      const list = this.firstBytes[connId] ?? (this.firstBytes[connId] = []);
      for (let i = 0; i < len; i++) list.push(buf[off + i]);
    }
    return true;
  }
  close(): void {}
  queued(): number {
    return 0;
  }
}

const MESSAGES = 1_000_000;
const PER_BATCH = 1000;
const WARMUP_BATCHES = 300;

function newSpaceUsed(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_used_size;
}

function oldSpacesUsed(): number {
  let n = 0;
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name !== "new_space") n += s.space_used_size;
  return n;
}

test("steady-state QoS 0 publishing allocates nothing", async () => {
  const transport = new CountingTransport();
  let clock = 1000;
  const broker = new Broker(configWith(), nodePlatform(() => {}, () => clock), transport);

  const sub = broker.accept("127.0.0.1");
  const pub = broker.accept("127.0.0.1");
  const c1 = connectBytes("subscriber");
  broker.data(sub, c1, 0, c1.length);
  const s1 = subscribeBytes(1, ["bench/+"], [0]);
  broker.data(sub, s1, 0, s1.length);
  const c2 = connectBytes("publisher");
  broker.data(pub, c2, 0, c2.length);
  assert.equal(decodeAll(Uint8Array.from(transport.firstBytes[sub])).map((p) => p.name + p.returnCode + p.codes.join()),
    ["CONNACK0", "SUBACK00"]);
  assert.equal(decodeAll(Uint8Array.from(transport.firstBytes[pub])).map((p) => p.name + p.returnCode), ["CONNACK0"]);
  transport.keepFirst = false;

  // one buffer holding a batch of QoS 0 PUBLISH packets, encoded once
  const one = new Uint8Array(64);
  const len = encodePublishString(one, 0, "bench/t", "0123456789abcdef", 0, false, false, 0);
  const batch = new Uint8Array(len * PER_BATCH);
  for (let i = 0; i < PER_BATCH; i++) batch.set(one.subarray(0, len), i * len);

  const run = (batches: number): void => {
    for (let b = 0; b < batches; b++) {
      clock += 1;
      broker.data(pub, batch, 0, batch.length);
    }
  };

  // warm up: the JIT settles, scratch lists reach their size
  run(WARMUP_BATCHES);
  const warmed = transport.packets[sub];
  assert.is(warmed, 2 + WARMUP_BATCHES * PER_BATCH);

  const gcs: { kind: number; start: number }[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ kind: (e as any).detail?.kind ?? (e as any).kind, start: e.startTime });
  });
  obs.observe({ entryTypes: ["gc"] });

  gc();
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const newBefore = newSpaceUsed();
  const oldBefore = oldSpacesUsed();
  const t0 = performance.now();
  run(MESSAGES / PER_BATCH);
  const t1 = performance.now();
  const newAfter = newSpaceUsed();
  const oldAfter = oldSpacesUsed();
  gc();
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 20)); // GC entries are delivered asynchronously
  obs.disconnect();

  const during = gcs.filter((g) => g.start >= t0 && g.start <= t1);
  const minor = during.filter((g) => g.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR).length;
  const received = transport.packets[sub] - warmed;
  const ms = t1 - t0;
  const youngAllocated = newAfter - newBefore;
  console.log(
    `  alloc: ${received} messages delivered in ${ms.toFixed(0)} ms (${((received / ms) * 1000).toFixed(0)}/s); ` +
      `heapUsed after GC ${heapBefore} -> ${heapAfter} (${heapAfter - heapBefore >= 0 ? "+" : ""}${heapAfter - heapBefore} B); ` +
      `young-gen allocated during the run ${during.length === 0 ? youngAllocated + " B (" + (youngAllocated / (MESSAGES / PER_BATCH)).toFixed(1) + " B per data() call of " + PER_BATCH + " packets, " + (youngAllocated / MESSAGES).toFixed(3) + " B per message)" : "n/a (GC ran)"}, old spaces ${oldAfter - oldBefore >= 0 ? "+" : ""}${oldAfter - oldBefore} B; ` +
      `GCs during the run: ${during.length} (${minor} minor)`,
  );

  assert.is(received, MESSAGES, "the subscriber got every message");
  assert.is(broker.stats.publishDropped, 0);
  assert.ok(heapAfter - heapBefore < 1024 * 1024, `retained heap grew by ${heapAfter - heapBefore} B`);
  // the strong claim: nothing at all is allocated per message
  assert.is(minor, 0, "minor GCs during the run");
  assert.ok(during.length === 0 && youngAllocated < 64 * 1024, `young generation grew by ${youngAllocated} B over ${MESSAGES} messages`);
});

test.run();
