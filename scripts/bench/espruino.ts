/**
 * `npm run bench:espruino`: the firmware on the Espruino interpreter in
 * firmware/espruino/interpreter beside relay.js there (a byte-forwarding
 * "broker", no parsing, that bounds any broker inside that interpreter), for
 * several workloads in one run:
 *
 *   1. same-topic stream: 1 -> 1 QoS 0 on bench/t, 64-byte payloads, bursts;
 *   2. house: 4 publishers on 8 topics (house/<room>/temp|hum), QoS 0, short
 *      readings of varying length, a subscriber on `#` (the figure) and one
 *      on house/kitchen/temp (must see only its topic);
 *   3. QoS 1 1 -> 1, at most 4 unacknowledged (relay.js: streamed unacked);
 *   4. QoS 2 1 -> 1, likewise with PUBREC/PUBREL/PUBCOMP;
 *   5. per-packet answer times on an idle firmware (median of 7), no relay.
 *
 * Each of workloads 1-4 also runs against its least-work forwarder
 * (scripts/bench/least-work/), driven as the firmware is and held to the same
 * checks: the least any broker that forwards whole packets does there (framing,
 * routing, acknowledgements, packet ids, nothing else), which says how much of
 * relay.js's rate a goal asks of a broker at all.
 *
 * The firmware is flashed once and runs every workload on that one board
 * (clients reconnect between workloads; the board is given time to settle);
 * relay.js runs in a fresh interpreter per workload (it remembers one
 * subscriber). The load generator is raw TCP with pre-encoded packets and a
 * framing parser, so the client is not what limits the figures. Every wait
 * has a timeout; a workload that fails prints FAILED with the reason, the
 * others still run, and the exit status is non-zero.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { encodeAck, encodeConnect, encodePublishString, encodeSubscribe, encodeUnsubscribe } from "../../firmware/core/codec/encode";
import { flash } from "../../firmware/espruino/tools/flash";
import { DEFAULT_ESPRUINO, espruinoPath, killTree, startBoard } from "../../firmware/espruino/tools/process";

const PAYLOAD = "p".repeat(64);
const WINDOW_MS = Number(process.env.BENCH_MS || 8000);
/** Unacknowledged QoS 1/2 messages the publisher keeps at most (the board's maxInflight). */
const QOS_WINDOW = 4;
/** Samples per per-packet answer time. */
const SAMPLES = 7;
const RELAY_PORT = 1884;
/** Answer timeout for a single packet (the board answers in ~100 ms when idle). */
const ANSWER_MS = 10000;

// MQTT packet types (fixed header, high nibble)
const T_CONNACK = 2, T_PUBLISH = 3, T_PUBACK = 4, T_PUBREC = 5, T_PUBREL = 6, T_PUBCOMP = 7;
const T_SUBACK = 9, T_UNSUBACK = 11, T_PINGRESP = 13;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function packet(fill: (out: Uint8Array) => number): Buffer {
  const out = new Uint8Array(512);
  return Buffer.from(out.subarray(0, fill(out)));
}

const connect = (id: string) => packet((o) => encodeConnect(o, 0, {
  protocolName: "MQTT", protocolLevel: 4, clientId: id, cleanSession: true, keepalive: 0,
  username: undefined, password: undefined, willTopic: undefined, willMessage: undefined, willQos: 0, willRetain: false,
}));
const publish = (topic: string, payload: string, qos = 0, packetId = 0, retain = false) =>
  packet((o) => encodePublishString(o, 0, topic, payload, qos, retain, false, packetId));
