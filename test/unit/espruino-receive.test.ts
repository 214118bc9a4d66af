/**
 * The Espruino adapter's receive path (firmware/espruino/receive.ts), run on
 * Node: the fast path that forwards runs of a publisher's repeated QoS 0
 * packets whole must leave every client with exactly the bytes, and the
 * broker with exactly the counters, that parsing every packet gives.
 *
 * Two brokers get the same seeded script: one fed through the parser only
 * (maxRoutes 0), one through receive() (maxRoutes 16). The publisher's
 * stream (mostly one topic and size, with other sizes, topics, QoS 1,
 * retained messages and pings mixed in) is cut into random chunks, while
 * other clients subscribe, unsubscribe, come and go between chunks.
 *
 * The house tests do the same with users and ACLs, the payload and topic
 * limits, `$` topics and $SYS, QoS 1/2 answered by the subscribers,
 * persistent sessions, full queues and congestion; then a few scripts step
 * by step. The last block holds the cases where the two parted once (fixed in receive.ts).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { makePasswordEntry } from "../../firmware/core/auth/passwords";
import {
  ACCESS_NONE, ACCESS_READ, ACCESS_READWRITE, ACCESS_WRITE, AclRule, AclTable, AuthConfig, PasswordEntry,
} from "../../firmware/core/auth/types";
import { Broker } from "../../firmware/core/broker/broker";
import { routeKey } from "../../firmware/core/broker/route_cache";
import { publishSys } from "../../firmware/core/broker/sys_tree";
import { DISCONNECT, PINGREQ, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL } from "../../firmware/core/codec/constants";
import { receive, Receiver, streamed } from "../../firmware/espruino/receive";
import { Bytes, Transport } from "../../firmware/core/platform";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { nodeHashes } from "../../host-sim/hashes";
import { nodePlatform } from "../../host-sim/platform";
import {
  ackBytes, ClientOptions, connectBytes, publishBytes, subscribeBytes, unsubscribeBytes, utf8,
} from "../support/sim-client";

/** Every byte each connection was sent, in order, whichever way it went out. */
class Wire implements Transport {
  out: { [id: number]: number[] } = {};
  socks: { [key: string]: { write(s: string): void } } = {};
  queue: { [key: string]: number } = {};
  written = 0;
  /** Strings written by the fast path, and their bytes. */
  rawWrites = 0;
  rawBytes = 0;
  open(id: number): void {
    this.out[id] = [];
    this.queue["s" + id] = 0;
    this.socks["s" + id] = {
      write: (s: string) => {
        this.rawWrites++;
        this.rawBytes += s.length;
        for (let i = 0; i < s.length; i++) this.out[id].push(s.charCodeAt(i));
      },
    };
  }
  send(id: number, buf: Bytes, off: number, len: number): boolean {
    if (this.out[id] === undefined) return false;
    for (let i = 0; i < len; i++) this.out[id].push(buf[off + i]);
    if (this.queue["s" + id] !== undefined) this.queue["s" + id] += len;
    return true;
  }
  /** Writes of two pieces as one (BoardWire). */
  twoWrites = 0;
  /** The connections the broker closed, in order. */
  closedIds: number[] = [];
  close(id: number): void {
    delete this.socks["s" + id];
    this.closedIds.push(id);
  }
  /** Connections whose queue is reported full (the house tests), on both sides alike. */
  full: { [id: number]: boolean } = {};
  /**
   * As main.ts's NetTransport (set by the house tests): what a socket queued since its last
   * 'drain' (the fast path adds its own writes to `queue`), reported only while congested or
   * for a send that can wait. Otherwise nothing is reported queued.
   */
  likeMain = false;
  congested = false;
  /** How often a queue was reported past `bound` (the profile's maxSendQueueBytes) that way. */
  overBound = 0;
  bound = 0;
  queued(id: number, waiting?: boolean): number {
    if (this.full[id] === true) return FULL_QUEUE;
    const q = this.queue["s" + id];
    if (!this.likeMain || q === undefined || (!this.congested && waiting !== true)) return 0;
    if (q > this.bound) this.overBound++;
    return q;
  }
}

/**
 * The board's transport (main.ts NetTransport) also writes two pieces as one
 * (Transport.sendTwo): the core sends its QoS 0 copies through it on the fast
 * side, and as one copy or two sends on the reference, which must come to
 * the same bytes.
 */
class BoardWire extends Wire {
  sendTwo(id: number, head: Bytes, headOff: number, headLen: number, body: Bytes, bodyOff: number, bodyLen: number): boolean {
    if (this.out[id] === undefined) return false;
    this.twoWrites++;
    for (let i = 0; i < headLen; i++) this.out[id].push(head[headOff + i]);
    for (let i = 0; i < bodyLen; i++) this.out[id].push(body[bodyOff + i]);
    if (this.queue["s" + id] !== undefined) this.queue["s" + id] += headLen + bodyLen;
    return true;
  }
}

/** What a full socket reports queued: far past any profile's maxSendQueueBytes. */
const FULL_QUEUE = 1 << 20;

/** What main.ts makes for each socket. */
function newReceiver(b: Broker, id: number): Receiver {
  return { conn: b.connection(id)!, pend: "", inside: false };
}

/** Espruino's Uint8Array.set(binaryString, offset), which Node's does not have. */
function espruinoChunk(size: number): Bytes {
  const chunk = new Uint8Array(size) as any;
  chunk.set = (s: string, off: number) => {
    for (let i = 0; i < s.length; i++) chunk[off + i] = s.charCodeAt(i);
  };
  return chunk;
}

/**
 * The same bytes, or a failure naming the first that differs (uvu's diff of two long strings
 * would take minutes).
 */
function sameBytes(parser: number[], fast: number[] | undefined, what: string, from = 0): void {
  const f = fast ?? [];
  const n = parser.length > f.length ? parser.length : f.length;
  for (let i = from; i < n; i++) {
    if (parser[i] === f[i]) continue;
    const hex = (x: number[]) => Buffer.from(x.slice(i > 8 ? i - 8 : 0, i + 24)).toString("hex");
    assert.unreachable(`${what}: different bytes at ${i} (of ${parser.length} and ${f.length}), from ${i > 8 ? i - 8 : 0}\n` +
      `  parser:  ${hex(parser)}\n  receive: ${hex(f)}`);
  }
}

function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const bin = (u: Uint8Array) => Buffer.from(u).toString("latin1");
/** A packet of one length byte with that length written in two (0x80 | n, 0): valid, not the fewest bytes. */
const nonMinimal = (p: string) => p[0] + String.fromCharCode(0x80 | p.charCodeAt(1), 0) + p.substring(2);

/** What main.ts's onData does with a chunk: a learnt stream's chunk whole (streamed), or else receive. */
function onData(b: Broker, wire: Wire, rx: Receiver, d: string, chunk: Bytes, congested: boolean): void {
  if (rx.stream !== undefined && !congested && streamed(b, wire, rx, d)) return;
  receive(b, wire, rx, d, chunk, congested);
}

interface Side {
  b: Broker;
  wire: Wire;
  rx: { [id: number]: Receiver };
  feed(id: number, d: string): void;
}

function side(fast: boolean, congestedEvery: number): Side {
  // the reference parses every packet and keeps no routes
  const profile = { ...loadProfile("espruino-linux"), maxRoutes: fast ? 16 : 0 };
  const wire = fast ? new BoardWire() : new Wire();
  const b = new Broker(defaultConfig(profile), nodePlatform(() => {}, () => 1000), wire);
  const chunk = espruinoChunk(536);
  const rx: { [id: number]: Receiver } = {};
  let calls = 0;
  return {
    b, wire, rx,
    feed(id, d) {
      if (!fast) {
        const bytes = Buffer.from(d, "latin1");
        b.data(id, bytes, 0, bytes.length);
        return;
      }
      calls++;
      const congested = congestedEvery > 0 && calls % congestedEvery === 0;
      onData(b, wire, rx[id], d, chunk, congested);
    },
  };
}

/** The two sides, parser only and through receive, and what acts on both alike. */
function pair(congestedEvery: number) {
  const slow = side(false, 0);
  const fast = side(true, congestedEvery);
  const sides = [slow, fast];
  const open = (): number => {
    let id = -1;
    for (const s of sides) {
      id = s.b.accept("127.0.0.1");
      s.wire.open(id);
      s.rx[id] = newReceiver(s.b, id);
    }
    return id;
  };
  const send = (id: number, bytes: Uint8Array | string) => {
    const d = typeof bytes === "string" ? bytes : bin(bytes);
    for (const s of sides) s.feed(id, d);
  };
  const close = (id: number) => {
    for (const s of sides) s.b.closed(id);
  };
  return { slow, fast, open, send, close };
}

