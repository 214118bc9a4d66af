import { test } from "uvu";
import * as assert from "uvu/assert";
import { findSession } from "../../firmware/core/session/registry";
import {
  assertNoConnections, configWith, inModes, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SimClient, startSim,
} from "../support/sim-client";

inModes(test, "QoS 1: PUBACK to the publisher, QoS 1 delivery with a packet id", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("q", 1);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("q", "one", 42);
  const m = sub.expect(PUBLISH);
  assert.is(m.qos, 1);
  assert.is(m.dup, false);
  assert.ok(m.packetId > 0);
  assert.is(m.payload, "one");
  const s = findSession(sim.broker.sessions, "sub")!;
  assert.is(s.inflight.length, 1);
  sub.ack(PUBACK, m.packetId);
  assert.is(s.inflight.length, 0, "PUBACK completes the delivery");
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "QoS 2: PUBREC/PUBREL/PUBCOMP both ways, delivered exactly once", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("q", 2);
  const pub = new SimClient(sim);
  pub.connect("pub");

  pub.publish("q", "once", 2, false, 5);
  assert.is(pub.expect(PUBREC).packetId, 5);
  // the publisher resends before releasing: not delivered twice [MQTT-4.3.3-2]
  pub.publish("q", "once", 2, false, 5, true);
  assert.is(pub.expect(PUBREC).packetId, 5);
  pub.ack(PUBREL, 5);
  assert.is(pub.expect(PUBCOMP).packetId, 5);

  const got = sub.publishes();
  assert.is(got.length, 1, "exactly once");
  assert.is(got[0].qos, 2);
  const id = got[0].packetId;
  sub.ack(PUBREC, id);
  const rel = sub.expect(PUBREL);
  assert.is(rel.packetId, id);
  assert.is(rel.flags, 2);
  sub.ack(PUBCOMP, id);
  assert.is(findSession(sim.broker.sessions, "sub")!.inflight.length, 0);
  sub.expectNothing();
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "delivery QoS is min(publish QoS, granted QoS)", (opts) => {
  const sim = startSim(configWith(), opts);
  const subs: SimClient[] = [];
  for (let q = 0; q <= 2; q++) {
    const s = new SimClient(sim);
    s.connect("sub" + q);
    s.subscribe("t", q);
    subs.push(s);
  }
  const pub = new SimClient(sim);
  pub.connect("pub");
  for (let pq = 0; pq <= 2; pq++) {
    if (pq === 0) pub.publish("t", "p0");
    else if (pq === 1) pub.publish1("t", "p1", 10);
    else pub.publish2("t", "p2", 11);
    for (let sq = 0; sq <= 2; sq++) {
      const got = subs[sq].publishes();
      assert.is(got.length, 1);
      assert.is(got[0].qos, Math.min(pq, sq), `publish ${pq} to granted ${sq}`);
      if (got[0].qos === 1) subs[sq].ack(PUBACK, got[0].packetId);
      if (got[0].qos === 2) {
        subs[sq].ack(PUBREC, got[0].packetId);
        subs[sq].expect(PUBREL);
        subs[sq].ack(PUBCOMP, got[0].packetId);
      }
    }
  }
  for (const c of [...subs, pub]) c.end();
  assertNoConnections(sim);
});

inModes(test, "QoS 1 unacknowledged is redelivered with DUP after reconnect, then not again", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("durable", { clean: false });
  sub.subscribe("d", 1);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("d", "m1", 1);
  const first = sub.expect(PUBLISH);
  assert.is(first.dup, false);
  sub.end(); // no PUBACK

  const again = new SimClient(sim);
  const ack = again.connect("durable", { clean: false });
  assert.is(ack.sessionPresent, true);
  const re = again.expect(PUBLISH);
  assert.is(re.dup, true, "DUP set on redelivery [MQTT-3.3.1-1]");
  assert.is(re.packetId, first.packetId, "same packet id");
  assert.is(re.payload, "m1");
  assert.is(re.qos, 1);
  again.ack(PUBACK, re.packetId);
  again.end();

  const third = new SimClient(sim);
  assert.is(third.connect("durable", { clean: false }).sessionPresent, true);
  third.expectNothing("acknowledged message came back");
  third.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "QoS 2: PUBLISH redelivered with DUP, PUBREL resumed after reconnect", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("durable", { clean: false });
  sub.subscribe("d", 2);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish2("d", "a", 1);
  pub.publish2("d", "b", 2);
  const [ma, mb] = sub.publishes();
  assert.is(ma.payload, "a");
  assert.is(mb.payload, "b");
  // "a" gets as far as PUBREC; "b" is not answered at all
  sub.ack(PUBREC, ma.packetId);
  assert.is(sub.expect(PUBREL).packetId, ma.packetId);
  sub.end();

  const back = new SimClient(sim);
  assert.is(back.connect("durable", { clean: false }).sessionPresent, true);
  const resumed = back.drain();
  assert.equal(resumed.map((p) => p.name), ["PUBREL", "PUBLISH"]);
  assert.is(resumed[0].packetId, ma.packetId, "PUBREL for the received one [MQTT-4.4.0-1]");
  assert.is(resumed[1].packetId, mb.packetId);
  assert.is(resumed[1].dup, true);
  assert.is(resumed[1].payload, "b");
  back.ack(PUBCOMP, ma.packetId);
  back.ack(PUBREC, mb.packetId);
  assert.is(back.expect(PUBREL).packetId, mb.packetId);
  back.ack(PUBCOMP, mb.packetId);
  assert.is(findSession(sim.broker.sessions, "durable")!.inflight.length, 0);
  back.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "the in-flight window holds back messages until acknowledged, in order", (opts) => {
  const sim = startSim(configWith({ maxInflight: 2 }), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("w", 1);
  const pub = new SimClient(sim);
  pub.connect("pub");
  for (let i = 1; i <= 5; i++) pub.publish1("w", "m" + i, i);
  let got = sub.publishes();
  assert.equal(got.map((p) => p.payload), ["m1", "m2"]);
  const received: string[] = [];
  while (got.length > 0) {
    for (const p of got) {
      received.push(p.payload as string);
      sub.ack(PUBACK, p.packetId);
    }
    got = sub.publishes();
    assert.ok(got.length <= 2, "never more than the window");
  }
  assert.equal(received, ["m1", "m2", "m3", "m4", "m5"]);
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "QoS 1/2 PUBLISH with packet id 0 is malformed", (opts) => {
  const sim = startSim(configWith(), opts);
  for (const qos of [1, 2]) {
    const c = new SimClient(sim);
    c.connect("c");
    c.publish("t", "x", qos, false, 0);
    // publish() substitutes id 1 for 0, so build it by hand
    c.drain();
    assert.not.ok(c.closed);
    c.send(Uint8Array.from([0x30 + qos * 2, 5, 0, 1, 116, 0, 0]));
    c.settle();
    assert.ok(c.closed, "qos " + qos);
  }
  assertNoConnections(sim);
});

inModes(test, "PUBACK for a QoS 2 delivery is a protocol error", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("t", 2);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish2("t", "x", 1);
  const m = sub.expect(PUBLISH);
  sub.ack(PUBACK, m.packetId);
  sub.settle();
  assert.ok(sub.closed);
  pub.end();
  assertNoConnections(sim);
});

test.run();
