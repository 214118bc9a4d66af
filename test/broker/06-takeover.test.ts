import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  assertNoConnections, configWith, inModes, PUBACK, PUBLISH, SimClient, startSim,
} from "../support/sim-client";

inModes(test, "the same client id again closes the older connection [MQTT-3.1.4-2]", (opts) => {
  const sim = startSim(configWith(), opts);
  const first = new SimClient(sim);
  first.connect("dup", { clean: false });
  first.subscribe("t", 1);
  const second = new SimClient(sim);
  const ack = second.connect("dup", { clean: false });
  second.settle();
  assert.ok(first.closed, "older connection closed");
  assert.not.ok(second.closed);
  assert.is(ack.sessionPresent, true, "the session carries over");
  assert.is(sim.broker.clientCount, 1);
  assert.is(sim.broker.conns.length, 1);

  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("t", "to the new one");
  first.expectNothing("message to the old connection");
  const got = second.expect(PUBLISH);
  assert.is(got.payload, "to the new one");
  second.ack(PUBACK, got.packetId);
  second.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "takeover keeps in-flight messages: redelivered with DUP to the new connection", (opts) => {
  const sim = startSim(configWith(), opts);
  const first = new SimClient(sim);
  first.connect("dup", { clean: false });
  first.subscribe("t", 1);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("t", "m");
  const m = first.expect(PUBLISH);
  const second = new SimClient(sim);
  second.connect("dup", { clean: false });
  const re = second.expect(PUBLISH);
  assert.is(re.dup, true);
  assert.is(re.packetId, m.packetId);
  second.ack(PUBACK, re.packetId);
  second.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "takeover with a clean session starts afresh", (opts) => {
  const sim = startSim(configWith(), opts);
  const first = new SimClient(sim);
  first.connect("dup", { clean: false });
  first.subscribe("t");
  const second = new SimClient(sim);
  assert.is(second.connect("dup", { clean: true }).sessionPresent, false);
  second.settle();
  assert.ok(first.closed);
  assert.is(sim.broker.topics.count, 0, "old subscriptions dropped");
  second.end();
  assertNoConnections(sim);
  assert.is(sim.broker.sessions.count, 0);
});

inModes(test, "takeover at maxClients is not refused (it replaces a connection)", (opts) => {
  const sim = startSim(configWith({ maxClients: 1 }), opts);
  const first = new SimClient(sim);
  first.connect("only");
  const second = new SimClient(sim);
  second.connect("only");
  second.settle();
  assert.ok(first.closed);
  assert.is(sim.broker.clientCount, 1);
  second.end();
  assertNoConnections(sim);
});

inModes(test, "three takeovers in a row leave exactly one live connection", (opts) => {
  const sim = startSim(configWith(), opts);
  const cs: SimClient[] = [];
  for (let i = 0; i < 4; i++) {
    const c = new SimClient(sim);
    c.connect("same", { clean: i % 2 === 0 });
    c.settle();
    cs.push(c);
  }
  assert.equal(cs.map((c) => c.closed), [true, true, true, false]);
  assert.is(sim.broker.clientCount, 1);
  cs[3].end();
  assertNoConnections(sim);
});

test.run();