/** Run one seeded script on both sides and compare. */
function compare(seed: number, congestedEvery: number): { packets: number; rawShare: number } {
  const r = rng(seed);
  const { slow, fast, open, send, close } = pair(congestedEvery);

  const pub = open();
  send(pub, connectBytes("pub"));
  const sub1 = open();
  send(sub1, connectBytes("sub1"));
  send(sub1, subscribeBytes(1, ["s/+"], [0]));
  const sub2 = open();
  send(sub2, connectBytes("sub2"));
  send(sub2, subscribeBytes(1, ["s/a"], [1]));
  let sub3 = -1;
  let pid = 1;

  // the publisher's stream: mostly the same topic and size, as a sensor's
  let stream = "";
  let packets = 0;
  for (let i = 0; i < 3000; i++) {
    const k = r(100);
    if (k < 80) stream += bin(publishBytes("s/a", "v" + (1000 + r(9000)), 0));
    else if (k < 83) stream += bin(publishBytes("s/a", "x".repeat(r(40)), 0));
    else if (k < 85) stream += bin(publishBytes("s/a", "w".repeat(126 + r(130)), 0)); // two length bytes
    else if (k < 86) stream += nonMinimal(bin(publishBytes("s/a", "n" + r(10), 0))); // a length in more bytes than needed
    else if (k < 87) stream += bin(publishBytes("s/a" + "z".repeat(256), "t" + r(10), 0)); // the topic's length 0x0103, as s/a's is 0x0003
    else if (k < 90) stream += bin(publishBytes("s/b", "b" + r(10), 0));
    else if (k < 93) stream += bin(publishBytes("s/a", "q" + r(10), 1, false, pid++));
    else if (k < 95) stream += bin(publishBytes("s/r", "r" + r(10), 0, true));
    else if (k < 96) stream += bin(new Uint8Array([PINGREQ * 16, 0]));
    else if (k < 97) stream += bin(publishBytes("s/big", "L".repeat(500 + r(500)), 0)); // larger than a chunk
    else stream += bin(publishBytes("t/other", "o", 0));
    packets++;
    if (pid > 60000) pid = 1;
  }
  let at = 0;
  while (at < stream.length) {
    const n = 1 + r(r(4) === 0 ? 12 : 600);
    send(pub, stream.slice(at, at + n));
    at += n;
    // the others act between the publisher's chunks
    const e = r(60);
    if (e === 0) send(sub2, unsubscribeBytes(2, ["s/a"]));
    else if (e === 1) send(sub2, subscribeBytes(3, ["s/a"], [r(2)]));
    else if (e === 2 && sub3 < 0) {
      sub3 = open();
      send(sub3, connectBytes("sub3", { clean: r(2) === 0 }));
      send(sub3, subscribeBytes(1, [r(2) === 0 ? "s/#" : "#"], [0]));
    } else if (e === 3 && sub3 >= 0) {
      close(sub3);
      sub3 = -1;
    } else if (e === 4) send(sub2, ackBytes(PUBACK, 1 + r(8)));
  }

  for (const id of Object.keys(slow.wire.out)) {
    sameBytes(slow.wire.out[Number(id)], fast.wire.out[Number(id)], `connection ${id} (seed ${seed})`);
  }
  assert.equal({ ...fast.b.stats }, { ...slow.b.stats }, `counters differ (seed ${seed})`);
  assert.is(fast.b.connsById["c" + pub].lastReceived, slow.b.connsById["c" + pub].lastReceived);
  return { packets, rawShare: fast.wire.rawBytes / stream.length };
}

test("fast path: every client gets the bytes parsing gives, counters agree (5 seeds)", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const { rawShare } = compare(seed, 0);
    if (process.env.VERBOSE) console.log(`seed ${seed}: ${(rawShare * 100).toFixed(1)}% forwarded whole`);
    // the fast path must have carried a good part of the stream, or this compared nothing
    assert.ok(rawShare > 0.5, `seed ${seed}: only ${(rawShare * 100).toFixed(1)}% of the stream went the fast way`);
  }
});

/**
 * A sensor's stream: one packet shape (topic and size) for long stretches, cut at any byte, the
 * shape changing now and then (another length, another topic, a cut head followed by a different
 * packet), receivers subscribing, leaving and coming while it flows. Returns the share of the
 * publisher's chunks that the stream path was offered (the Receiver held a learnt stream).
 */
function compareStream(seed: number, congestedEvery: number): number {
  const r = rng(seed);
  const { slow, fast, open, send, close } = pair(congestedEvery);
  const pub = open();
  send(pub, connectBytes("sensor"));
  const dash = open();
  send(dash, connectBytes("dash"));
  send(dash, subscribeBytes(1, ["line/#"], [0]));
  let late = -1;
  // shapes: one topic and payload size each; payload bytes vary, as samples do
  const shapes = [["line/a", 64], ["line/a", 65], ["line/b", 64], ["line/a", 200], ["other", 64]] as const;
  let stream = "";
  let shape = 0;
  for (let i = 0; i < 4000; i++) {
    if (r(150) === 0) shape = r(shapes.length);
    const [topic, size] = shapes[shape];
    let payload = "";
    for (let k = 0; k < size; k++) payload += String.fromCharCode(r(256));
    stream += bin(publishBytes(topic, payload, 0));
    if (r(400) === 0) stream += bin(new Uint8Array([PINGREQ * 16, 0]));
  }
  let at = 0;
  let offered = 0;
  let chunks = 0;
  while (at < stream.length) {
    const n = r(3) === 0 ? 536 : 1 + r(r(4) === 0 ? 8 : 700);
    if (fast.rx[pub].stream !== undefined) offered++;
    chunks++;
    send(pub, stream.slice(at, at + n));
    at += n;
    const e = r(80);
    if (e === 0 && late < 0) {
      late = open();
      send(late, connectBytes("late"));
      send(late, subscribeBytes(1, [r(2) === 0 ? "line/a" : "#"], [0]));
    } else if (e === 1 && late >= 0) {
      close(late);
      late = -1;
    } else if (e === 2) send(dash, unsubscribeBytes(2, ["line/#"]));
    else if (e === 3) send(dash, subscribeBytes(3, ["line/#"], [0]));
  }
  for (const id of Object.keys(slow.wire.out)) {
    sameBytes(slow.wire.out[Number(id)], fast.wire.out[Number(id)], `connection ${id} (seed ${seed})`);
  }
  assert.equal({ ...fast.b.stats }, { ...slow.b.stats }, `counters differ (seed ${seed})`);
  assert.is(fast.b.connsById["c" + pub].lastReceived, slow.b.connsById["c" + pub].lastReceived);
  return offered / chunks;
}

test("stream path: one packet shape cut anywhere, shapes changing, receivers coming and going: the bytes parsing gives (4 seeds)", () => {
  for (const seed of [31, 32, 33, 34]) {
    const share = compareStream(seed, 0);
    // the stream path must have been offered most chunks, or this compared nothing
    assert.ok(share > 0.5, `seed ${seed}: the stream path was offered only ${(share * 100).toFixed(1)}% of the chunks`);
  }
  // congested chunks never take it
  compareStream(35, 2);
});

test("fast path: congested chunks take the parser, and the result is the same", () => {
  for (const seed of [11, 12]) compare(seed, 3);
});

test("fast path: no route before a QoS 0 publish, and a SUBSCRIBE elsewhere retires it", () => {
  const s = side(true, 0);
  const ids: number[] = [];
  for (const name of ["p", "q"]) {
    const id = s.b.accept("127.0.0.1");
    s.wire.open(id);
    s.rx[id] = newReceiver(s.b, id);
    s.feed(id, bin(connectBytes(name)));
    ids.push(id);
  }
  const [p, q] = ids;
  s.feed(q, bin(subscribeBytes(1, ["a"], [0])));
  assert.is(s.b.routeCount, 0);
  s.feed(p, bin(publishBytes("a", "1", 0)));
  const route = s.b.routes[routeKey("a")];
  assert.ok(route !== undefined, "no route after a QoS 0 publish");
  assert.equal(route.to.map((x) => x.connId), [q]);
  s.wire.rawWrites = 0;
  s.feed(p, bin(publishBytes("a", "2", 0)) + bin(publishBytes("a", "3", 0)));
  assert.is(s.wire.rawWrites, 1, "two packets, one write");
  s.wire.rawWrites = 0;
  s.feed(p, bin(publishBytes("a", "4", 0)) + bin(publishBytes("a", "55", 0)));
  assert.is(s.wire.rawWrites, 1, "another length, the same route: one write");
  s.feed(q, bin(subscribeBytes(3, ["b"], [0])));
  s.feed(p, bin(publishBytes("b", "0", 0)));
  s.wire.rawWrites = 0;
  s.feed(p, bin(publishBytes("a", "6", 0)) + bin(publishBytes("b", "77", 0)) + bin(publishBytes("a", "8", 0)));
  assert.is(s.wire.rawWrites, 1, "other topics, the same receivers: one write");
  assert.ok(bin(new Uint8Array(s.wire.out[q])).endsWith(bin(publishBytes("a", "6", 0)) + bin(publishBytes("b", "77", 0)) + bin(publishBytes("a", "8", 0))),
    "not the bytes sent, in order");
  s.feed(p, bin(subscribeBytes(4, ["c"], [0])));
  s.feed(p, bin(publishBytes("c", "0", 0)) + bin(publishBytes("a", "0", 0)));
  s.wire.rawWrites = 0;
  s.feed(p, bin(publishBytes("a", "9", 0)) + bin(publishBytes("c", "1", 0)) + bin(publishBytes("a", "10", 0)));
  assert.is(s.wire.rawWrites, 3, "receivers changing from packet to packet: a write each");
  s.feed(q, bin(unsubscribeBytes(2, ["a"])));
  assert.is(s.b.routeCount, 0, "UNSUBSCRIBE kept the routes");
  s.wire.rawWrites = 0;
  const before = s.wire.out[q].length;
  s.feed(p, bin(publishBytes("a", "4", 0)));
  assert.is(s.wire.rawWrites, 0, "forwarded on a stale route");
  assert.is(s.wire.out[q].length, before, "delivered after UNSUBSCRIBE");
});

