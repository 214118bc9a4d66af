/**
 * The Espruino adapter's receive path (firmware/espruino/receive.ts), run on
 * Node: the fast path that forwards runs of a publisher's repeated QoS 0
 * packets whole must leave every client with exactly the bytes, and the
 * broker with exactly the counters, that parsing every packet gives.
 *
 * Two brokers get the same seeded script: one fed through the parser only,
 * one through receive(). The publisher's stream (mostly one topic and size,
 * with other sizes, topics, QoS 1, retained messages and pings mixed in) is
 * cut into random chunks, while other clients subscribe, unsubscribe, come
 * and go between chunks.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Broker } from "../../firmware/broker/broker";
import { PINGREQ, PUBACK } from "../../firmware/codec/constants";
import { receive, Receiver } from "../../firmware/espruino/receive";
import { Bytes, Transport } from "../../firmware/platform";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { nodePlatform } from "../../host-sim/platform";
import {
  ackBytes, connectBytes, publishBytes, subscribeBytes, unsubscribeBytes,
} from "../support/sim-client";

/** Every byte each connection was sent, in order, whichever way it went out. */
class Wire implements Transport {
  out: { [id: number]: number[] } = {};
  socks: { [key: string]: { write(s: string): void } } = {};
  queue: { [key: string]: number } = {};
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
    return true;
  }
  close(id: number): void {
    delete this.socks["s" + id];
  }
  queued(): number {
    return 0;
  }
}

/** What main.ts makes for each socket. */
function newReceiver(b: Broker, id: number): Receiver {
  return { conn: b.connection(id)!, pend: "" };
}

/** Espruino's Uint8Array.set(binaryString, offset), which Node's does not have. */
function espruinoChunk(size: number): Bytes {
  const chunk = new Uint8Array(size) as any;
  chunk.set = (s: string, off: number) => {
    for (let i = 0; i < s.length; i++) chunk[off + i] = s.charCodeAt(i);
  };
  return chunk;
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

interface Side {
  b: Broker;
  wire: Wire;
  rx: { [id: number]: Receiver };
  feed(id: number, d: string): void;
}

function side(fast: boolean, congestedEvery: number): Side {
  // the reference parses every packet and keeps no routes
  const profile = { ...loadProfile("espruino-linux"), maxRoutes: fast ? 16 : 0 };
  const wire = new Wire();
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
      receive(b, wire, rx[id], d, chunk, congestedEvery > 0 && calls % congestedEvery === 0);
    },
  };
}

/** Run one seeded script on both sides and compare. */
function compare(seed: number, congestedEvery: number): { packets: number; rawShare: number } {
  const r = rng(seed);
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
    else if (k < 85) stream += bin(publishBytes("s/a", "x".repeat(r(40)), 0));
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
    assert.equal(Buffer.from(fast.wire.out[Number(id)]).toString("hex"), Buffer.from(slow.wire.out[Number(id)]).toString("hex"),
      `connection ${id} was sent different bytes (seed ${seed})`);
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
  const route = s.b.routes["ta"];
  assert.ok(route !== undefined, "no route after a QoS 0 publish");
  assert.equal(route.to.map((x) => x.connId), [q]);
  s.wire.rawWrites = 0;
  s.feed(p, bin(publishBytes("a", "2", 0)) + bin(publishBytes("a", "3", 0)));
  assert.is(s.wire.rawWrites, 1, "two packets, one write");
  s.wire.rawWrites = 0;
  s.feed(p, bin(publishBytes("a", "4", 0)) + bin(publishBytes("a", "55", 0)));
  assert.is(s.wire.rawWrites, 2, "another length, the same route");
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

test.run();