const subscribe = (packetId: number, filter: string, qos = 0) => packet((o) => encodeSubscribe(o, 0, packetId, [filter], [qos]));
const unsubscribe = (packetId: number, filter: string) => packet((o) => encodeUnsubscribe(o, 0, packetId, [filter]));
const ack = (type: number, packetId: number) => packet((o) => encodeAck(o, 0, type, type === T_PUBREL ? 2 : 0, packetId));
const PINGREQ = Buffer.from([0xc0, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);

function open(port: number, ms = ANSWER_MS): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no TCP connection to port ${port} within ${ms} ms`)); }, ms);
    s.once("connect", () => { clearTimeout(t); resolve(s); });
    s.once("error", (e) => { clearTimeout(t); reject(e); });
    s.setNoDelay(true);
  });
}

function waitBytes(s: net.Socket, n: number, ms = 10000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const t = setTimeout(() => reject(new Error(`no answer (${got.length}/${n} bytes)`)), ms);
    const on = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) {
        clearTimeout(t);
        s.off("data", on);
        resolve(got);
      }
    };
    s.on("data", on);
  });
}

/** Write as fast as the socket takes it, waiting for it to drain but never past `end`. */
async function waitDrain(s: net.Socket, end: number): Promise<void> {
  await new Promise<void>((r) => {
    const t = setTimeout(done, Math.max(1, end - Date.now()));
    function done() { clearTimeout(t); s.off("drain", done); s.off("close", done); r(); }
    s.once("drain", done);
    s.once("close", done);
  });
}

/** Close with a TCP reset: whatever the board has not read yet is dropped, not worked through later. */
function reset(s: net.Socket): void {
  if (!s.destroyed) s.resetAndDestroy();
}

/** Publish as fast as the socket takes it for WINDOW_MS; count PUBLISH packets arriving at the subscriber. */
export async function measure(port: number): Promise<{ delivered: number; sent: number; perSecond: number }> {
  const sub = await open(port);
  sub.on("error", () => {});
  sub.write(connect("bench-sub"));
  await waitBytes(sub, 4);
  sub.write(packet((o) => encodeSubscribe(o, 0, 1, ["bench/t"], [0])));
  await waitBytes(sub, 5);
  const pub = await open(port);
  pub.on("error", () => {});
  pub.write(connect("bench-pub"));
  await waitBytes(pub, 4);
  const one = packet((o) => encodePublishString(o, 0, "bench/t", PAYLOAD, 0, false, false, 0));
  const burst = Buffer.concat(Array.from({ length: 16 }, () => one));
  let bytes = 0;
  sub.on("data", (d: Buffer) => { bytes += d.length; });
  let sent = 0;
  const start = Date.now();
  const end = start + WINDOW_MS;
  while (Date.now() < end && !pub.destroyed) {
    sent += 16;
    // the board stopped reading: wait for it, but never past the window
    if (!pub.write(burst)) await waitDrain(pub, end);
    // let the board breathe: a sender far ahead only fills socket buffers
    if (sent % 256 === 0) await new Promise((r) => setImmediate(r));
  }
  const elapsed = Date.now() - start;
  await sleep(500);
  reset(sub);
  reset(pub);
  const delivered = Math.floor(bytes / one.length);
  return { delivered, sent, perSecond: Math.round((delivered * 1000) / elapsed) };
}

// ---- a raw MQTT client: framing by fixed header, waits with timeouts ----

interface Packet {
  type: number;
  flags: number;
  body: Buffer;
}

interface Publish {
  topic: string;
  qos: number;
  retain: boolean;
  packetId: number;
  payload: Buffer;
}

function parsePublish(p: Packet): Publish {
  const n = p.body.readUInt16BE(0);
  const qos = (p.flags >> 1) & 3;
  const topic = p.body.toString("latin1", 2, 2 + n);
  const packetId = qos > 0 ? p.body.readUInt16BE(2 + n) : 0;
  return { topic, qos, retain: (p.flags & 1) === 1, packetId, payload: p.body.subarray(2 + n + (qos > 0 ? 2 : 0)) };
}

const packetId = (p: Packet) => (p.body.length >= 2 ? p.body.readUInt16BE(0) : -1);

interface Waiter {
  match: (p: Packet) => boolean;
  resolve: (p: Packet) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

class Client {
  /** Sees every packet first; returning true consumes it (it is not queued for `next`). */
  onPacket: ((p: Packet) => boolean) | null = null;
  /**
   * When set, a frame it rejects is not a packet: one byte is skipped and
   * framing starts again there (relay.js interleaves publishers' chunks).
   */
  check: ((first: number, body: Buffer) => boolean) | null = null;
  /** Longest remaining length believed while `check` is set. */
  maxLength = 1 << 20;
  bytes = 0;
  skipped = 0;
  /** Hex of the bytes where framing first failed the check. */
  firstSkipped = "";
  closed = false;
  private rest: Buffer | null = null;
  private queue: Packet[] = [];
  private waiters: Waiter[] = [];

  constructor(readonly sock: net.Socket, readonly name: string) {
    sock.on("data", (d: Buffer) => this.feed(d));
    sock.on("error", () => {});
    sock.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`${this.name}: the board closed the connection`));
      }
    });
  }

  static async connect(port: number, id: string, ms = ANSWER_MS): Promise<Client> {
    const c = new Client(await open(port, ms), id);
    try {
      c.write(connect(id));
      const ack = await c.next("CONNACK", (p) => p.type === T_CONNACK, ms);
      if (ack.body[1] !== 0) throw new Error(`${id}: CONNACK refused with code ${ack.body[1]}`);
      return c;
    } catch (e) {
      c.reset();
      throw e;
    }
  }

  write(b: Buffer): boolean {
    if (this.sock.destroyed) return false;
    return this.sock.write(b);
  }

  private feed(d: Buffer): void {
    this.bytes += d.length;
    const buf = this.rest !== null ? Buffer.concat([this.rest, d]) : d;
    let off = 0;
    for (;;) {
      if (buf.length - off < 2) break;
      let len = 0, mult = 1, i = 1, done = false;
      for (; i <= 4 && off + i < buf.length; i++) {
        const b = buf[off + i];
        len += (b & 127) * mult;
        mult *= 128;
        if (b < 128) { done = true; break; }
      }
      if (!done) {
        if (i <= 4) break; // remaining length not complete yet
        if (this.check !== null) { off++; this.skipped++; continue; }
        this.sock.destroy(new Error("malformed remaining length"));
        return;
      }
      if (this.check !== null && len > this.maxLength) { off++; this.skipped++; continue; }
      const start = off + i + 1;
      const end = start + len;
      if (end > buf.length) break;
      const body = buf.subarray(start, end);
      if (this.check !== null && !this.check(buf[off], body)) {
        if (this.firstSkipped === "") this.firstSkipped = buf.subarray(off, Math.min(end, off + 48)).toString("hex");
        off++;
        this.skipped++;
        continue;
      }
      this.deliver({ type: buf[off] >> 4, flags: buf[off] & 15, body });
      off = end;
    }
    this.rest = off < buf.length ? Buffer.from(buf.subarray(off)) : null;
  }

  private deliver(p: Packet): void {
    if (this.onPacket !== null && this.onPacket(p)) return;
    const i = this.waiters.findIndex((w) => w.match(p));
    if (i >= 0) {
      const w = this.waiters.splice(i, 1)[0];
      clearTimeout(w.timer);
      w.resolve(p);
      return;
    }
    this.queue.push(p);
    if (this.queue.length > 10000) this.queue.shift();
  }

  /** The first packet (queued or arriving) that matches, or an error naming it after `ms`. */
  next(what: string, match: (p: Packet) => boolean, ms = ANSWER_MS): Promise<Packet> {
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    if (this.closed) return Promise.reject(new Error(`${this.name}: connection closed while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        match, resolve, reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new Error(`${this.name}: no ${what} within ${ms} ms`));
        }, ms),
      };
      this.waiters.push(w);
    });
  }

  drop(): void {
    this.queue.length = 0;
  }

  async subscribe(id: number, filter: string, qos = 0, ms = ANSWER_MS): Promise<number> {
    this.write(subscribe(id, filter, qos));
    const p = await this.next(`SUBACK to ${filter}`, (q) => q.type === T_SUBACK && packetId(q) === id, ms);
    const code = p.body[2];
    if (code === 0x80) throw new Error(`${this.name}: SUBSCRIBE ${filter} refused (0x80)`);
    return code;
  }

  /** PINGREQ -> PINGRESP: everything sent before it on this connection has been handled. */
  async ping(ms = ANSWER_MS): Promise<void> {
    this.write(PINGREQ);
    await this.next("PINGRESP", (p) => p.type === T_PINGRESP, ms);
  }

  reset(): void {
    reset(this.sock);
  }

  /** DISCONNECT, then wait for the board to close its side (it has handled it), at most `ms`. */
  async close(ms = 3000): Promise<void> {
    if (this.closed) return;
    this.write(DISCONNECT);
    this.sock.end();
    const t0 = Date.now();
    while (!this.closed && Date.now() - t0 < ms) await sleep(10);
    this.sock.destroy();
  }
}