test("fast path: a malformed length after a run closes the connection, as the parser does", () => {
  for (const fast of [false, true]) {
    const s = side(fast, 0);
    const p = s.b.accept("127.0.0.1");
    s.wire.open(p);
    s.rx[p] = newReceiver(s.b, p);
    s.feed(p, bin(connectBytes("p")));
    s.feed(p, bin(publishBytes("a", "1", 0)));
    s.feed(p, bin(publishBytes("a", "2", 0)) + "\x30\xff\xff\xff\xff\x01");
    assert.is(s.b.connection(p), undefined, `still open (${fast ? "receive" : "parser"})`);
  }
});

// ---------------------------------------------------------------- the house: users, ACLs, limits, QoS 1/2, sessions

/*
 * A house on one board: two users publish (the same topics, one of them
 * allowed less), subscribers with read ACLs, overlapping subscriptions and
 * QoS, a persistent session that goes away and comes back, a receiver whose
 * queue fills, clients that come and go, retained messages, `$` topics and
 * the $SYS tree, and PUBLISH over the payload, topic length and topic level
 * limits. Both brokers get the same script; every subscriber answers what
 * the reference sent it (PUBACK, PUBREC, PUBCOMP), the same bytes to both.
 * After every step each connection's new bytes are compared, so a failure
 * names the first step that differed.
 */

/** The limits both sides get, small enough for the script to cross them. */
const HOUSE_LIMITS = { maxPayloadSize: 48, maxTopicLength: 40, maxTopicLevels: 5, sysIntervalMs: 2000 };

const HOUSE = [
  "house/kitchen/temp", "house/bedroom/temp", "house/garage/temp", "house/living/temp",
  "house/bath/humidity", utf8("house/küche/temp"), "house/hall/light", "house/garden/temp",
];

const pw = (user: string) => user + "-pw";

function houseAuth(): AuthConfig {
  const rule = (access: number, filter: string): AclRule => ({ access, filter: utf8(filter) });
  const acl: AclTable = {
    anonymous: [rule(ACCESS_READ, "s/#"), rule(ACCESS_READWRITE, "anon/#")],
    users: {
      // writes everywhere, `$` topics included (the broker drops those whatever the ACL says)
      ualice: [rule(ACCESS_READWRITE, "#"), rule(ACCESS_WRITE, "$SYS/#"), rule(ACCESS_WRITE, "$x/#")],
      // the second publisher: the same topics, fewer of them allowed
      ubob: [
        rule(ACCESS_NONE, "house/garage/#"), rule(ACCESS_NONE, "s/secret"),
        rule(ACCESS_READWRITE, "house/#"), rule(ACCESS_READWRITE, "s/#"),
      ],
      // `#` subscriber that may not read some of what `#` matches
      ucarol: [rule(ACCESS_NONE, "house/bedroom/#"), rule(ACCESS_NONE, "s/secret"), rule(ACCESS_READ, "#")],
      udave: [rule(ACCESS_READ, "#"), rule(ACCESS_READ, "$SYS/#")],
      uerin: [rule(ACCESS_READWRITE, "#")],
      ufrank: [
        rule(ACCESS_NONE, "house/kitchen/#"), rule(ACCESS_READ, "house/#"), rule(ACCESS_READ, "s/#"),
        rule(ACCESS_WRITE, "status/frank"),
      ],
      ugina: [rule(ACCESS_READ, "#")],
    },
    patterns: [rule(ACCESS_READWRITE, "clients/%c/#")],
  };
  const passwords: { [key: string]: PasswordEntry } = {};
  for (const u of ["alice", "bob", "carol", "dave", "erin", "frank", "gina"]) {
    passwords["u" + u] = makePasswordEntry(pw(u), "salt-" + u, nodeHashes);
  }
  return { allowAnonymous: true, anonymousLoopbackOnly: true, passwords, acl };
}

interface HouseSide {
  b: Broker;
  wire: Wire;
  rx: { [id: number]: Receiver };
  feed(id: number, d: string, congested: boolean): void;
}

function houseSide(fast: boolean, clock: { now: number }, chunkSize: number, seed: number, auth = true): HouseSide {
  const profile = { ...loadProfile("espruino-linux"), ...HOUSE_LIMITS, maxRoutes: fast ? 16 : 0 };
  const config = defaultConfig(profile);
  if (auth) config.auth = houseAuth();
  const platform = nodePlatform(() => {}, () => clock.now);
  // what the $SYS tree shows must not depend on which side's heap it is
  platform.memoryUsed = () => 0;
  platform.random = rng(seed + 7);
  const wire = fast ? new BoardWire() : new Wire();
  const b = new Broker(config, platform, wire);
  const chunk = espruinoChunk(chunkSize);
  const rx: { [id: number]: Receiver } = {};
  return {
    b, wire, rx,
    feed(id, d, congested) {
      if (!fast) {
        const bytes = Buffer.from(d, "latin1");
        b.data(id, bytes, 0, bytes.length);
        return;
      }
      onData(b, wire, rx[id], d, chunk, congested);
    },
  };
}

/** A client of the house, as the script sees it. */
interface Member {
  clientId: string;
  opts: ClientOptions;
  /** Its connection, -1 while offline. */
  id: number;
  /** Answers at once, or now and then (acks pile up, the in-flight window fills). */
  lazy: boolean;
  /** Ack bytes owed for what the reference sent it, not yet sent. */
  owed: string;
  /** Its filters and their QoS, as last subscribed. */
  subs: { [filter: string]: number };
}

interface HouseResult {
  steps: number;
  rawWrites: number;
  maxRoutes: number;
  /** What the script did and the reference sent: the scenario must have happened, or it compared little. */
  seen: { [what: string]: number };
}

/** Decode the whole packets of out[from, ...); returns where the first incomplete one starts. */
function eachPacket(out: number[], from: number, fn: (first: number, body: number, len: number) => void): number {
  let o = from;
  for (;;) {
    if (o + 2 > out.length) return o;
    let size = 0;
    let mul = 1;
    let i = o + 1;
    for (;;) {
      if (i >= out.length) return o;
      const c = out[i++];
      size += (c % 128) * mul;
      mul *= 128;
      if (c < 128) break;
    }
    if (i + size > out.length) return o;
    fn(out[o], i, size);
    o = i + size;
  }
}

/** What a subscriber answers to what it got: PUBACK, PUBREC, PUBCOMP [MQTT-4.3]. */
function acksFor(out: number[], from: number): { next: number; acks: string } {
  let acks = "";
  const next = eachPacket(out, from, (first, body, len) => {
    const type = first >> 4;
    if (type === PUBLISH) {
      const qos = (first >> 1) & 3;
      if (qos === 0) return;
      const at = body + 2 + out[body] * 256 + out[body + 1];
      const packetId = out[at] * 256 + out[at + 1];
      acks += bin(ackBytes(qos === 1 ? PUBACK : PUBREC, packetId));
    } else if (type === PUBREL && len >= 2) {
      acks += bin(ackBytes(PUBCOMP, out[body] * 256 + out[body + 1]));
    }
  });
  return { next, acks };
}

/** A temperature as a sensor sends it: "21.5", "21.75", "9.125", "22"... */
function reading(r: (n: number) => number): string {
  return 15 + r(15) + ["", ".5", ".75", ".25", ".125", ".0625"][r(6)];
}

/**
 * One publisher's stream: what a house's sensors send, with what the broker must refuse mixed in.
 * Its readings end in `tag` (to tell whose a delivered one was).
 */
