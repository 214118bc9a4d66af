/**
 * Every send path is bounded (issue 13): a SUBSCRIBE's retained replay goes
 * as far as the connection's send queue allows and resumes as it drains, so
 * repeated `#` filters cannot make one connection hold the retained store
 * many times over; QoS 1/2 retained messages wait for the in-flight window
 * rather than being dropped; a connection that has not finished CONNECT may
 * hold no more than a CONNECT, and all of them together no more than
 * maxConnectingBytes; a first byte that cannot start a CONNECT closes at once.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PUBACK, PUBLISH, SUBACK, UNSUBACK } from "../../firmware/core/codec/constants";
import { connectPacketLimit } from "../../firmware/core/profile";
import {
  assertNoConnections, configWith, connectBytes, Packet, SimClient, startSim, subscribeBytes, unsubscribeBytes,
} from "../support/sim-client";

const PAYLOAD = "r".repeat(1000);

/** MQTT's remaining-length bytes for `n` [MQTT-2.2.3]. */
function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d += 128;
    out.push(d);
  } while (n > 0);
  return out;
}
const BOUND = 4096;

/** A broker holding `n` retained messages of 1000 bytes on ret/0 .. ret/n-1. */
function withRetained(n: number, qos = 0, over = {}) {
  const sim = startSim(configWith({ maxSendQueueBytes: BOUND, maxRetained: 200, maxQueued: 3, maxInflight: 2, ...over }));
  const pub = new SimClient(sim);
  pub.connect("pub");
  for (let i = 0; i < n; i++) {
    if (qos === 0) pub.publish("ret/" + i, PAYLOAD, 0, true);
    else pub.publish1("ret/" + i, PAYLOAD, 1 + i, true);
  }
  pub.settle();
  return { sim, pub };
}

/** The most a connection may hold: the bound, one message past it, and the answers to its own packets. */
function peakAllowed(answers: number): number {
  return BOUND + 1010 + answers;
}

test("one SUBSCRIBE with 80 repeated '#' to a reader that does not read: its queue stays within the bound; the rest follows once it reads", () => {
  const { sim, pub } = withRetained(60);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.sock.stall();
  sub.send(subscribeBytes(7, new Array(80).fill("#"), new Array(80).fill(0)));
  sub.settle();
  const held = sim.net.queued(sub.sock.id);
  // the old way held 80 x 60 x 1000 bytes (4.8 MB) for this one connection
  assert.ok(held <= peakAllowed(90), "held " + held);
  assert.ok(held > BOUND, "the replay filled the queue up to the bound: " + held);
  sub.sock.resume();
  sub.settle();
  const got = sub.drain();
  assert.is(got[0].type, SUBACK);
  assert.equal(got[0].codes, new Array(80).fill(0));
  const pubs = got.slice(1);
  assert.ok(pubs.every((p) => p.type === PUBLISH && p.retain === true));
  // the same filter 80 times in one packet: one subscription, its retained set sent once, in store order
  assert.equal(pubs.map((p) => p.topic), Array.from({ length: 60 }, (_, i) => "ret/" + i));
  assert.is(sim.broker.stats.publishDropped, 0, "nothing dropped: the replay waited for room");
  sub.disconnect();
  pub.disconnect();
  assertNoConnections(sim);
});

test("ten SUBSCRIBE '#' in one write: bounded, and after the last SUBACK the whole retained set arrives [MQTT-3.8.4-3]", () => {
  const { sim } = withRetained(30);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.sock.stall();
  const packets: number[] = [];
  for (let i = 1; i <= 10; i++) packets.push(...subscribeBytes(i, ["#"], [0]));
  sub.send(Uint8Array.from(packets));
  sub.settle();
  const held = sim.net.queued(sub.sock.id);
  assert.ok(held <= peakAllowed(10 * 5), "held " + held + " (the old way: 10 x 30 x 1000)");
  sub.sock.resume();
  sub.settle();
  const got = sub.drain();
  const lastAck = got.map((p) => p.type).lastIndexOf(SUBACK);
  assert.is(got.filter((p) => p.type === SUBACK).length, 10);
  const after = got.slice(lastAck + 1).map((p) => p.topic).sort();
  assert.equal(after, Array.from({ length: 30 }, (_, i) => "ret/" + i).sort(), "the full set after the last SUBACK");
  assert.is(sim.broker.stats.publishDropped, 0);
});

test("QoS 1 retained beyond the in-flight window and the queue: the replay waits for PUBACKs, none dropped", () => {
  const { sim } = withRetained(20, 1);
  const sub = new SimClient(sim);
  sub.connect("sub", { clean: false });
  sub.send(subscribeBytes(1, ["ret/#"], [1]));
  sub.settle();
  assert.is(sub.expect(SUBACK).codes![0], 1);
  const topics: string[] = [];
  for (let round = 0; round < 30 && topics.length < 20; round++) {
    const pubs = sub.publishes();
    // never more than the window in flight: maxInflight 2
    assert.ok(pubs.length <= 2, "in flight " + pubs.length);
    for (const p of pubs) {
      assert.is(p.qos, 1);
      assert.ok(p.retain);
      topics.push(p.topic!);
      sub.ack(PUBACK, p.packetId!);
    }
    sub.settle();
  }
  // 20 > maxInflight 2 + maxQueued 3: all sent in the old way, 15 would have been dropped
  assert.equal(topics, Array.from({ length: 20 }, (_, i) => "ret/" + i));
  assert.is(sim.broker.stats.publishDropped, 0);
});