/**
 * Wait for the board to take a new client and answer its pings within a second:
 * what the last workload left is worked off (or was dropped). Returns the ms taken.
 */
async function settle(port: number, ms = 30000): Promise<number> {
  const t0 = Date.now();
  const deadline = t0 + ms;
  const left = () => Math.max(1000, deadline - Date.now());
  let last = "";
  while (Date.now() < deadline) {
    let c: Client | undefined;
    try {
      c = await Client.connect(port, "bench-probe", left());
      for (;;) {
        const p0 = Date.now();
        await c.ping(left());
        if (Date.now() - p0 < 1000) break;
        last = `PINGRESP after ${Date.now() - p0} ms`;
        if (Date.now() > deadline) throw new Error(last);
      }
      await c.close();
      await sleep(200);
      return Date.now() - t0;
    } catch (e) {
      c?.reset();
      last = (e as Error).message;
      await sleep(500);
    }
  }
  throw new Error(`the board did not settle within ${ms} ms: ${last}`);
}

/** Several bursts written in turn by one publisher. */
interface Burst {
  buf: Buffer;
  count: number;
}

/** Write bursts in turn as fast as the socket takes them until `end`; returns the packets written. */
async function blast(c: Client, bursts: Burst[], end: number, onBurst?: (b: Burst) => void): Promise<number> {
  let sent = 0, i = 0, since = 0;
  while (Date.now() < end && !c.closed) {
    const b = bursts[i];
    i = (i + 1) % bursts.length;
    const ok = c.write(b.buf);
    sent += b.count;
    since += b.count;
    if (onBurst) onBurst(b);
    if (!ok) await waitDrain(c.sock, end);
    if (since >= 256) {
      since = 0;
      await new Promise((r) => setImmediate(r));
    }
  }
  return sent;
}

// ---- workloads ----

export interface Throughput {
  perSecond: number;
  delivered: number;
  sent: number;
  /** Human-readable counts for the details section. */
  detail: string;
  /** A few words for the table row. */
  note?: string;
  /** Errors that make the run fail (wrong topic delivered, QoS 1/2 lost). */
  errors: string[];
}

function rate(n: number, ms: number): number {
  return Math.round((n * 1000) / Math.max(1, ms));
}

async function sameTopic(port: number): Promise<Throughput> {
  const r = await measure(port);
  return { ...r, detail: `${r.delivered} of ${r.sent} sent delivered`, errors: [], note: `${r.delivered} of ${r.sent}` };
}

const ROOMS = ["kitchen", "living", "bedroom", "bath"];
const HOUSE_TOPICS = ROOMS.flatMap((r) => [`house/${r}/temp`, `house/${r}/hum`]);
/** Readings, 3 to 9 characters. */
const READINGS = ["9.5", "21.5", "21.75", "9.125", "100.0625", "45.0", "18.25", "55.125", "3.14159", "1013.0625", "99.9", "20.0625"];
const KITCHEN = "house/kitchen/temp";

/** Packets per write of a house publisher. */
const HOUSE_BURST = 4;
/**
 * House packets written and not yet at the # subscriber, at most. Few: relay.js
 * forwards fastest with a short queue (at 1,000 it falls from ~4,000 msg/s to
 * ~250, its output piling up in JsVars), and the firmware works through
 * whatever it was sent, the next workload waiting.
 */
const HOUSE_AHEAD = 32;
/**
 * Silence at the # subscriber, with HOUSE_AHEAD packets out, after which those
 * count as dropped (QoS 0 may be) and more are written: at least this, and
 * twice the longest silence seen so far (the firmware writes nothing while it
 * has input left, so its deliveries come in batches, seconds apart).
 */
const HOUSE_STALL_MS = 3000;
/** After the window: how long stragglers are waited for at most (they tell dropped from late). */
const HOUSE_STRAGGLERS_MS = 10000;

/** Publisher `p`'s packets, 12 writes of 4: its two topics in turn, readings chosen by position. */
function houseBursts(p: number): Burst[] {
  const bursts: Burst[] = [];
  for (let b = 0; b < 48 / HOUSE_BURST; b++) {
    const parts: Buffer[] = [];
    for (let k = b * HOUSE_BURST; k < (b + 1) * HOUSE_BURST; k++) {
      const topic = `house/${ROOMS[p]}/${k % 2 === 0 ? "temp" : "hum"}`;
      parts.push(publish(topic, READINGS[(k * 5 + p * 3) % READINGS.length]));
    }
    bursts.push({ buf: Buffer.concat(parts), count: HOUSE_BURST });
  }
  return bursts;
}

/** What the board should forward: a QoS 0 PUBLISH to a house topic carrying a reading. */
function houseFrame(first: number, body: Buffer): boolean {
  if (first !== 0x30 || body.length < 2) return false;
  const n = body.readUInt16BE(0);
  if (2 + n > body.length) return false;
  const topic = body.toString("latin1", 2, 2 + n);
  return HOUSE_TOPICS.indexOf(topic) >= 0 && READINGS.indexOf(body.toString("latin1", 2 + n)) >= 0;
}