function houseStream(r: (n: number) => number, packets: number, tag: string): string {
  let s = "";
  let pid = 1 + r(1000);
  const nextPid = () => (pid = pid >= 65535 ? 1 : pid + 1);
  const house = () => HOUSE[r(HOUSE.length)];
  for (let i = 0; i < packets; i++) {
    const k = r(100);
    if (k < 30) s += bin(publishBytes(house(), reading(r) + tag, 0));
    else if (k < 40) {
      // a sensor's burst: one topic, one payload length, several packets in a row
      const t = house();
      const n = 2 + r(8);
      for (let j = 0; j < n; j++) s += bin(publishBytes(t, "2" + r(10) + "." + r(10) + tag, 0));
      i += n - 1;
    } else if (k < 55) s += bin(publishBytes("s/a", "v" + (1000 + r(9000)), 0));
    else if (k < 58) s += bin(publishBytes("s/secret", "k" + r(100) + tag, 0));
    else if (k < 61) s += bin(publishBytes("s/b", "b" + r(10), 0));
    else if (k < 65) s += bin(publishBytes(r(2) === 0 ? "s/a" : house(), reading(r) + tag, 1, false, nextPid()));
    else if (k < 68) {
      // QoS 2, answered at once (PUBREL behind it), sometimes sent twice first (DUP)
      const id = nextPid();
      const t = r(2) === 0 ? "s/a" : house();
      const p = reading(r) + tag;
      s += bin(publishBytes(t, p, 2, false, id));
      if (r(4) === 0) s += bin(publishBytes(t, p, 2, false, id, true));
      s += bin(ackBytes(PUBREL, id));
    } else if (k < 71) {
      // retained, QoS 0 or 1, now and then cleared (empty payload)
      const q = r(2);
      s += bin(publishBytes("r/" + r(3), r(5) === 0 ? "" : reading(r) + tag, q, true, q > 0 ? nextPid() : 0));
    } else if (k < 72) s += bin(publishBytes(house(), reading(r) + tag, 0, true));
    else if (k < 76) {
      // over maxPayloadSize (48), on a topic that has a route; and at it exactly
      const n = r(3) === 0 ? 48 : 49 + r(250);
      const t = r(2) === 0 ? "s/a" : house();
      const q = r(4) === 0 ? 1 : 0;
      s += bin(publishBytes(t, "x".repeat(n), q, false, q > 0 ? nextPid() : 0));
    } else if (k < 78) s += bin(publishBytes("long/" + "y".repeat(33 + r(12)), "l", 0)); // maxTopicLength 40
    else if (k < 80) s += bin(publishBytes(r(2) === 0 ? "l/1/2/3/4" : "l/1/2/3/4/5", "d", 0)); // maxTopicLevels 5
    else if (k < 83) {
      // `$` topics are the broker's: dropped, whatever the ACL lets the client write
      const t = r(2) === 0 ? "$SYS/broker/uptime" : "$x/y";
      const q = r(3) === 0 ? 1 : 0;
      s += bin(publishBytes(t, "0", q, false, q > 0 ? nextPid() : 0));
    } else if (k < 84) s += bin(new Uint8Array([PINGREQ * 16, 0]));
    else if (k < 85) s += bin(publishBytes("s/a", "L".repeat(600 + r(350)), 0)); // larger than a chunk
    else if (k < 86) s += bin(subscribeBytes(nextPid(), [r(2) === 0 ? "s/b" : "house/+/light"], [0]));
    else if (k < 87) s += bin(unsubscribeBytes(nextPid(), ["s/b", "house/+/light"]));
    else if (k < 89) s += bin(publishBytes("clients/" + (r(2) === 0 ? "alice" : "bob") + "/x", reading(r) + tag, 0));
    else s += bin(publishBytes(house(), reading(r) + tag, 0));
  }
  return s;
}

