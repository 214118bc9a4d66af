import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  assertNoConnections, configWith, inModes, PUBACK, SimClient, startSim,
} from "../support/sim-client";

inModes(test, "no packet for more than 1.5 x keepalive closes the connection", (opts) => {
  const sim = startSim(configWith({ tickMs: 100 }), opts);
  const c = new SimClient(sim);
  c.connect("c", { keepalive: 4 });
  sim.clock.advance(6000);
  assert.not.ok(c.closed, "closed at 1.5 x");
  sim.clock.advance(100);
  assert.ok(c.closed, "open past 1.5 x");
  assertNoConnections(sim);
});

inModes(test, "PINGREQ gets PINGRESP and resets the timer; so does any other packet", (opts) => {
  const sim = startSim(configWith({ tickMs: 100 }), opts);
  const c = new SimClient(sim);
  c.connect("c", { keepalive: 2 });
  sim.clock.advance(2900);
  const resp = c.ping();
  assert.is(resp.flags, 0);
  sim.clock.advance(2900);
  c.subscribe("x"); // SUBSCRIBE counts as activity
  sim.clock.advance(2900);
  c.publish("x", "p"); // so does PUBLISH
  c.drain();
  sim.clock.advance(2900);
  assert.not.ok(c.closed);
  sim.clock.advance(200);
  assert.ok(c.closed);
  assertNoConnections(sim);
});

inModes(test, "receiving messages does not count as the client's activity", (opts) => {
  const sim = startSim(configWith({ tickMs: 100 }), opts);
  const sub = new SimClient(sim);
  sub.connect("sub", { keepalive: 2 });
  sub.subscribe("t", 1);
  const pub = new SimClient(sim);
  pub.connect("pub");
  for (let i = 0; i < 4; i++) {
    sim.clock.advance(1000);
    pub.publish("t", "m" + i);
  }
  assert.ok(sub.closed, "only packets from the client keep it alive");
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "keepalive 0 never expires", (opts) => {
  const sim = startSim(configWith(), opts);
  const c = new SimClient(sim);
  c.connect("c", { keepalive: 0 });
  sim.clock.advance(3600 * 1000);
  assert.not.ok(c.closed);
  c.ping();
  c.end();
  assertNoConnections(sim);
});

inModes(test, "keepalive expiry of a persistent session keeps its state", (opts) => {
  const sim = startSim(configWith({ tickMs: 100 }), opts);
  const c = new SimClient(sim);
  c.connect("p", { keepalive: 1, clean: false });
  c.subscribe("t", 1);
  sim.clock.advance(1600);
  assert.ok(c.closed);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("t", "while away");
  const back = new SimClient(sim);
  assert.is(back.connect("p", { clean: false }).sessionPresent, true);
  const got = back.publishes();
  assert.equal(got.map((p) => p.payload), ["while away"]);
  back.ack(PUBACK, got[0].packetId);
  back.end();
  pub.end();
  assertNoConnections(sim);
});

test.run();