export async function house(port: number, relay: boolean): Promise<Throughput> {
  const clients: Client[] = [];
  try {
    // the single-topic subscriber first, `#` last: relay.js forwards to the last one only
    const kitchen = await Client.connect(port, "house-sub-kitchen");
    clients.push(kitchen);
    await kitchen.subscribe(1, KITCHEN);
    const all = await Client.connect(port, "house-sub-all");
    clients.push(all);
    await all.subscribe(1, "#");
    const pubs: Client[] = [];
    for (let p = 0; p < ROOMS.length; p++) {
      const c = await Client.connect(port, `house-pub-${ROOMS[p]}`);
      clients.push(c);
      pubs.push(c);
    }
    let got = 0, kitchenGot = 0, kitchenWrong = 0, counting = true;
    const wrongTopics = new Set<string>();
    all.drop();
    kitchen.drop();
    all.check = houseFrame;
    all.maxLength = 64;
    all.skipped = 0;
    let framed = 0;
    all.onPacket = () => { framed++; if (counting) got++; return true; };
    kitchen.onPacket = (p) => {
      if (!counting) return true;
      if (p.type === T_PUBLISH && parsePublish(p).topic === KITCHEN) kitchenGot++;
      else {
        kitchenWrong++;
        if (p.type === T_PUBLISH) wrongTopics.add(parsePublish(p).topic);
      }
      return true;
    };
    const bursts = pubs.map((_, p) => houseBursts(p));
    const kitchenPerBurst = new Map<Burst, number>();
    for (const bs of bursts) {
      for (const b of bs) {
        let k = 0;
        for (let off = 0; off < b.buf.length;) {
          const n = b.buf[off + 1];
          if (b.buf.toString("latin1", off + 4, off + 4 + b.buf.readUInt16BE(off + 2)) === KITCHEN) k++;
          off += 2 + n;
        }
        kitchenPerBurst.set(b, k);
      }
    }
    // The publishers take turns writing 4 packets each, keeping at most HOUSE_AHEAD packets
    // ahead of the # subscriber: blasting 4 sockets only fills kernel buffers (megabytes the
    // board works through long after the window) and takes the load generator's core.
    // Arrivals are counted in bytes (relay.js cuts packets where two publishers' chunks meet).
    let cycleBytes = 0, cyclePackets = 0;
    for (const bs of bursts) for (const b of bs) { cycleBytes += b.buf.length; cyclePackets += b.count; }
    const meanLength = cycleBytes / cyclePackets;
    const bytes0 = all.bytes;
    const arrived = () => (all.bytes - bytes0) / meanLength;
    let kitchenSent = 0, sent = 0, writtenOff = 0, turn = 0, lastArrival = Date.now(), longestGap = 0, writeOffs = 0;
    let wake: (() => void) | null = null;
    all.sock.on("data", () => {
      longestGap = Math.max(longestGap, Date.now() - lastArrival);
      lastArrival = Date.now();
      if (wake !== null) wake();
    });
    const next = pubs.map(() => 0);
    const start = Date.now();
    const end = start + WINDOW_MS;
    while (Date.now() < end) {
      const now = Date.now();
      const ahead = sent - arrived() - writtenOff;
      if (ahead + HOUSE_BURST > HOUSE_AHEAD) {
        // nothing arrives any more: count what is out as dropped
        if (now - lastArrival > Math.max(HOUSE_STALL_MS, 2 * longestGap)) {
          writtenOff += ahead;
          writeOffs++;
          lastArrival = now;
          continue;
        }
        await new Promise<void>((r) => {
          const t = setTimeout(() => { wake = null; r(); }, Math.max(1, Math.min(20, end - now)));
          wake = () => { wake = null; clearTimeout(t); r(); };
        });
        continue;
      }
      const p = turn++ % pubs.length;
      if (pubs[p].closed) throw new Error(`the board closed publisher house-pub-${ROOMS[p]}`);
      const b = bursts[p][next[p]];
      next[p] = (next[p] + 1) % bursts[p].length;
      pubs[p].write(b.buf);
      sent += b.count;
      kitchenSent += kitchenPerBurst.get(b)!;
    }
    const elapsed = Date.now() - start;
    await sleep(500);
    counting = false;
    // what still comes was late, not dropped (and is then not left for the next workload)
    const stragglersUntil = Date.now() + HOUSE_STRAGGLERS_MS;
    // (relay.js: counted in bytes, it cuts packets; the firmware: whole packets)
    const total = () => (relay ? arrived() : framed);
    while (total() < sent - 0.5 && Date.now() < stragglersUntil && Date.now() - lastArrival < Math.max(HOUSE_STALL_MS, 2 * longestGap)) await sleep(50);
    const dropped = Math.max(0, Math.round(sent - total()));
    // relay.js interleaves the publishers' chunks, cutting packets: count those bytes as the average packet
    const cut = relay ? Math.round(all.skipped / meanLength) : 0;
    const delivered = got + cut;
    const errors: string[] = [];
    if (!relay && kitchenWrong > 0) errors.push(`the house/kitchen/temp subscriber got ${kitchenWrong} other packets (${[...wrongTopics].slice(0, 4).join(", ")})`);
    if (!relay && all.skipped > 0) errors.push(`the # subscriber got ${all.skipped} bytes that are no house PUBLISH (first: ${all.firstSkipped})`);
    let detail = `# got ${delivered} of ${sent} sent`;
    if (relay) detail += ` (${got} whole, ~${cut} cut where chunks of two publishers meet)`;
    else detail += `; house/kitchen/temp got ${kitchenGot} of ${kitchenSent} sent, ${kitchenWrong} of other topics`;
    if (writeOffs > 0) detail += `; ${writeOffs} times nothing came for ${Math.round(Math.max(HOUSE_STALL_MS, 2 * longestGap) / 100) / 10} s and more was written`;
    detail += `; ${Math.max(0, Math.round(total()) - delivered)} arrived after the window, ${dropped} never`;
    if (!relay && all.closed) errors.push("the board closed the # subscriber");
    if (!relay && kitchen.closed) errors.push("the board closed the house/kitchen/temp subscriber");
    const note = relay ? "" : `kitchen sub ${kitchenGot}/${kitchenSent}, ${kitchenWrong} wrong; dropped ${dropped}`;
    return { perSecond: rate(delivered, elapsed), delivered, sent, detail, errors, note };
  } finally {
    for (const c of clients) c.reset();
  }
}

/** A 64-byte payload naming its message. */
const seqPayload = (seq: number) => `${seq}:`.padEnd(64, "p");
const payloadSeq = (b: Buffer) => parseInt(b.toString("latin1", 0, Math.max(0, b.indexOf(58))), 10);

