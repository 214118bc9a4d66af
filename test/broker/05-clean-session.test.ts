import { test } from "uvu";
import * as assert from "uvu/assert";
import { findSession } from "../../firmware/core/session/registry";
import {
  assertNoConnections, configWith, inModes, PUBACK, SimClient, startSim,
} from "../support/sim-client";

inModes(test, "clean session: nothing survives the connection", (opts) => {
  const sim = startSim(configWith(), opts);
  const a = new SimClient(sim);
  a.connect("c", { clean: true });
  a.subscribe("t", 1);
  a.end();
  assert.is(findSession(sim.broker.sessions, "c"), undefined);
  assert.is(sim.broker.topics.count, 0);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("t", "lost");
  const b = new SimClient(sim);
  assert.is(b.connect("c", { clean: true }).sessionPresent, false);
  b.expectNothing();
  b.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "persistent session: subscriptions kept, QoS 1/2 queued offline, QoS 0 not", (opts) => {
  const sim = startSim(configWith(), opts);
  const a = new SimClient(sim);
  assert.is(a.connect("p", { clean: false }).sessionPresent, false);
  a.subscribe("t", 2);
  a.end();
  assert.is(sim.broker.sessions.offline.length, 1);

  const pub = new SimClient(sim);
  pub.connect("pub");
  const sent = sim.broker.stats.publishSent;
  pub.publish("t", "q0");
  assert.is(sim.broker.stats.publishSent, sent, "QoS 0 is not sent to an offline session");
  pub.publish1("t", "q1", 1);
  pub.publish2("t", "q2", 2);

  const b = new SimClient(sim);
  assert.is(b.connect("p", { clean: false }).sessionPresent, true, "[MQTT-3.2.2-2]");
  const got = b.publishes();
  assert.equal(got.map((p) => [p.payload, p.qos, p.dup]), [["q1", 1, false], ["q2", 2, false]]);
  b.ack(PUBACK, got[0].packetId);
  // the subscription itself survived
  pub.publish("t", "live");
  assert.equal(b.publishes().map((p) => p.payload), ["live"]);
  b.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "a clean CONNECT discards the persistent session", (opts) => {
  const sim = startSim(configWith(), opts);
  const a = new SimClient(sim);
  a.connect("p", { clean: false });
  a.subscribe("t", 1);
  a.end();
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("t", "queued");
  assert.is(findSession(sim.broker.sessions, "p")!.queue.length, 1);
  const b = new SimClient(sim);
  assert.is(b.connect("p", { clean: true }).sessionPresent, false, "[MQTT-3.1.2-6]");
  b.expectNothing("queued message of the discarded session");
  b.end();
  assert.is(sim.broker.topics.count, 0);
  // and a later persistent connect starts from nothing too
  const c = new SimClient(sim);
  assert.is(c.connect("p", { clean: false }).sessionPresent, false);
  c.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "the offline queue is bounded by maxQueued: the oldest are kept, the rest dropped", (opts) => {
  const sim = startSim(configWith({ maxQueued: 5, maxInflight: 20 }), opts);
  const a = new SimClient(sim);
  a.connect("p", { clean: false });
  a.subscribe("t", 1);
  a.end();
  const pub = new SimClient(sim);
  pub.connect("pub");
  for (let i = 0; i < 12; i++) pub.publish1("t", "m" + i, i + 1);
  const s = findSession(sim.broker.sessions, "p")!;
  assert.is(s.queue.length, 5);
  assert.is(s.dropped, 7);
  const b = new SimClient(sim);
  b.connect("p", { clean: false });
  const got = b.publishes();
  assert.equal(got.map((p) => p.payload), ["m0", "m1", "m2", "m3", "m4"]);
  for (const p of got) b.ack(PUBACK, p.packetId);
  b.expectNothing();
  assert.is(s.inflight.length + s.queue.length, 0);
  b.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "the queue behind a full in-flight window is bounded too, while online", (opts) => {
  const sim = startSim(configWith({ maxQueued: 3, maxInflight: 1 }), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("t", 1);
  const pub = new SimClient(sim);
  pub.connect("pub");
  for (let i = 0; i < 10; i++) pub.publish1("t", "m" + i, i + 1);
  const s = findSession(sim.broker.sessions, "sub")!;
  assert.is(s.inflight.length, 1);
  assert.is(s.queue.length, 3);
  const received: string[] = [];
  for (let round = 0; round < 10; round++) {
    const got = sub.publishes();
    if (got.length === 0) break;
    for (const p of got) {
      received.push(p.payload!);
      sub.ack(PUBACK, p.packetId);
    }
  }
  assert.equal(received, ["m0", "m1", "m2", "m3"]);
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "persistent sessions beyond maxSessions: the oldest offline one is evicted", (opts) => {
  const sim = startSim(configWith({ maxSessions: 2 }), opts);
  for (const id of ["s1", "s2", "s3"]) {
    const c = new SimClient(sim);
    c.connect(id, { clean: false });
    c.subscribe("t/" + id);
    c.end();
    sim.clock.advance(10);
  }
  assert.is(findSession(sim.broker.sessions, "s1"), undefined);
  assert.ok(findSession(sim.broker.sessions, "s2") !== undefined);
  assert.ok(findSession(sim.broker.sessions, "s3") !== undefined);
  assert.is(sim.broker.sessions.evicted, 1);
  assert.is(sim.broker.topics.count, 2, "the evicted session's subscription is gone");
  const back = new SimClient(sim);
  assert.is(back.connect("s1", { clean: false }).sessionPresent, false);
  back.end();
  assertNoConnections(sim);
});

test.run();
