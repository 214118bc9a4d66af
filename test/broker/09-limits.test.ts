import { test } from "uvu";
import * as assert from "uvu/assert";
import { CONNACK_SERVER_UNAVAILABLE, SUBACK_FAILURE } from "../../firmware/core/codec/constants";
import { findSession } from "../../firmware/core/session/registry";
import {
  assertNoConnections, configWith, inModes, PUBACK, SimClient, startSim,
} from "../support/sim-client";

inModes(test, "maxClients: one more gets CONNACK 3; a freed slot can be used again", (opts) => {
  const sim = startSim(configWith({ maxClients: 3 }), opts);
  const cs: SimClient[] = [];
  for (let i = 0; i < 3; i++) {
    const c = new SimClient(sim);
    c.connect("c" + i);
    cs.push(c);
  }
  const extra = new SimClient(sim);
  const ack = extra.connect("c3", {}, CONNACK_SERVER_UNAVAILABLE);
  assert.is(ack.sessionPresent, false);
  extra.settle();
  assert.ok(extra.closed);
  assert.is(sim.broker.clientCount, 3);
  cs[0].end();
  const again = new SimClient(sim);
  again.connect("c3");
  for (const c of [cs[1], cs[2], again]) c.end();
  assertNoConnections(sim);
});

inModes(test, "subscription table full: SUBACK 0x80 for what does not fit, the rest granted", (opts) => {
  const sim = startSim(configWith({ maxSubscriptions: 3 }), opts);
  const a = new SimClient(sim);
  a.connect("a");
  assert.equal(a.subscribe(["a/1", "a/2"], [0, 1]).codes, [0, 1]);
  const b = new SimClient(sim);
  b.connect("b");
  assert.equal(b.subscribe(["b/1", "b/2", "a/1"], [2, 0, 1], 2).codes, [2, SUBACK_FAILURE, SUBACK_FAILURE]);
  assert.is(sim.broker.topics.count, 3);
  // replacing an existing subscription needs no new slot
  assert.equal(a.subscribe("a/1", 2, 3).codes, [2]);
  // the refused filter is really not subscribed
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish("b/2", "x");
  b.expectNothing();
  a.unsubscribe("a/2");
  assert.equal(b.subscribe("b/2", 0, 4).codes, [0], "a freed slot is usable");
  for (const c of [a, b, pub]) c.end();
  assertNoConnections(sim);
  assert.is(sim.broker.topics.count, 0);
});

inModes(test, "maxSubscriptionsPerClient: 0x80 past the limit for that client only", (opts) => {
  const sim = startSim(configWith({ maxSubscriptionsPerClient: 2 }), opts);
  const a = new SimClient(sim);
  a.connect("a");
  assert.equal(a.subscribe(["x", "y", "z"]).codes, [0, 0, SUBACK_FAILURE]);
  const b = new SimClient(sim);
  b.connect("b");
  assert.equal(b.subscribe(["x", "y"]).codes, [0, 0]);
  a.end();
  b.end();
  assertNoConnections(sim);
});

inModes(test, "topic length and level limits: 0x80 for filters, publishes dropped but acknowledged", (opts) => {
  const sim = startSim(configWith({ maxTopicLength: 16, maxTopicLevels: 3 }), opts);
  const c = new SimClient(sim);
  c.connect("c");
  assert.equal(c.subscribe(["#", "a/b/c", "a/b/c/d", "x".repeat(17)]).codes, [0, 0, SUBACK_FAILURE, SUBACK_FAILURE]);
  c.publish("a/b/c/d", "too deep", 1, false, 1);
  c.publish("y".repeat(17), "too long", 1, false, 2);
  c.publish("a/b/c", "fine", 1, false, 3);
  // routed before it is acknowledged: the own copy (QoS 0 granted on "#"), then the PUBACK
  assert.equal(c.drain().map((p) => p.name + ":" + (p.payload ?? p.packetId)),
    ["PUBACK:1", "PUBACK:2", "PUBLISH:fine", "PUBACK:3"]);
  assert.is(sim.broker.stats.publishDropped, 2);
  c.end();
  assertNoConnections(sim);
});

inModes(test, "maxPayloadSize: a larger payload is dropped, acknowledged, the client stays", (opts) => {
  const sim = startSim(configWith({ maxPayloadSize: 10 }), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("t");
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("t", "0123456789A", 1);
  pub.publish1("t", "0123456789", 2);
  assert.equal(sub.publishes().map((p) => p.payload), ["0123456789"]);
  assert.not.ok(pub.closed);
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "a packet over maxPacketSize closes only that client", (opts) => {
  const sim = startSim(configWith({ maxPacketSize: 64 }), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("t");
  const big = new SimClient(sim);
  big.connect("big");
  const other = new SimClient(sim);
  other.connect("other");
  // remaining length 63: 65 bytes in all, one over
  big.publish("t", "x".repeat(63 - 3));
  big.settle();
  assert.ok(big.closed, "too large packet not refused");
  sub.expectNothing("part of the large packet delivered");
  other.publish("t", "x".repeat(62 - 3)); // exactly 64 bytes: fine
  other.publish("t", "still here");
  assert.equal(sub.publishes().map((p) => p.payload!.length), [59, 10]);
  assert.not.ok(sub.closed);
  assert.not.ok(other.closed);
  sub.end();
  other.end();
  assertNoConnections(sim);
});

inModes(test, "a huge remaining length is refused from the header alone", (opts) => {
  const sim = startSim(configWith({ maxPacketSize: 1024 }), opts);
  const c = new SimClient(sim);
  c.connect("c");
  const before = sim.broker.conns[0].reader;
  c.send(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0x7f])); // 268435455 announced, nothing sent
  c.settle();
  assert.ok(c.closed);
  assert.ok(before.buf === undefined || before.buf.length <= 1024, "no buffer sized from the header");
  assertNoConnections(sim);
});

inModes(test, "incoming QoS 2 awaiting PUBREL is bounded by maxIncomingQos2", (opts) => {
  const sim = startSim(configWith({ maxIncomingQos2: 2 }), opts);
  const c = new SimClient(sim);
  c.connect("c");
  c.publish("t", "1", 2, false, 1);
  c.publish("t", "2", 2, false, 2);
  assert.equal(c.drain().map((p) => p.name), ["PUBREC", "PUBREC"]);
  assert.not.ok(c.closed);
  c.publish("t", "3", 2, false, 3);
  c.settle();
  assert.ok(c.closed, "a third unreleased QoS 2 message closes the connection");
  assertNoConnections(sim);
});

inModes(test, "an unacknowledged subscriber's in-flight window does not grow past maxInflight", (opts) => {
  const sim = startSim(configWith({ maxInflight: 3, maxQueued: 100 }), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("t", 1);
  const pub = new SimClient(sim);
  pub.connect("pub");
  for (let i = 1; i <= 50; i++) pub.publish1("t", "m" + i, i);
  const s = findSession(sim.broker.sessions, "sub")!;
  assert.is(s.inflight.length, 3);
  assert.is(s.queue.length, 47);
  const got = sub.publishes();
  assert.is(got.length, 3);
  sub.ack(PUBACK, got[0].packetId);
  assert.is(sub.publishes().length, 1);
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

test.run();