/** A subscriber that acknowledges what it gets at QoS 1 (PUBACK) or 2 (PUBREC, then PUBCOMP to PUBREL). */
function acker(c: Client, onPublish: (p: Publish) => void): void {
  c.onPacket = (p) => {
    if (p.type === T_PUBLISH) {
      const m = parsePublish(p);
      if (m.qos === 1) c.write(ack(T_PUBACK, m.packetId));
      else if (m.qos === 2) c.write(ack(T_PUBREC, m.packetId));
      onPublish(m);
      return true;
    }
    if (p.type === T_PUBREL) {
      c.write(ack(T_PUBCOMP, packetId(p)));
      return true;
    }
    return false;
  };
}

/** QoS 1/2 1 -> 1 through the firmware: at most QOS_WINDOW unfinished messages; none may be lost. */
async function qosWindowed(port: number, qos: 1 | 2): Promise<Throughput> {
  const topic = `bench/q${qos}`;
  const clients: Client[] = [];
  try {
    const sub = await Client.connect(port, `q${qos}-sub`);
    clients.push(sub);
    const granted = await sub.subscribe(1, topic, qos);
    if (granted !== qos) throw new Error(`SUBSCRIBE at QoS ${qos} granted QoS ${granted}`);
    const pub = await Client.connect(port, `q${qos}-pub`);
    clients.push(pub);
    const seen = new Map<number, number>();
    let inWindow = 0, duplicates = 0, wrong = 0, windowOpen = true;
    acker(sub, (m) => {
      const seq = payloadSeq(m.payload);
      if (m.topic !== topic || m.qos !== qos || !(seq >= 0)) { wrong++; return; }
      const n = seen.get(seq) ?? 0;
      seen.set(seq, n + 1);
      if (n > 0) duplicates++;
      else if (windowOpen) inWindow++;
    });
    const inflight = new Map<number, number>(); // packet id -> seq
    let nextSeq = 0, nextId = 1, done = 0, lastProgress = Date.now();
    const start = Date.now();
    const end = start + WINDOW_MS;
    const pump = () => {
      while (inflight.size < QOS_WINDOW && Date.now() < end && !pub.closed) {
        const id = nextId;
        nextId = nextId === 65535 ? 1 : nextId + 1;
        inflight.set(id, nextSeq);
        pub.write(publish(topic, seqPayload(nextSeq++), qos, id));
      }
    };
    pub.onPacket = (p) => {
      const id = packetId(p);
      if (qos === 1 && p.type === T_PUBACK && inflight.delete(id)) done++;
      else if (qos === 2 && p.type === T_PUBREC && inflight.has(id)) pub.write(ack(T_PUBREL, id));
      else if (qos === 2 && p.type === T_PUBCOMP && inflight.delete(id)) done++;
      else return false;
      lastProgress = Date.now();
      pump();
      return true;
    };
    pump();
    while (Date.now() < end && !pub.closed && !sub.closed) {
      await sleep(Math.min(100, Math.max(1, end - Date.now())));
      if (Date.now() - lastProgress > ANSWER_MS) throw new Error(`no ${qos === 1 ? "PUBACK" : "PUBCOMP"} for ${ANSWER_MS} ms (${done} done)`);
    }
    const elapsed = Date.now() - start;
    windowOpen = false;
    // the messages still unfinished: give them time to finish and arrive
    const grace = Date.now() + ANSWER_MS;
    while ((inflight.size > 0 || seen.size < nextSeq) && Date.now() < grace && !pub.closed && !sub.closed) await sleep(50);
    const lost = nextSeq - seen.size;
    const errors: string[] = [];
    if (lost > 0) errors.push(`QoS ${qos}: ${lost} of ${nextSeq} messages never reached the subscriber`);
    if (inflight.size > 0) errors.push(`QoS ${qos}: ${inflight.size} PUBLISH never ${qos === 1 ? "got a PUBACK" : "completed (PUBREC/PUBCOMP)"} within ${ANSWER_MS} ms after the window`);
    if (wrong > 0) errors.push(`QoS ${qos}: ${wrong} deliveries with the wrong topic, QoS or payload`);
    if (pub.closed || sub.closed) errors.push(`QoS ${qos}: the board closed the ${pub.closed ? "publisher" : "subscriber"}`);
    return {
      perSecond: rate(inWindow, elapsed), delivered: inWindow, sent: nextSeq, errors, note: `lost ${lost}`,
      detail: `${inWindow} delivered in the window, ${seen.size} of ${nextSeq} sent by the end, ${done} ${qos === 1 ? "PUBACKed" : "PUBCOMPed"}, ` +
        `${inflight.size} unfinished, ${duplicates} duplicates, lost ${lost}`,
    };
  } finally {
    for (const c of clients) c.reset();
  }
}

/** QoS 1/2 PUBLISHes through relay.js, streamed without waiting for acks (it never sends any). */
async function qosStream(port: number, qos: 1 | 2): Promise<Throughput> {
  const topic = `bench/q${qos}`;
  const clients: Client[] = [];
  try {
    const sub = await Client.connect(port, `q${qos}-sub`);
    clients.push(sub);
    await sub.subscribe(1, topic, qos);
    const pub = await Client.connect(port, `q${qos}-pub`);
    clients.push(pub);
    let got = 0;
    acker(sub, () => { got++; });
    const parts: Buffer[] = [];
    for (let i = 0; i < 16; i++) parts.push(publish(topic, seqPayload(i), qos, i + 1));
    const start = Date.now();
    const sent = await blast(pub, [{ buf: Buffer.concat(parts), count: 16 }], start + WINDOW_MS);
    const elapsed = Date.now() - start;
    await sleep(500);
    const delivered = got;
    return { perSecond: rate(delivered, elapsed), delivered, sent, errors: [], detail: `${delivered} of ${sent} streamed delivered (no acks)` };
  } finally {
    for (const c of clients) c.reset();
  }
}

// ---- per-packet answer times (firmware, idle) ----

export interface Answer {
  label: string;
  goalMs: number;
  /** Median, ms; undefined when it failed. */
  medianMs?: number;
  samples: number[];
  error?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function samples(n: number, one: (i: number) => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await one(i));
    await sleep(50);
  }
  return out;
}