test("the store changing under a paused replay: nothing that stays is skipped, a replaced message comes in its new value", () => {
  const { sim, pub } = withRetained(20);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.sock.stall();
  sub.send(subscribeBytes(1, ["ret/#"], [0]));
  sub.settle();
  // paused after about four messages: clear ret/1 (sent), replace ret/15 (not yet sent), add ret/99
  pub.publish("ret/1", "", 0, true);
  pub.publish("ret/15", "new", 0, true);
  pub.publish("ret/99", "added", 0, true);
  pub.settle();
  sub.sock.resume();
  sub.settle();
  const pubs = sub.drain().filter((p) => p.type === PUBLISH && p.retain === true);
  const seen = new Map<string, string>();
  for (const p of pubs) seen.set(p.topic!, p.payload!);
  for (let i = 0; i < 20; i++) if (i !== 1) assert.ok(seen.has("ret/" + i), "ret/" + i + " skipped");
  assert.is(seen.get("ret/15"), "new");
  assert.is(seen.get("ret/99"), "added");
});

test("UNSUBSCRIBE during a paused replay ends it: nothing retained after the UNSUBACK", () => {
  const { sim } = withRetained(20);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.sock.stall();
  sub.send(subscribeBytes(1, ["ret/#"], [0]));
  sub.send(unsubscribeBytes(2, ["ret/#"]));
  sub.settle();
  sub.sock.resume();
  sub.settle();
  const got: Packet[] = sub.drain();
  const un = got.findIndex((p) => p.type === UNSUBACK);
  assert.ok(un > 0);
  assert.equal(got.slice(un + 1).map((p) => p.topic), []);
  assert.ok(got.slice(0, un).filter((p) => p.type === PUBLISH).length < 20, "the replay was paused when the UNSUBSCRIBE came");
});

test("a paused replay goes on at the tick when the transport reports no drain", () => {
  const { sim } = withRetained(20);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.sock.stall();
  sub.send(subscribeBytes(1, ["ret/#"], [0]));
  sub.settle();
  // let the stalled bytes through by hand, as a transport without 'drain' would
  const s = sub.sock;
  s.stalled = false;
  for (const chunk of s.pending) for (let i = 0; i < chunk.length; i++) s.inbox.push(chunk[i]);
  s.pending = [];
  s.pendingBytes = 0;
  const before = sub.drain().filter((p) => p.type === PUBLISH).length;
  assert.ok(before < 20);
  sim.clock.advance(sim.broker.profile.tickMs);
  const after = sub.drain().filter((p) => p.type === PUBLISH).length;
  assert.is(before + after, 20);
});

// ---- before CONNECT ----

test("a CONNECT announcing more than a CONNECT can hold closes at once, before its body", () => {
  const sim = startSim(configWith({}));
  const limit = connectPacketLimit(sim.broker.profile);
  assert.ok(limit < sim.broker.profile.maxPacketSize, "the host's packet limit is far above a CONNECT's: " + limit);
  const c = new SimClient(sim);
  c.send(Uint8Array.from([0x10, ...remainingLength(64 * 1024 * 1024)]));
  c.settle();
  assert.ok(c.closed, "closed at the fixed header");
  // the largest legitimate one still goes through, split as it comes
  const ok = new SimClient(sim);
  ok.connect("x".repeat(1000), { username: "u".repeat(60000), password: "p".repeat(60000) }, 0);
  assert.is(sim.broker.connectingBytes, 0);
});

test("partial CONNECTs across many sockets hold at most maxConnectingBytes together; the rest are closed", () => {
  const sim = startSim(configWith({ maxConnectingBytes: 1024 * 1024 }));
  const body = connectBytes("slow", { username: "u".repeat(60000), password: "p".repeat(60000) });
  const socks: SimClient[] = [];
  for (let i = 0; i < 40; i++) {
    const c = new SimClient(sim, "192.0.2." + i);
    c.send(body.subarray(0, body.length - 1)); // all but the last byte: never finishes
    socks.push(c);
    assert.ok(sim.broker.connectingBytes <= 1024 * 1024, "held " + sim.broker.connectingBytes);
  }
  sim.clock.settle();
  const closed = socks.filter((c) => c.closed).length;
  assert.ok(closed >= 30 && closed < 40, "closed " + closed + " of 40 (each holds 128 KB)");
  // a client that finishes its CONNECT is not held to it
  const ok = new SimClient(sim);
  ok.connect("fine");
  sim.clock.advance(sim.broker.profile.connectTimeoutMs + sim.broker.profile.tickMs);
  assert.is(sim.broker.connectingBytes, 0, "all given back");
  ok.disconnect();
  assertNoConnections(sim);
});

test("a first byte that cannot start a CONNECT closes at once: an HTTP request, a TLS hello, a PINGREQ", () => {
  const sim = startSim(configWith({}));
  const tlsHello = Uint8Array.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  for (const first of [new TextEncoder().encode("GET /mqtt HTTP/1.1\r\nHost: x\r\n"), Uint8Array.from([0xc0]), Uint8Array.from([0x47])]) {
    const c = new SimClient(sim);
    c.send(first);
    c.settle();
    assert.ok(c.closed, "closed at " + first[0]);
  }
  // a TLS hello's first byte is a CONNECT with flags: it closes on its body, also at once
  const t = new SimClient(sim);
  t.send(tlsHello);
  t.settle();
  assert.ok(t.closed, "TLS hello");
  assert.is(sim.clock.now, 0, "no time passed: not the CONNECT timeout");
  assertNoConnections(sim);
});

test.run();