/** Run the house script `seed` on both sides, comparing as it goes. */
function house(seed: number, packets: number, chunkSize: number, auth: boolean, likeMain = false): HouseResult {
  const r = rng(seed);
  const clock = { now: 1000 };
  const ref = houseSide(false, clock, chunkSize, seed, auth);
  const fast = houseSide(true, clock, chunkSize, seed, auth);
  const sides = [ref, fast];
  for (const s of sides) {
    s.wire.likeMain = likeMain;
    s.wire.bound = s.b.profile.maxSendQueueBytes;
  }
  let step = 0;
  let congested = false;
  let maxRoutes = 0;
  let sysRounds = 0;
  const seen: { [what: string]: number } = {};
  const count = (what: string) => (seen[what] = (seen[what] ?? 0) + 1);
  const recent: string[] = [];
  const note = (what: string) => {
    recent.push(step + ": " + what);
    if (recent.length > 10) recent.shift();
  };
  const where = () => `seed ${seed}, step ${step}; last: ${recent.join(" | ")}`;
  const names: { [id: number]: string } = {};
  const compared: { [id: number]: number } = {};
  const decoded: { [id: number]: number } = {};
  const nothingPending = () => Object.keys(fast.rx).every((k) => fast.rx[Number(k)].pend === "");

  /** Every connection's new bytes, whether it is open, and the counters, alike on both sides. */
  const verify = () => {
    for (const key of Object.keys(ref.wire.out)) {
      const id = Number(key);
      const a = ref.wire.out[id];
      sameBytes(a, fast.wire.out[id], `connection ${id} (${names[id]}) at ${where()}`, compared[id] ?? 0);
      compared[id] = a.length;
      assert.is(fast.b.connection(id) === undefined, ref.b.connection(id) === undefined,
        `connection ${id} (${names[id]}) open on one side only (${where()})`);
    }
    // bytes held in rx.pend are counted when their packet is whole (the gaps test): compare between packets
    if (nothingPending()) assert.equal({ ...fast.b.stats }, { ...ref.b.stats }, `counters differ (${where()})`);
    if (fast.b.routeCount > maxRoutes) maxRoutes = fast.b.routeCount;
  };
  const open = (name: string): number => {
    let id = -1;
    for (const s of sides) {
      const n = s.b.accept("127.0.0.1");
      assert.ok(id < 0 || n === id, "the sides numbered a connection differently");
      id = n;
      s.wire.open(id);
      s.rx[id] = newReceiver(s.b, id);
    }
    names[id] = name;
    return id;
  };
  const send = (id: number, d: string, what: string) => {
    note(what);
    for (const s of sides) s.feed(id, d, congested); // the reference parses whatever the flag
    verify();
  };
  /** The peer closed its socket (main.ts's 'close'). */
  const hangUp = (id: number, what: string) => {
    note(what);
    for (const s of sides) {
      delete s.wire.socks["s" + id];
      delete s.rx[id];
      s.b.closed(id);
    }
    verify();
  };

  const member = (clientId: string, user: string | undefined, extra: ClientOptions, lazy: boolean): Member => ({
    clientId, opts: { username: user, password: user === undefined ? undefined : pw(user), ...extra },
    id: -1, lazy, owed: "", subs: {},
  });
  const alice = member("alice", "alice", {}, false);
  const bob = member("bob", "bob", {}, false);
  const carol = member("carol", "carol", {}, false);
  const dave = member("dave", "dave", {}, true);
  const erin = member("erin", "erin", {}, true);
  const frank = member("frank", "frank", {
    clean: false, will: { topic: "status/frank", message: "gone", qos: 1, retain: true },
  }, true);
  const gina = member("gina", "gina", { keepalive: 10 }, false);
  let guest: Member | undefined = undefined;
  let guests = 0;
  const subscribers = () => [carol, dave, erin, frank, gina, ...(guest !== undefined ? [guest] : [])];
  let packetId = 0;
  const nextId = () => (packetId = packetId >= 65535 ? 1 : packetId + 1);

  /** Connect; returns whether the broker kept the session (CONNACK's session present). */
  /** CONNECT, and `after` in the same chunk (what a client sends before its CONNACK comes). */
  const connect = (m: Member, after = ""): boolean => {
    m.id = open(m.clientId);
    m.owed = "";
    send(m.id, bin(connectBytes(m.clientId, m.opts)) + after, `CONNECT ${m.clientId}${after !== "" ? " +" + after.length : ""}`);
    const out = ref.wire.out[m.id];
    decoded[m.id] = 4;
    if (ref.b.connection(m.id) === undefined) {
      count("refused");
      m.id = -1;
    }
    const present = out.length >= 4 && out[3] === 0 && out[2] === 1;
    if (present) count("session resumed");
    return present;
  };
  /** SUBSCRIBE, behind `first` in the same chunk when given. */
  const subscribe = (m: Member, subs: { [filter: string]: number }, first = "") => {
    const filters = Object.keys(subs);
    send(m.id, first + bin(subscribeBytes(nextId(), filters, filters.map((f) => subs[f]))),
      `${first !== "" ? "more+" : ""}SUBSCRIBE ${m.clientId} ${filters.map((f) => f + ":" + subs[f]).join(",")}`);
    for (const f of filters) m.subs[f] = subs[f];
  };
  const unsubscribe = (m: Member, filters: string[]) => {
    send(m.id, bin(unsubscribeBytes(nextId(), filters)), `UNSUBSCRIBE ${m.clientId} ${filters.join(",")}`);
    for (const f of filters) delete m.subs[f];
  };
  /** Who the broker closed (takeover, keepalive, a stalled queue, a refused CONNECT) is offline. */
  const settle = () => {
    for (const m of [alice, bob, ...subscribers()]) {
      if (m.id >= 0 && ref.b.connection(m.id) === undefined) {
        count("closed by the broker");
        m.id = -1;
        m.owed = "";
      }
    }
  };
  /** Each subscriber answers what the reference sent it; a lazy one only now and then. */
  const answer = (all: boolean) => {
    for (const m of subscribers()) {
      if (m.id < 0) continue;
      if (ref.b.connection(m.id)?.session?.inflight.length === ref.b.profile.maxInflight) count("window full");
      const { next, acks } = acksFor(ref.wire.out[m.id], decoded[m.id] ?? 0);
      decoded[m.id] = next;
      m.owed += acks;
      if (m.owed !== "" && (all || !m.lazy || r(4) === 0)) {
        const d = m.owed;
        m.owed = "";
        send(m.id, d, m.clientId + " acks");
      }
      settle();
    }
  };

  const pubs = [alice, bob];
  const streams = [houseStream(rng(seed * 31 + 1), packets, "a"), houseStream(rng(seed * 31 + 2), packets, "b")];
  const at = [0, 0];
  // where each stream's packets end, and the first not passed yet
  const ends = streams.map((d) => {
    const list: number[] = [];
    const bytes = Array.from(Buffer.from(d, "latin1"));
    eachPacket(bytes, 0, (first, body, len) => list.push(body + len));
    return list;
  });
  const next = [0, 0];
  // the publishers' first bytes behind their CONNECT, cut anywhere (a fixed header too)
  for (let p = 0; p < 2; p++) {
    at[p] = r(3) === 0 ? 0 : 1 + r(40);
    connect(pubs[p], streams[p].slice(0, at[p]));
  }
  for (const m of [carol, dave, erin, frank, gina]) connect(m);
  assert.ok([alice, bob, carol, dave, erin, frank, gina].every((m) => m.id >= 0), "a member was refused");
  subscribe(carol, { "#": r(3) });
  subscribe(dave, { "#": 1, "$SYS/#": 0 });
  subscribe(erin, { "s/#": 0, "s/a": 2, "house/+/temp": 1 }); // overlapping: s/a gets QoS 2
  subscribe(frank, { "house/#": 2, "s/+": 1 });
  subscribe(gina, { "#": 0, "s/a": 1 });

  let fullUntil = -1;
  let fullId = -1;
  const endFull = () => {
    if (fullId < 0) return;
    const id = fullId;
    fullId = -1;
    fullUntil = -1;
    note("gina drained");
    for (const s of sides) {
      delete s.wire.full[id];
      s.b.drained(id);
    }
    verify();
  };

  while (at[0] < streams[0].length || at[1] < streams[1].length) {
    step++;
    // the clock: 100 ms a step, the broker's tick every second, the $SYS tree when due
    const before = clock.now;
    clock.now += 100;
    if (Math.floor(clock.now / 1000) !== Math.floor(before / 1000)) {
      note("tick");
      for (const s of sides) s.b.tick();
      verify();
      settle();
    }
    // the tree shows bytes/received: published only while every byte received is counted on both
    // sides (none waiting in rx.pend; the gaps test)
    if (nothingPending() && clock.now - ref.b.sysPublishedAt >= HOUSE_LIMITS.sysIntervalMs) {
      note("$SYS");
      for (const s of sides) publishSys(s.b);
      sysRounds++;
      verify();
    }
    if (fullId >= 0 && (step >= fullUntil || gina.id !== fullId)) endFull();
    // main.ts: congested while memory is short, as it is while a socket's queue is full
    congested = fullId >= 0 || r(likeMain ? 3 : 10) === 0;
    for (const s of sides) s.wire.congested = congested;
    if (likeMain && r(3) === 0) {
      // a socket's 'drain': what it queued is sent
      const all = [alice, bob, ...subscribers()];
      const m = all[r(all.length)];
      if (m.id >= 0 && m.id !== fullId) {
        note("drain " + m.clientId);
        for (const s of sides) {
          s.wire.queue["s" + m.id] = 0;
          s.b.drained(m.id);
        }
        verify();
      }
    }

    const p = at[0] >= streams[0].length ? 1 : at[1] >= streams[1].length ? 0 : r(2);
    if (pubs[p].id < 0) {
      // closed by the broker (its queue stalled past the guard's limit): back, from its next packet
      connect(pubs[p]);
      assert.ok(pubs[p].id >= 0, `${pubs[p].clientId} could not come back (${where()})`);
      const list = ends[p];
      while (next[p] < list.length && list[next[p]] < at[p]) next[p]++;
      at[p] = next[p] < list.length ? list[next[p]] : streams[p].length;
      if (at[p] >= streams[p].length) continue;
    }
    let n = 1 + r(r(4) === 0 ? 12 : 600);
    if (r(3) === 0) {
      // a chunk that ends where a packet does
      const list = ends[p];
      while (next[p] < list.length && list[next[p]] < at[p] + n) next[p]++;
      if (next[p] < list.length) n = list[next[p]] - at[p];
    }
    send(pubs[p].id, streams[p].slice(at[p], at[p] + n), `${pubs[p].clientId} [${at[p]}, ${at[p] + n})`);
    at[p] += n;

    const e = r(36);
    if (e === 0 && carol.id >= 0) subscribe(carol, { "#": r(3) }); // again: the retained replay
    else if (e === 1 && carol.id >= 0) {
      if (carol.subs["#"] !== undefined) unsubscribe(carol, ["#"]);
      else subscribe(carol, { "#": r(3) });
    } else if (e === 2 && dave.id >= 0) {
      // `#` (never `$` topics), `$SYS/#`, or both; changed in one chunk now and then. A `$SYS`
      // subscription gets the tree at once, bytes/received with it: only when every byte received
      // so far is counted on both sides (none in rx.pend, and the SUBSCRIBE last in its chunk)
      let want = [["#"], ["$SYS/#"], ["#", "$SYS/#"]][r(3)];
      if (!nothingPending()) want = ["#"];
      const add: { [f: string]: number } = {};
      for (const f of want) if (dave.subs[f] === undefined) add[f] = r(2);
      const drop = Object.keys(dave.subs).filter((f) => want.indexOf(f) < 0);
      if (drop.length > 0 && Object.keys(add).length > 0 && r(2) === 0) {
        subscribe(dave, add, bin(unsubscribeBytes(nextId(), drop)));
        for (const f of drop) delete dave.subs[f];
      } else {
        if (Object.keys(add).length > 0) subscribe(dave, add);
        if (drop.length > 0) unsubscribe(dave, drop);
      }
    } else if (e === 3 && erin.id >= 0) {
      if (erin.subs["s/a"] !== undefined) unsubscribe(erin, ["s/a"]);
      else subscribe(erin, { "s/a": 2 });
    } else if (e === 4) {
      // the persistent session goes, and comes back to what it missed
      if (frank.id >= 0) {
        const id = frank.id;
        if (r(2) === 0) send(id, bin(new Uint8Array([DISCONNECT * 16, 0])), "DISCONNECT frank");
        hangUp(id, "frank hangs up");
        frank.id = -1;
      } else if (!connect(frank) && frank.id >= 0) subscribe(frank, { "house/#": 2, "s/+": 1 });
    } else if (e === 5 && fullId < 0 && gina.id >= 0) {
      // gina's socket is full: QoS 0 to her dropped, her replays paused, and after 10 s the guard closes her
      fullId = gina.id;
      fullUntil = step + 2 + r(r(3) === 0 ? 300 : 60);
      note("gina full");
      count("full windows");
      for (const s of sides) s.wire.full[fullId] = true;
    } else if (e === 6) {
      if (guest === undefined || guest.id < 0) {
        const k = r(4);
        const name = "guest" + guests++;
        guest = k === 0 ? member(name, undefined, {}, false)
          : k === 1 ? member(name, "erin", {}, true)
          : k === 2 ? member(name, "bob", { password: "wrong" }, false) // refused
          : member(name, "dave", { clean: r(2) === 0, keepalive: 3 }, false); // idle: closed after 4.5 s
          connect(guest);
        if (guest.id >= 0) {
          const filters = ["#", "r/#", "s/#", "house/+/temp", "$SYS/#", "s/secret", "clients/" + name + "/#", "status/#"];
          const f = filters[r(filters.length)];
          subscribe(guest, { [f === "$SYS/#" && !nothingPending() ? "#" : f]: r(3) });
        }
      } else {
        const id = guest.id;
        if (r(2) === 0) send(id, bin(new Uint8Array([DISCONNECT * 16, 0])), "DISCONNECT " + guest.clientId);
        hangUp(id, guest.clientId + " hangs up");
        guest.id = -1;
      }
    } else if (e === 7 && erin.id >= 0) {
      // erin again from another socket: the broker closes the first [MQTT-3.1.4-2]
      const subs = erin.subs;
      connect(erin);
      if (erin.id >= 0) subscribe(erin, subs);
    } else if (e === 8 && gina.id >= 0) send(gina.id, bin(new Uint8Array([PINGREQ * 16, 0])), "PINGREQ gina");
    else if (e === 9 && gina.id < 0) {
      connect(gina, bin(subscribeBytes(nextId(), ["#", "s/a"], [0, 1])));
    } else if (e === 10 && erin.id >= 0) {
      // subscribed and gone again in one chunk
      send(erin.id, bin(subscribeBytes(nextId(), ["house/#"], [1])) + bin(unsubscribeBytes(nextId(), ["house/#"])),
        "SUBSCRIBE+UNSUBSCRIBE erin house/#");
    } else if (e === 11 && carol.id < 0) {
      connect(carol);
      if (carol.id >= 0) subscribe(carol, { "#": r(3) });
    }
    settle();
    answer(false);
  }
  endFull();
  // the last acks, until nothing more comes
  for (let k = 0; k < 10; k++) {
    const total = Object.keys(ref.wire.out).reduce((n, id) => n + ref.wire.out[Number(id)].length, 0);
    answer(true);
    if (Object.keys(ref.wire.out).reduce((n, id) => n + ref.wire.out[Number(id)].length, 0) === total) break;
  }
  verify();
  assert.ok(nothingPending(), "a packet left cut");
  assert.equal({ ...fast.b.stats }, { ...ref.b.stats }, `counters differ at the end (seed ${seed})`);
  // what each session holds and dropped: the fast path queues and drops as deliverStored does
  const held = (b: Broker) => Object.keys(b.sessions.byId).sort().map((k) => {
    const s = b.sessions.byId[k];
    return `${k}: dropped ${s.dropped}, queued ${s.queue.map((q) => q.qos).join("")}, in flight ${s.inflight.map((f) => f.packetId + "/" + f.state).join(" ")}`;
  });
  assert.equal(held(fast.b), held(ref.b), `sessions differ at the end (seed ${seed})`);
  assert.ok(fast.wire.twoWrites > 0, `seed ${seed}: no QoS 0 copy of the core's went out as one write of two pieces`);
  for (const c of ref.b.conns) {
    if (c === undefined) continue;
    assert.is(fast.b.connection(c.id)?.lastReceived, c.lastReceived, `lastReceived of ${names[c.id]} (seed ${seed})`);
  }
  const retained = (b: Broker) => b.retained.list.map((m) => bin(Uint8Array.from({ length: m.topicLen + m.payloadLen }, (_, i) => m.data[i])) + "/q" + m.qos);
  assert.equal(retained(fast.b), retained(ref.b), `retained messages differ (seed ${seed})`);
  // what the clients were sent: the reference kept to the limits and ACLs, or the comparison proves little
  for (const key of Object.keys(ref.wire.out)) {
    const out = ref.wire.out[Number(key)];
    eachPacket(out, 0, (first, body, len) => {
      const type = first >> 4;
      if (type === PUBLISH) {
        const topicLen = out[body] * 256 + out[body + 1];
        const topic = bin(new Uint8Array(out.slice(body + 2, body + 2 + topicLen)));
        const payloadLen = len - 2 - topicLen - (first & 6 ? 2 : 0);
        const to = `${topic} to ${names[Number(key)]} (seed ${seed})`;
        const payload = bin(new Uint8Array(out.slice(body + len - payloadLen, body + len)));
        assert.ok(topic !== "$x/y" && !(topic === "$SYS/broker/uptime" && payload === "0"), "a client's `$` topic went out: " + to);
        assert.ok(topic.charAt(0) === "$" || payloadLen <= HOUSE_LIMITS.maxPayloadSize, "a payload over the limit went out: " + to);
        assert.ok(topicLen <= HOUSE_LIMITS.maxTopicLength && topic.split("/").length <= HOUSE_LIMITS.maxTopicLevels,
          "a topic over the limits went out: " + to);
        if (auth && names[Number(key)] === "carol") {
          assert.ok(!topic.startsWith("house/bedroom/") && topic !== "s/secret", "carol read what her ACL denies: " + to);
        }
        // bob's readings end in "b": only where his ACL lets him write
        if (auth && payload.endsWith("b")) {
          assert.ok(/^(house\/(?!garage\/)|s\/(?!secret$)|clients\/bob\/)/.test(topic), "bob wrote where his ACL denies: " + to);
        }
        count(topic.charAt(0) === "$" ? "$SYS sent" : "qos" + ((first >> 1) & 3) + " sent");
        if (first & 1) count("retained sent");
        if (first & 8) count("dup sent");
      } else if (type === PUBREL) count("PUBREL sent");
      else if (type === 2) count("CONNACK");
    });
  }
  seen["dropped"] = ref.b.stats.publishDropped;
  seen["dropped by a queue"] = ref.wire.overBound;
  seen["slow closed"] = ref.b.guard.slowClosed;
  seen["sys rounds"] = sysRounds;
  return { steps: step, rawWrites: fast.wire.rawWrites, maxRoutes, seen };
}