async function timed(write: () => void, answer: Promise<unknown>[] | (() => Promise<unknown>[])): Promise<number> {
  const t0 = performance.now();
  write();
  const waits = typeof answer === "function" ? answer() : answer;
  // the first failure is reported; the other waits must not end as unhandled rejections
  for (const w of waits) w.catch(() => {});
  await Promise.all(waits);
  return performance.now() - t0;
}

/** Each row with the clients it needs, closed afterwards (the board takes 8 clients). */
async function answers(port: number): Promise<Answer[]> {
  const rows: Answer[] = [];
  const row = async (label: string, goalMs: number, run: (clients: Client[]) => Promise<number[]>) => {
    const clients: Client[] = [];
    try {
      const s = await run(clients);
      rows.push({ label, goalMs, medianMs: median(s), samples: s });
    } catch (e) {
      rows.push({ label, goalMs, samples: [], error: (e as Error).message });
    } finally {
      for (const c of clients) await c.close();
      await sleep(200);
    }
  };
  const client = async (clients: Client[], id: string) => {
    const c = await Client.connect(port, id);
    clients.push(c);
    return c;
  };

  await row("CONNECT -> CONNACK", 30, (clients) => samples(SAMPLES, async (i) => {
    const c = new Client(await open(port), `lat-connect-${i}`);
    clients.push(c);
    const ms = await timed(() => c.write(connect(`lat-connect-${i}`)), () => [c.next("CONNACK", (p) => p.type === T_CONNACK)]);
    await c.close();
    return ms;
  }));

  await row("SUBSCRIBE -> SUBACK", 30, async (clients) => {
    const c = await client(clients, "lat-sub");
    return samples(SAMPLES, (i) => timed(() => c.write(subscribe(i + 1, `lat/new/${i}`)),
      () => [c.next("SUBACK", (p) => p.type === T_SUBACK && packetId(p) === i + 1)]));
  });

  await row("SUBSCRIBE with 4 retained", 60, async (clients) => {
    const c = await client(clients, "lat-retained");
    const names = ["a", "b", "c", "d"];
    return samples(SAMPLES, async (i) => {
      for (const n of names) c.write(publish(`ret/${i}/${n}`, READINGS[names.indexOf(n)], 0, 0, true));
      await c.ping();
      const filter = `ret/${i}/#`;
      const ms = await timed(() => c.write(subscribe(100 + i, filter)), () => [
        c.next("SUBACK", (p) => p.type === T_SUBACK && packetId(p) === 100 + i),
        ...names.map((n) => c.next(`retained ret/${i}/${n}`, (p) => p.type === T_PUBLISH && (p.flags & 1) === 1 && parsePublish(p).topic === `ret/${i}/${n}`)),
      ]);
      // leave no subscription and no retained message behind
      c.write(unsubscribe(200 + i, filter));
      await c.next("UNSUBACK", (p) => p.type === T_UNSUBACK && packetId(p) === 200 + i);
      for (const n of names) c.write(publish(`ret/${i}/${n}`, "", 0, 0, true));
      await c.ping();
      c.drop();
      return ms;
    });
  });

  const qos0 = (label: string, topic: (i: number) => string) => row(label, 30, async (clients) => {
    const sub = await client(clients, "lat-q0-sub");
    await sub.subscribe(1, "house/+/temp");
    const pub = await client(clients, "lat-q0-pub");
    return samples(SAMPLES, (i) => timed(() => pub.write(publish(topic(i), READINGS[i % READINGS.length])),
      () => [sub.next(`PUBLISH ${topic(i)}`, (p) => p.type === T_PUBLISH && parsePublish(p).topic === topic(i))]));
  });
  await qos0("PUBLISH QoS 0 delivered", (i) => `house/room${i}/temp`);
  await qos0("PUBLISH QoS 0 delivered, repeated topic", () => "house/room/temp");

  await row("PUBLISH QoS 1 delivered + PUBACK", 30, async (clients) => {
    const sub = await client(clients, "lat-q1-sub");
    if (await sub.subscribe(1, "lat/q1", 1) !== 1) throw new Error("SUBSCRIBE at QoS 1 not granted QoS 1");
    sub.onPacket = (p) => {
      if (p.type === T_PUBLISH) sub.write(ack(T_PUBACK, parsePublish(p).packetId));
      return false;
    };
    const pub = await client(clients, "lat-q1-pub");
    return samples(SAMPLES, (i) => timed(() => pub.write(publish("lat/q1", seqPayload(i), 1, i + 1)), () => [
      sub.next("PUBLISH lat/q1", (p) => p.type === T_PUBLISH && payloadSeq(parsePublish(p).payload) === i),
      pub.next("PUBACK", (p) => p.type === T_PUBACK && packetId(p) === i + 1),
    ]));
  });

  await row("PINGREQ -> PINGRESP", 30, async (clients) => {
    const c = await client(clients, "lat-ping");
    return samples(SAMPLES, () => timed(() => c.write(PINGREQ), () => [c.next("PINGRESP", (p) => p.type === T_PINGRESP)]));
  });
  return rows;
}

// ---- running it all ----

interface Workload {
  label: string;
  /** Goal for firmware/relay, when there is one. */
  goalRatio?: number;
  /** Leaves the board a backlog it works through long after: run it last on the board. */
  floods?: boolean;
  firmware: (port: number) => Promise<Throughput>;
  relay: (port: number) => Promise<Throughput>;
  /**
   * The least-work forwarder for this workload (scripts/bench/least-work/), driven exactly as
   * the firmware is and held to the same checks: what any broker that forwards whole packets
   * must at least do there, so the goal and the firmware can be read against what is possible.
   */
  leastWork: string;
}

const ALL_WORKLOADS: Workload[] = [
  { label: "same-topic stream QoS 0", goalRatio: 0.35, floods: true, firmware: sameTopic, relay: sameTopic, leastWork: "stream.js" },
  // the goals of issue 12, as ratios to relay.js in the same run
  { label: "house (4 pub, 8 topics, QoS 0)", goalRatio: 0.1, firmware: (p) => house(p, false), relay: (p) => house(p, true), leastWork: "house.js" },
  { label: "QoS 1 1->1 (window 4)", goalRatio: 0.05, firmware: (p) => qosWindowed(p, 1), relay: (p) => qosStream(p, 1), leastWork: "qos.js" },
  { label: "QoS 2 1->1 (window 4)", goalRatio: 0.02, firmware: (p) => qosWindowed(p, 2), relay: (p) => qosStream(p, 2), leastWork: "qos.js" },
];

