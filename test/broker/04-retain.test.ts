import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  assertNoConnections, configWith, inModes, PUBACK, PUBLISH, SimClient, startSim,
} from "../support/sim-client";

inModes(test, "a retained message goes to later subscribers with RETAIN set, live copies without", (opts) => {
  const sim = startSim(configWith(), opts);
  const pub = new SimClient(sim);
  pub.connect("pub");
  const early = new SimClient(sim);
  early.connect("early");
  early.subscribe("r/#");
  pub.publish("r/1", "kept", 0, true);
  const live = early.publishes();
  assert.is(live.length, 1);
  assert.is(live[0].retain, false, "live delivery clears RETAIN [MQTT-3.3.1-9]");

  const late = new SimClient(sim);
  late.connect("late");
  late.subscribe("r/+");
  const got = late.publishes();
  assert.is(got.length, 1);
  assert.is(got[0].topic, "r/1");
  assert.is(got[0].payload, "kept");
  assert.is(got[0].retain, true, "[MQTT-3.3.1-6]");
  for (const c of [pub, early, late]) c.end();
  assertNoConnections(sim);
  assert.is(sim.broker.retained.list.length, 1, "retained messages outlive their publisher");
});

inModes(test, "a new retained message replaces the old one; an empty one clears it", (opts) => {
  const sim = startSim(configWith(), opts);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish("r", "v1", 0, true);
  pub.publish("r", "v2", 0, true);
  const a = new SimClient(sim);
  a.connect("a");
  a.subscribe("r");
  assert.equal(a.publishes().map((p) => p.payload), ["v2"]);
  pub.publish("r", "", 0, true);
  assert.equal(a.publishes().map((p) => p.payload), [""], "the empty retained publish is still delivered live");
  assert.is(sim.broker.retained.list.length, 0);
  const b = new SimClient(sim);
  b.connect("b");
  b.subscribe("r");
  b.expectNothing("cleared retained message delivered");
  for (const c of [pub, a, b]) c.end();
  assertNoConnections(sim);
});

inModes(test, "wildcard subscription receives every matching retained message, at min QoS", (opts) => {
  const sim = startSim(configWith(), opts);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish("h/kitchen/temp", "20", 0, true);
  pub.publish1("h/hall/temp", "18", 1, true);
  pub.publish2("h/hall/hum", "40", 2, true);
  pub.publish("$h/x", "no", 0, true); // $ topics from clients are dropped
  const s1 = new SimClient(sim);
  s1.connect("s1");
  s1.subscribe("h/+/temp", 1);
  const got = s1.publishes().sort((x, y) => (x.topic! < y.topic! ? -1 : 1));
  assert.equal(got.map((p) => [p.topic, p.qos, p.retain]), [["h/hall/temp", 1, true], ["h/kitchen/temp", 0, true]]);
  s1.ack(PUBACK, got[0].packetId);
  const s2 = new SimClient(sim);
  s2.connect("s2");
  s2.subscribe("#", 0);
  const all = s2.publishes();
  assert.is(all.length, 3, "# gets all three, not $h/x");
  assert.ok(all.every((p) => p.qos === 0 && p.retain));
  for (const c of [pub, s1, s2]) c.end();
  assertNoConnections(sim);
});

inModes(test, "retained store limits: a full store refuses new topics, live delivery goes on", (opts) => {
  const sim = startSim(configWith({ maxRetained: 2 }), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("#");
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish("a", "1", 0, true);
  pub.publish("b", "2", 0, true);
  pub.publish("c", "3", 0, true);
  assert.is(sub.publishes().length, 3);
  assert.is(sim.broker.retained.list.length, 2);
  assert.is(sim.broker.retained.refused, 1);
  pub.publish("a", "1b", 0, true); // replacing is still possible
  sub.publishes();
  const late = new SimClient(sim);
  late.connect("late");
  late.subscribe("#");
  assert.equal(late.publishes().map((p) => p.topic + "=" + p.payload).sort(), ["a=1b", "b=2"]);
  for (const c of [pub, sub, late]) c.end();
  assertNoConnections(sim);
});

inModes(test, "retain_available false: a retained PUBLISH closes the connection", (opts) => {
  const config = configWith();
  config.retainAvailable = false;
  const sim = startSim(config, opts);
  const c = new SimClient(sim);
  c.connect("c");
  c.publish("r", "x", 0, true);
  c.settle();
  assert.ok(c.closed);
  assert.is(sim.broker.retained.list.length, 0);
  assertNoConnections(sim);
});

inModes(test, "retained QoS 1 to an offline persistent subscriber is queued on subscribe", (opts) => {
  const sim = startSim(configWith(), opts);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("r", "x", 1, true);
  const s = new SimClient(sim);
  s.connect("s", { clean: false });
  s.subscribe("r", 1);
  const m = s.expect(PUBLISH);
  assert.is(m.retain, true);
  assert.is(m.qos, 1);
  s.end(); // unacknowledged
  const back = new SimClient(sim);
  back.connect("s", { clean: false });
  const re = back.expect(PUBLISH);
  assert.is(re.retain, true);
  assert.is(re.dup, true);
  back.ack(PUBACK, re.packetId);
  back.end();
  pub.end();
  assertNoConnections(sim);
});

test.run();