test("house: ACLs, limits, `$`, retained, QoS 1/2, sessions, a full receiver: the bytes parsing gives (8 seeds)", () => {
  const all: { [what: string]: number } = {};
  for (const [seed, chunk] of [[21, 536], [22, 256], [23, 536], [24, 256], [25, 536], [26, 256], [27, 256], [28, 536]]) {
    const res = house(seed, 2000, chunk, true);
    if (process.env.VERBOSE) console.log(`house seed ${seed}:`, JSON.stringify(res));
    assert.ok(res.rawWrites > 0, `seed ${seed}: the fast path carried nothing`);
    assert.ok(res.maxRoutes > 0, `seed ${seed}: no route was ever kept`);
    for (const k of Object.keys(res.seen)) all[k] = (all[k] ?? 0) + res.seen[k];
  }
  // the seeds between them went through every part of the scenario
  for (const what of [
    "qos0 sent", "qos1 sent", "qos2 sent", "retained sent", "dup sent", "PUBREL sent", "$SYS sent", "dropped",
    "session resumed", "full windows", "slow closed", "closed by the broker", "refused", "window full", "sys rounds",
  ]) assert.ok((all[what] ?? 0) > 0, `never: ${what} (${JSON.stringify(all)})`);
});

// ---------------------------------------------------------------- the same, step by step

/** One side of a scripted comparison: the house's broker, with what a script needs to drive it. */
interface Scripted extends HouseSide {
  open(): number;
  /** A client logs in as `user` (its password right) and sends `subs`, if any. */
  login(clientId: string, user: string | undefined, subs?: { [filter: string]: number }, extra?: ClientOptions): number;
  send(id: number, d: Uint8Array | string, congested?: boolean): void;
}

function scripted(fast: boolean, auth: boolean): Scripted {
  const s = houseSide(fast, { now: 1000 }, 256, 1, auth);
  const open = () => {
    const id = s.b.accept("127.0.0.1");
    s.wire.open(id);
    s.rx[id] = newReceiver(s.b, id);
    return id;
  };
  const send = (id: number, d: Uint8Array | string, congested = false) =>
    s.feed(id, typeof d === "string" ? d : bin(d), congested);
  return {
    ...s, open, send,
    login(clientId, user, subs, extra = {}) {
      const id = open();
      send(id, connectBytes(clientId, { username: user, password: user === undefined ? undefined : pw(user), ...extra }));
      if (subs !== undefined) {
        const filters = Object.keys(subs);
        send(id, subscribeBytes(1, filters, filters.map((f) => subs[f])));
      }
      return id;
    },
  };
}

/** Run `script` on a broker that parses everything and on one fed through receive(). */
function bothWays(script: (s: Scripted) => void, auth = true): { ref: Scripted; fast: Scripted } {
  const ref = scripted(false, auth);
  script(ref);
  const fast = scripted(true, auth);
  script(fast);
  return { ref, fast };
}

/** What differs between the two: each connection's bytes, then the counters; "" when nothing. */
function differences(ref: Scripted, fast: Scripted): string {
  let out = "";
  for (const key of Object.keys(ref.wire.out)) {
    const a = Buffer.from(ref.wire.out[Number(key)]).toString("hex");
    const f = Buffer.from(fast.wire.out[Number(key)] ?? []).toString("hex");
    if (a !== f) out += `connection ${key}:\n  parser:  ${a}\n  receive: ${f}\n`;
  }
  const sa = JSON.stringify(ref.b.stats);
  const sf = JSON.stringify(fast.b.stats);
  if (sa !== sf) out += `counters:\n  parser:  ${sa}\n  receive: ${sf}\n`;
  return out;
}

test("ACL: a route kept for one user's writes does not carry another's that his ACL denies", () => {
  let carol = -1;
  const { ref, fast } = bothWays((s) => {
    const alice = s.login("alice", "alice");
    const bob = s.login("bob", "bob");
    carol = s.login("carol", "carol", { "#": 0 });
    s.login("gina", "gina", { "house/+/temp": 0 });
    // alice's route to house/garage/temp, then bob's publishes there (denied to him) behind hers
    s.send(alice, publishBytes("house/garage/temp", "21.5", 0));
    s.send(alice, bin(publishBytes("house/garage/temp", "21.7", 0)) + bin(publishBytes("house/garage/temp", "21.8", 0)));
    s.send(bob, bin(publishBytes("house/garage/temp", "66.6", 0)) + bin(publishBytes("house/garage/temp", "66.7", 0)));
    // bob's route to a topic both may write, then alice's publishes on it; and carol's read ACL
    s.send(bob, publishBytes("house/bedroom/temp", "19", 0));
    s.send(alice, bin(publishBytes("house/bedroom/temp", "18", 0)) + bin(publishBytes("house/bedroom/temp", "17", 0)));
    s.send(bob, bin(publishBytes("house/bedroom/temp", "16", 0)) + bin(publishBytes("s/secret", "k1", 0)));
    s.send(bob, publishBytes("s/secret", "k2", 0));
    s.send(alice, bin(publishBytes("s/secret", "k3", 0)) + bin(publishBytes("s/secret", "k4", 0)));
  });
  assert.is(differences(ref, fast), "");
  assert.ok(fast.wire.rawWrites >= 3, `the fast path carried ${fast.wire.rawWrites} writes`);
  const got = bin(new Uint8Array(ref.wire.out[carol]));
  assert.ok(got.indexOf("21.8") >= 0 && got.indexOf("66.") < 0, "bob's denied writes reached carol");
  assert.ok(got.indexOf("bedroom") < 0 && got.indexOf("secret") < 0, "carol read what her ACL denies");
});