/**
 * BENCH_ONLY=stream,house (words of the labels, and "answers" for the per-packet
 * table) runs only those: for a quick look while working; the figures for a note
 * come from a whole run.
 */
const ONLY = (process.env.BENCH_ONLY || "").split(",").map((w) => w.trim().toLowerCase()).filter(Boolean);
const WORKLOADS = ALL_WORKLOADS.filter((w) => ONLY.length === 0 || ONLY.some((word) => w.label.toLowerCase().includes(word)));
const RUN_ANSWERS = ONLY.length === 0 || ONLY.includes("answers");

type Outcome = { ok: true; r: Throughput } | { ok: false; error: string };

async function attempt(what: string, ms: number, run: () => Promise<Throughput>): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      run(),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms); }),
    ]);
    return { ok: true, r };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

const RELAY_JS = path.join(path.dirname(DEFAULT_ESPRUINO), "relay.js");
const LEAST_WORK = path.join(__dirname, "least-work");

/** relay.js, or a least-work forwarder (greet.js in front of it), in a fresh interpreter on RELAY_PORT. */
async function startRelay(file = RELAY_JS): Promise<{ proc: ChildProcess; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "espruino-relay-"));
  let run = file;
  if (path.dirname(file) === LEAST_WORK) {
    run = path.join(dir, path.basename(file));
    fs.writeFileSync(run, fs.readFileSync(path.join(LEAST_WORK, "greet.js"), "utf8") + "\n" + fs.readFileSync(file, "utf8"));
  }
  const proc = spawn(espruinoPath(), [run], { cwd: dir, stdio: ["pipe", "pipe", "pipe"], detached: true });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const t = setTimeout(() => reject(new Error(`${path.basename(file)} did not start: ${out}`)), 30000);
      proc.once("exit", () => { clearTimeout(t); reject(new Error(`${path.basename(file)} exited: ${out}`)); });
      const on = (d: Buffer) => {
        out += d.toString();
        if (out.indexOf("relay listening") >= 0) {
          clearTimeout(t);
          resolve();
        }
      };
      proc.stdout!.on("data", on);
      proc.stderr!.on("data", on);
    });
  } catch (e) {
    await killTree(proc, dir);
    throw e;
  }
  return { proc, dir };
}

export interface EspruinoBench {
  /** Same-topic stream, firmware msg/s (0 when it failed). */
  broker: number;
  /** Same-topic stream, relay.js msg/s. */
  relay: number;
  ratio: number;
  workloads: { label: string; firmware: Outcome; relay: Outcome; leastWork: Outcome }[];
  answers: Answer[];
  /** Everything that failed or went wrong; empty when the run is clean. */
  failures: string[];
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s);
const short = (s: string) => { const one = s.replace(/\s+/g, " "); return one.length > 160 ? `${one.slice(0, 157)}...` : one; };