test("a full receiver: QoS 0 to it dropped on congested chunks, whether a route is kept or not", () => {
  let full = -1;
  let other = -1;
  const { ref, fast } = bothWays((s) => {
    const alice = s.login("alice", "alice");
    full = s.login("gina", "gina", { "#": 0, "s/a": 1 });
    other = s.login("erin", "erin", { "s/#": 0 });
    s.send(alice, publishBytes("s/a", "1", 0)); // the route
    s.send(alice, publishBytes("s/a", "2", 0)); // the fast path
    s.wire.full[full] = true;
    for (let i = 3; i < 9; i++) s.send(alice, bin(publishBytes("s/a", "" + i, 0)) + bin(publishBytes("s/b", "" + i, 0)), true);
    s.send(alice, publishBytes("s/a", "q", 1, false, 7), true); // QoS 1: sent, not dropped
    delete s.wire.full[full];
    s.b.drained(full);
    s.send(alice, publishBytes("s/a", "9", 0));
  });
  assert.is(differences(ref, fast), "");
  assert.ok(ref.b.stats.publishDropped >= 12, "the full receiver was not skipped");
  assert.ok(bin(new Uint8Array(ref.wire.out[other])).indexOf("8") >= 0, "the other receiver missed what it was due");
});

test("house with main.ts's transport (queues count until 'drain', reported while congested): the same (3 seeds)", () => {
  for (const [seed, chunk] of [[41, 256], [42, 536], [43, 256]]) {
    const res = house(seed, 2000, chunk, true, true);
    if (process.env.VERBOSE) console.log(`house seed ${seed}, main.ts transport:`, JSON.stringify(res));
    assert.ok(res.rawWrites > 0 && res.maxRoutes > 0, `seed ${seed}: the fast path carried nothing`);
    assert.ok(res.seen["dropped by a queue"] > 0, `seed ${seed}: no queue was ever full`);
  }
});

test("house without an ACL (no writers on a route, the shared route of unheard topics): the same (3 seeds)", () => {
  for (const [seed, chunk] of [[31, 256], [32, 536], [33, 256]]) {
    const res = house(seed, 2000, chunk, false);
    if (process.env.VERBOSE) console.log(`house seed ${seed}, no ACL:`, JSON.stringify(res));
    assert.ok(res.rawWrites > 0 && res.maxRoutes > 0, `seed ${seed}: the fast path carried nothing`);
  }
});

test("CONNECT with the next packets behind it in one chunk, cut in a fixed header: the parser keeps it", () => {
  const { ref, fast } = bothWays((s) => {
    s.login("erin", "erin", { "s/#": 0 });
    const alice = s.open();
    const run = bin(publishBytes("s/a", "1", 0)) + bin(publishBytes("s/a", "2", 0)) + bin(publishBytes("s/a", "3", 0));
    const big = bin(publishBytes("s/b", "x".repeat(40), 0));
    // CONNECT, a PUBLISH (its route kept) and the first byte of the next; then the rest, cut again
    // inside the length of a PUBLISH whose remaining length takes two bytes
    s.send(alice, bin(connectBytes("alice", { username: "alice", password: pw("alice") })) + run.slice(0, 9));
    const long = bin(publishBytes("s/a", "y".repeat(200), 0));
    s.send(alice, run.slice(9) + long.slice(0, 2));
    s.send(alice, long.slice(2) + run + big + run); // the parser's, from inside a header: all of it
    s.send(alice, run + big + run);
  });
  assert.is(differences(ref, fast), "");
  assert.ok(fast.wire.rawWrites > 0, "the fast path carried nothing");
});

test("a CONNECT framed before the parser: whole, cut at every byte, too large; an HTTP request still closes at once", () => {
  const connect = bin(connectBytes("alice", { username: "alice", password: pw("alice") }));
  const behind = bin(publishBytes("s/a", "1", 0)) + bin(publishBytes("s/a", "2", 0));
  for (let at = 1; at <= connect.length; at++) {
    let alice = -1;
    const { ref, fast } = bothWays((s) => {
      s.login("erin", "erin", { "s/#": 0 });
      alice = s.open();
      s.send(alice, connect.slice(0, at));
      s.send(alice, connect.slice(at) + behind);
      s.send(alice, behind);
    });
    assert.is(differences(ref, fast), "", `CONNECT cut at ${at}`);
    assert.is(fast.wire.out[alice][0], 0x20, `CONNECT cut at ${at}: no CONNACK`);
    assert.equal(fast.wire.closedIds, [], `CONNECT cut at ${at}: closed`);
  }
  const ids: number[] = [];
  const { ref, fast } = bothWays((s) => {
    s.login("erin", "erin", { "s/#": 0 });
    ids.length = 0;
    ids.push(s.open());
    s.send(ids[0], "GET / HTTP/1.1\r\nHost: board\r\n\r\n");
    // a CONNECT claiming more than the board takes before CONNECT: closed, not waited for
    ids.push(s.open());
    s.send(ids[1], "\x10\xff\xff\x03" + connect.slice(2));
    // a fifth length byte: malformed [MQTT-2.2.3]
    ids.push(s.open());
    s.send(ids[2], "\x10\xff\xff\xff\xff\x01");
  });
  assert.is(differences(ref, fast), "");
  assert.equal(fast.wire.closedIds, ids);
  assert.equal(ref.wire.closedIds, ids);
});

/*
 * Where receive() and the parser alone parted, found by this file (seeded scripts cut down to a
 * few packets) and fixed in receive.ts; kept as cases of their own. One difference stays, by
 * design: see the last case.
 */
{
  const gap = (name: string, script: (s: Scripted) => void, auth = true) =>
    test("fixed: " + name, () => {
      const { ref, fast } = bothWays(script, auth);
      assert.is(differences(ref, fast), "", name);
    });

  gap("a remaining length in more bytes than it needs is forwarded as it came", (s) => {
    const alice = s.login("alice", "alice");
    s.login("erin", "erin", { "s/#": 0 });
    s.send(alice, publishBytes("s/a", "1", 0));
    // 30 86 00: remaining length 6 in two bytes, which the parser takes [MQTT-2.2.3]
    s.send(alice, "\x30\x86\x00\x00\x03s/a2");
  });

  gap("bytes behind a packet that closes the connection are not counted", (s) => {
    const alice = s.login("alice", "alice");
    s.login("erin", "erin", { "s/#": 0 });
    s.send(alice, publishBytes("s/a", "1", 0));
    s.send(alice, bin(publishBytes("s/a", "2", 0)) + "\xe0\x00" + bin(publishBytes("s/a", "3", 0)));
  });

  gap("a packet cut when the socket closes is not counted", (s) => {
    const alice = s.login("alice", "alice");
    s.send(alice, bin(publishBytes("s/a", "12345", 0)).slice(0, 4));
    s.b.closed(alice);
  });

  gap("$SYS/broker/bytes/received leaves out what waits in rx.pend, and a chunk's later packets", (s) => {
    const alice = s.login("alice", "alice");
    const dave = s.login("dave", "dave");
    s.send(alice, bin(publishBytes("s/a", "12345", 0)).slice(0, 4));
    s.send(dave, subscribeBytes(1, ["$SYS/broker/bytes/received"], [0]));
    s.send(dave, bin(subscribeBytes(2, ["$SYS/broker/bytes/received"], [0])) + bin(unsubscribeBytes(3, ["x"])));
  });

  // By design, not fixed: receive() looks at send queues only when main.ts says the pool is
  // congested, and main.ts's transport reports queued bytes only then, so on the board both ways
  // agree (seeds 41-43 run such a transport); one that always reported its queue would part here.

  // without an ACL (with one, the route's writers never hold a bridge's: handlePublish keeps none for it)
  gap("a bridge (CONNECT level 0x84) gets its own QoS 0 back on a route another publisher made", (s) => {
    const alice = s.login("alice", undefined);
    const bridge = s.login("bridge", undefined, { "s/a": 0 }, { protocolLevel: 0x84 });
    s.send(alice, publishBytes("s/a", "1", 0));
    s.send(bridge, publishBytes("s/a", "2", 0));
  }, false);
}


test("acknowledgements framed by receive (4 bytes) answer as the parser's: QoS 1 and 2 both ways, in runs, cut, malformed", () => {
  const ack = (type: number, id: number) => bin(ackBytes(type, id));
  const closed: string[][] = [];
  const { ref, fast } = bothWays((s) => {
    const pub = s.login("pub", "alice");
    const sub1 = s.login("sub1", "carol", { "house/#": 1 });
    const sub2 = s.login("sub2", "carol", { "house/+/temp": 2 });
    // QoS 1 and 2 in; the publisher's PUBREL behind a QoS 0 publish in one chunk
    s.send(pub, bin(publishBytes("house/a/temp", "1", 1, false, 1)) + bin(publishBytes("house/a/temp", "2", 2, false, 2)));
    s.send(pub, bin(publishBytes("house/a/temp", "3", 0)) + ack(PUBREL, 2) + bin(publishBytes("house/a/temp", "4", 0)));
    // the subscribers' acks: several in one chunk, one cut after two bytes, one of an unknown id
    s.send(sub1, ack(PUBACK, 1) + ack(PUBACK, 2) + ack(PUBACK, 77).slice(0, 2));
    s.send(sub1, ack(PUBACK, 77).slice(2));
    // sub2 has message 1 at QoS 1 and 2 at QoS 2; a PUBREL of an id it never sent is answered too
    s.send(sub2, ack(PUBACK, 1) + ack(PUBREC, 2) + ack(PUBREL, 9));
    s.send(sub2, ack(PUBCOMP, 2) + bin(publishBytes("house/b/temp", "5", 0)));
    // malformed: a PUBREL without its flag, a PUBACK of packet id 0, a PUBCOMP for a QoS 1 message, a PUBACK of 3 bytes
    const bad1 = s.login("bad1", "carol");
    s.send(bad1, "\x60\x02\x00\x01");
    const bad2 = s.login("bad2", "carol");
    s.send(bad2, ack(PUBACK, 0));
    s.send(pub, bin(publishBytes("house/c/temp", "6", 1, false, 3)));
    // the last: a PUBCOMP for a QoS 1 message closes sub1 (nothing is sent to a closed connection here)
    s.send(sub1, ack(PUBCOMP, 3) + ack(PUBACK, 3));
    const bad3 = s.login("bad3", "carol");
    s.send(bad3, "\x40\x03\x00\x01\x00");
    closed.push(Object.entries({ pub, sub1, sub2, bad1, bad2, bad3 }).filter(([, id]) => s.b.connection(id) === undefined).map(([n]) => n));
  });
  assert.is(differences(ref, fast), "");
  // the malformed three, and sub1 for its PUBCOMP of a QoS 1 message; the same on both
  assert.equal(closed, [["sub1", "bad1", "bad2", "bad3"], ["sub1", "bad1", "bad2", "bad3"]]);
  // sub2 (connection 3): its handshakes answered
  const got = bin(new Uint8Array(fast.wire.out[3]));
  assert.ok(got.indexOf(ack(PUBREL, 2)) >= 0 && got.indexOf(ack(PUBCOMP, 9)) >= 0, "sub2's PUBREC and PUBREL unanswered");
});

test("QoS 1 and 2 PUBLISH taken by receive answer as the parser's: runs, full windows, ids in use, repeats, QoS 0 receivers", () => {
  const pub = (topic: string, payload: string, qos: number, id: number) => bin(publishBytes(topic, payload, qos, false, id));
  const ack = (type: number, id: number) => bin(ackBytes(type, id));
  const closed: string[][] = [];
  const { ref, fast } = bothWays((s) => {
    const alice = s.login("pub", "alice");
    const sub1 = s.login("sub1", "carol", { "house/#": 1 });
    const sub2 = s.login("sub2", "carol", { "house/+/temp": 2 });
    s.send(alice, pub("house/a/temp", "first", 1, 1)); // the parser keeps the route
    // a run in one chunk: QoS 1 to both, QoS 2 (sub1 gets it at QoS 1), a repeated QoS 2 id, its PUBREL
    s.send(alice, pub("house/a/temp", "r2", 1, 2) + pub("house/a/temp", "r3", 1, 3) + pub("house/a/temp", "r4", 2, 4) +
      pub("house/a/temp", "r4", 2, 4) + ack(PUBREL, 4));
    // sub1 never acknowledges: its window is full, the rest queues in the core; sub2 acknowledges some
    s.send(alice, pub("house/a/temp", "q5", 1, 5) + pub("house/a/temp", "q6", 1, 6));
    s.send(sub2, ack(PUBACK, 1) + ack(PUBACK, 2) + ack(PUBREC, 4) + ack(PUBCOMP, 4) + ack(PUBACK, 5));
    // sub2's next packet id is one still in flight: the session's search finds the next free
    const sess = s.b.connection(sub2)!.session!;
    assert.ok(sess.inflight.length > 0 && sess.inflight.length < s.b.profile.maxInflight, "sub2 has room and a message in flight");
    sess.nextPacketId = sess.inflight[0].packetId;
    s.send(alice, pub("house/a/temp", "id7", 1, 7) + pub("house/a/temp", "id8", 2, 8));
    // over the payload limit (one and two length bytes), packet id 0: the parser's
    s.send(alice, pub("house/a/temp", "x".repeat(60), 1, 9) + pub("house/a/temp", "y".repeat(130), 1, 10));
    s.send(sub1, ack(PUBACK, 1) + ack(PUBACK, 2) + ack(PUBACK, 3) + ack(PUBACK, 4));
    s.send(alice, pub("house/b/temp", "new", 1, 11) + pub("house/b/temp", "kept", 1, 12));
    // a receiver granted QoS 0 on the topic: the whole route goes through the parser
    const sub3 = s.login("sub3", "carol", { "house/a/#": 0 });
    s.send(alice, pub("house/a/temp", "z13", 1, 13));
    s.send(alice, pub("house/a/temp", "z14", 1, 14) + pub("house/a/temp", "z15", 2, 15));
    // QoS 2 ids past maxIncomingQos2 without PUBREL: the parser closes
    let more = "";
    for (let i = 20; i < 30; i++) more += pub("house/b/temp", "m" + i, 2, i);
    s.send(alice, more);
    const bad = s.login("bad", "alice");
    s.send(bad, pub("house/b/temp", "zero", 1, 0));
    closed.push(Object.entries({ alice, sub1, sub2, sub3, bad }).filter(([, id]) => s.b.connection(id) === undefined).map(([n]) => n));
  });
  assert.is(differences(ref, fast), "");
  assert.equal(closed[0], closed[1]);
  assert.equal(closed[0], ["alice", "bad"]);
  // the QoS 1/2 path wrote for itself, runs joined: fewer writes than packets it answered
  assert.ok(fast.wire.rawWrites >= 4, `the fast path carried ${fast.wire.rawWrites} writes`);
  assert.is(ref.wire.rawWrites, 0);
});

test("queued QoS 1/2 messages sent on an acknowledgement by receive as by the core: behind a retained replay, a faster publisher, a resumed session's narrower ACL", () => {
  const pub = (topic: string, payload: string, qos: number, id: number, retain = false) => bin(publishBytes(topic, payload, qos, retain, id));
  const ack = (type: number, id: number) => bin(ackBytes(type, id));
  // no ACLs: retained messages past the window (sent on acks while the replay is pending: the core's
  // way), then copies queued behind a faster publisher (receive's way)
  const closedOpen: boolean[] = [];
  const open = bothWays((s) => {
    const alice = s.login("pub", undefined);
    for (let i = 1; i <= 7; i++) s.send(alice, pub("r/" + i, "v" + i, 1, i, true));
    const sub = s.login("sub", undefined, { "r/#": 1 });
    s.send(sub, ack(PUBACK, 2) + ack(PUBACK, 1));
    s.send(sub, ack(PUBACK, 4));
    // and a publisher faster than its receiver: the copies it queues go out on the receiver's acks
    s.send(alice, pub("r/x", "a", 1, 20) + pub("r/x", "b", 1, 21));
    for (let i = 22; i < 30; i++) s.send(alice, pub("r/x", "c" + i, 1, i));
    for (let id = 1; id < 20; id++) s.send(sub, ack(PUBACK, id));
    closedOpen.push(s.b.connection(sub) === undefined);
  }, false);
  assert.is(differences(open.ref, open.fast), "");
  assert.equal(closedOpen, [false, false]);
  const retained = bin(new Uint8Array(open.fast.wire.out[2] ?? []));
  assert.ok(retained.indexOf("\x33\x09\x00\x03r/7\x00\x07v7") >= 0, "a retained message past the window went out without its retain flag");
  // a session resumed by a user who may read less: what is queued for it that he may not read stays
  const acl = bothWays((s) => {
    const alice = s.login("pub", "alice");
    const erin = s.login("shared", "erin", { "house/#": 1 }, { clean: false });
    s.send(erin, bin(new Uint8Array([DISCONNECT * 16, 0])));
    for (let i = 1; i <= 8; i++) s.send(alice, pub(i % 2 === 0 ? "house/bedroom/temp" : "house/kitchen/temp", "t" + i, 1, i));
    const carol = s.login("shared", "carol", undefined, { clean: false });
    for (let id = 1; id < 10; id++) s.send(carol, ack(PUBACK, id));
  });
  assert.is(differences(acl.ref, acl.fast), "");
  const got = bin(new Uint8Array(acl.fast.wire.out[3] ?? []));
  assert.ok(got.indexOf("kitchen") >= 0, "carol got nothing of the queue");
  assert.ok(got.indexOf("bedroom") < 0, "carol was sent what her ACL denies");
});

test.run();