export async function benchEspruino(log: (l: string) => void = console.log): Promise<EspruinoBench> {
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
  const budget = WINDOW_MS + 90000;
  const fw: Outcome[] = new Array(WORKLOADS.length);
  let answerRows: Answer[] = [];
  const failures: string[] = [];

  // the firmware, flashed once as on a board; every workload against that board
  log(`flashing the firmware onto the interpreter (${WINDOW_MS} ms windows)`);
  let board: Awaited<ReturnType<typeof startBoard>> | undefined;
  try {
    board = await startBoard("telnet");
    const up = await flash({ port: "tcp://127.0.0.1:2323", board: "espruino-linux", out: () => {} });
    log(`  broker up on port ${up.port} (${elapsed()})`);
    try {
      await settle(up.port);
      if (RUN_ANSWERS) {
        answerRows = await answers(up.port);
        log(`  per-packet answers done (${elapsed()})`);
      }
    } catch (e) {
      answerRows = [{ label: "per-packet answers", goalMs: 30, samples: [], error: (e as Error).message }];
    }
    // the same-topic stream last: its publisher fills megabytes of socket buffers, which the
    // board keeps working through after the connection is reset (minutes at the firmware's rate)
    const order = WORKLOADS.map((_, i) => i).sort((a, b) => Number(WORKLOADS[a].floods === true) - Number(WORKLOADS[b].floods === true));
    for (const i of order) {
      const w = WORKLOADS[i];
      let o: Outcome;
      try {
        const took = await settle(up.port);
        if (took > 2000) log(`  (the board took ${(took / 1000).toFixed(1)} s to settle before ${w.label})`);
        o = await attempt(`firmware ${w.label}`, budget, () => w.firmware(up.port));
      } catch (e) {
        o = { ok: false, error: (e as Error).message };
      }
      fw[i] = o;
      log(`  firmware ${w.label}: ${o.ok ? `${o.r.perSecond} msg/s, ${o.r.detail}` : `FAILED: ${o.error}`} (${elapsed()})`);
    }
  } catch (e) {
    const why = `the firmware did not come up: ${(e as Error).message}`;
    WORKLOADS.forEach((_, i) => { if (fw[i] === undefined) fw[i] = { ok: false, error: why }; });
    if (answerRows.length === 0 && RUN_ANSWERS) answerRows = [{ label: "per-packet answers", goalMs: 30, samples: [], error: why }];
  } finally {
    if (board) await board.kill();
  }

  // relay.js from the in-repo interpreter folder and the workload's least-work forwarder, each in
  // a fresh interpreter per workload, one after the other (so both see the machine's same moment)
  const rl: Outcome[] = [];
  const lw: Outcome[] = [];
  const runForwarder = async (name: string, file: string, run: () => Promise<Throughput>): Promise<Outcome> => {
    let o: Outcome;
    try {
      const r = await startRelay(file);
      try {
        o = await attempt(name, budget, run);
      } finally {
        await killTree(r.proc, r.dir);
      }
    } catch (e) {
      o = { ok: false, error: (e as Error).message };
    }
    log(`  ${name}: ${o.ok ? `${o.r.perSecond} msg/s, ${o.r.detail}` : `FAILED: ${o.error}`} (${elapsed()})`);
    return o;
  };
  for (const w of WORKLOADS) {
    rl.push(await runForwarder(`relay.js ${w.label}`, RELAY_JS, () => w.relay(RELAY_PORT)));
    lw.push(await runForwarder(`least-work ${w.label}`, path.join(LEAST_WORK, w.leastWork), () => w.firmware(RELAY_PORT)));
  }

  // the table
  log("");
  if (ONLY.length > 0) log(`BENCH_ONLY=${ONLY.join(",")}: a part of the bench only`);
  log(`espruino bench, ${WINDOW_MS} ms windows (interpreter under ${os.arch() === "x64" ? "qemu-i386" : os.arch()}), ${elapsed()} in all`);
  log(`${pad("workload", 36)}${lpad("firmware", 9)}${lpad("relay.js", 10)}${lpad("ratio", 8)}   ${pad("goal", 16)}${lpad("least-work", 11)}${lpad("its ratio", 10)}${lpad("firmware of it", 16)}   notes`);
  const workloads: EspruinoBench["workloads"] = [];
  let broker = 0, relay = 0, ratio = 0;
  const num = (o: Outcome) => (o.ok ? String(o.r.perSecond) : "FAILED");
  const of = (a: Outcome, b: Outcome) => (a.ok && b.ok && b.r.perSecond > 0 ? a.r.perSecond / b.r.perSecond : undefined);
  const fmt = (q: number | undefined) => (q !== undefined ? (q >= 0.1 || q === 0 ? q.toFixed(2) : q.toPrecision(2)) : "-");
  WORKLOADS.forEach((w, i) => {
    const f = fw[i], r = rl[i], l = lw[i];
    workloads.push({ label: w.label, firmware: f, relay: r, leastWork: l });
    const q = of(f, r);
    let goal = w.goalRatio !== undefined ? `>= ${w.goalRatio}x` : "-";
    if (w.goalRatio !== undefined && q !== undefined) goal += q >= w.goalRatio ? " met" : " not met";
    const notes: string[] = [];
    if (f.ok && f.r.note) notes.push(f.r.note);
    if (f.ok && f.r.errors.length > 0) notes.push(`ERROR: ${short(f.r.errors.join("; "))}`);
    if (!f.ok) notes.push(`firmware FAILED: ${short(f.error)}`);
    if (!r.ok) notes.push(`relay.js FAILED: ${short(r.error)}`);
    if (!l.ok) notes.push(`least-work FAILED: ${short(l.error)}`);
    if (l.ok && l.r.errors.length > 0) notes.push(`least-work ERROR: ${short(l.r.errors.join("; "))}`);
    log(`${pad(w.label, 36)}${lpad(num(f), 9)}${lpad(num(r), 10)}${lpad(fmt(q), 8)}   ${pad(goal, 16)}${lpad(num(l), 11)}${lpad(fmt(of(l, r)), 10)}${lpad(fmt(of(f, l)), 16)}   ${notes.join("; ")}`);
    if (i === 0) {
      broker = f.ok ? f.r.perSecond : 0;
      relay = r.ok ? r.r.perSecond : 0;
      ratio = q ?? 0;
    }
    if (!f.ok) failures.push(`firmware ${w.label}: ${f.error}`);
    else for (const e of f.r.errors) failures.push(`firmware ${w.label}: ${e}`);
    if (!r.ok) failures.push(`relay.js ${w.label}: ${r.error}`);
    if (!l.ok) failures.push(`least-work ${w.label}: ${l.error}`);
    else for (const e of l.r.errors) failures.push(`least-work ${w.label}: ${e}`);
  });
  log("ratio: firmware / relay.js; its ratio: least-work / relay.js; firmware of it: firmware / least-work. The least-work");
  log("forwarders (scripts/bench/least-work/) do only what these packets need, as whole packets, checked as the firmware is.");
  log("");
  log(`${pad(`per-packet answer, firmware idle (median of ${SAMPLES})`, 55)}${lpad("ms", 8)}   goal`);
  for (const a of answerRows) {
    const v = a.medianMs !== undefined ? a.medianMs.toFixed(1) : "FAILED";
    const met = a.medianMs !== undefined ? (a.medianMs <= a.goalMs ? "  met" : "  not met") : "";
    log(`${pad(a.label, 55)}${lpad(v, 8)}   <= ${a.goalMs}${met}${a.error !== undefined ? `  ${short(a.error)}` : ""}`);
    if (a.error !== undefined) failures.push(`answer ${a.label}: ${a.error}`);
  }
  log("");
  log("details:");
  WORKLOADS.forEach((w, i) => {
    const f = fw[i], r = rl[i], l = lw[i];
    log(`  ${w.label}`);
    log(`    firmware: ${f.ok ? f.r.detail : `FAILED: ${f.error}`}`);
    if (f.ok) for (const e of f.r.errors) log(`    firmware ERROR: ${e}`);
    log(`    relay.js: ${r.ok ? r.r.detail : `FAILED: ${r.error}`}`);
    log(`    least-work: ${l.ok ? l.r.detail : `FAILED: ${l.error}`}`);
    if (l.ok) for (const e of l.r.errors) log(`    least-work ERROR: ${e}`);
  });
  for (const a of answerRows) {
    log(`  ${a.label}: ${a.error !== undefined ? `FAILED: ${a.error}` : `samples ${a.samples.map((s) => s.toFixed(1)).join(", ")} ms`}`);
  }
  if (failures.length > 0) {
    log("");
    log(`${failures.length} failure(s):`);
    for (const f of failures) log(`  ${f}`);
  }
  return { broker, relay, ratio, workloads, answers: answerRows, failures };
}

if (require.main === module) {
  benchEspruino().then((r) => process.exit(r.failures.length > 0 ? 1 : 0), (e) => {
    console.error(`bench:espruino: ${(e as Error).message}`);
    process.exit(1);
  });
}
