/**
 * Load and backpressure: a stalled subscriber cannot grow the broker, floods
 * of connections are refused and closed, a takeover loop is refused as a
 * conflict, a password brute force is slowed per address. Figures printed.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CONNACK_NOT_AUTHORIZED, CONNACK_SERVER_UNAVAILABLE } from "../../firmware/core/codec/constants";
import { loadProfile } from "../../host-sim/config";
import { bruteForce, connectionFlood, slowConsumer, takeoverStorm } from "../support/load";
import { assertNoConnections, configWith, SimClient, startSim } from "../support/sim-client";

const esp32 = loadProfile("esp32");

test("connection flood: CONNACK 3 and a close beyond maxClients; half-open sockets closed after connectTimeoutMs", () => {
  const f = connectionFlood(esp32, 40, 30);
  console.log("  flood [esp32]:", JSON.stringify(f));
  assert.is(f.accepted, esp32.maxClients);
  assert.is(f.refused, 40 - esp32.maxClients);
  assert.is(f.refusedClosed, f.refused, "every refused client is closed");
  assert.ok(f.halfOpenClosedAfterMs >= esp32.connectTimeoutMs && f.halfOpenClosedAfterMs <= esp32.connectTimeoutMs + esp32.tickMs,
    "half-open closed after " + f.halfOpenClosedAfterMs);
  const host = connectionFlood({ ...loadProfile("host"), maxClients: 500 }, 700, 300);
  console.log("  flood [host, maxClients 500]:", JSON.stringify(host));
  assert.is(host.refused, 200);
  assert.ok(host.heapAfterDelta < 2 * 1024 * 1024, "memory given back after the flood: " + host.heapAfterDelta);
});

test("slow consumer: queue bounded, QoS 0 dropped and counted, QoS 1 refused past the limits, disconnected after stallTimeoutMs", () => {
  const p = { ...esp32, stallTimeoutMs: 5000 };
  const s = slowConsumer(p, 4000, 200);
  console.log("  slow consumer [esp32]:", JSON.stringify(s));
  // at most one packet past the limit (the check is before a send)
  assert.ok(s.peakQueuedBytes > p.maxSendQueueBytes && s.peakQueuedBytes <= p.maxSendQueueBytes + 2 * 215, "queue peak " + s.peakQueuedBytes);
  assert.ok(s.qos0Dropped > 1500, "QoS 0 dropped " + s.qos0Dropped);
  assert.is(s.qos1Queued, p.maxInflight + p.maxQueued);
  assert.is(s.qos1Dropped, 2000 - p.maxInflight - p.maxQueued);
  assert.ok(s.slowClosedAfterMs > 0 && s.slowClosedAfterMs <= p.stallTimeoutMs + 2 * p.tickMs, "closed after " + s.slowClosedAfterMs);
  assert.ok(s.willPublished, "a slow consumer's will goes out");
  assert.is(s.fastSubscriberGot, 2000, "the fast subscriber got every QoS 0 message");
});

test("a short stall is not punished: the timer restarts when the queue drains", () => {
  const sim = startSim(configWith({ maxSendQueueBytes: 256, stallTimeoutMs: 3000, tickMs: 500 }));
  const slow = new SimClient(sim);
  slow.connect("slow");
  slow.subscribe("t");
  const pub = new SimClient(sim);
  pub.connect("pub");
  for (let round = 0; round < 4; round++) {
    slow.sock.stall();
    for (let i = 0; i < 20; i++) pub.publish("t", "x".repeat(40));
    sim.clock.advance(2000);
    slow.sock.resume();
    slow.publishes();
    sim.clock.advance(1000);
  }
  assert.not.ok(slow.closed, "stalled 2 s at a time, under the 3 s limit");
  slow.sock.stall();
  for (let i = 0; i < 20; i++) pub.publish("t", "x".repeat(40));
  sim.clock.advance(4000);
  slow.sock.resume();
  slow.settle();
  assert.ok(slow.closed, "stalled past the limit");
  assert.is(sim.broker.guard.slowClosed, 1);
  pub.end();
  assertNoConnections(sim);
});

test("stallTimeoutMs 0: no disconnect, QoS 0 still dropped", () => {
  const sim = startSim(configWith({ maxSendQueueBytes: 256, stallTimeoutMs: 0 }));
  const slow = new SimClient(sim);
  slow.connect("slow");
  slow.subscribe("t");
  const pub = new SimClient(sim);
  pub.connect("pub");
  slow.sock.stall();
  for (let i = 0; i < 50; i++) pub.publish("t", "x".repeat(40));
  sim.clock.advance(120000);
  assert.is(sim.broker.clientCount, 2);
  assert.ok(sim.broker.stats.publishDropped > 0);
  assert.ok(sim.net.queued(slow.sock.id) <= 256 + 50);
});

test("takeover storm: past maxTakeovers per window, CONNACK 3; the holder keeps its connection; allowed again later", () => {
  const p = { ...esp32, maxTakeovers: 3, takeoverWindowMs: 10000 };
  const s = takeoverStorm(p, 20);
  console.log("  takeover storm:", JSON.stringify(s));
  assert.is(s.accepted, 3);
  assert.is(s.refused, 17);
  const sim = startSim(configWith({ maxTakeovers: 2, takeoverWindowMs: 5000, tickMs: 1000 }));
  let holder = new SimClient(sim);
  holder.connect("twin");
  for (let i = 0; i < 2; i++) {
    const c = new SimClient(sim);
    c.connect("twin");
    holder.settle();
    assert.ok(holder.closed, "taken over");
    holder = c;
  }
  const refused = new SimClient(sim);
  refused.connect("twin", {}, CONNACK_SERVER_UNAVAILABLE);
  refused.settle();
  assert.ok(refused.closed);
  assert.not.ok(holder.closed, "a refused takeover leaves the holder connected");
  holder.ping();
  sim.clock.advance(6000);
  const later = new SimClient(sim);
  later.connect("twin");
  holder.settle();
  assert.ok(holder.closed);
  // a reconnect after a clean DISCONNECT is no takeover: never refused
  for (let i = 0; i < 10; i++) {
    const c = new SimClient(sim);
    c.connect("other");
    c.disconnect();
  }
});

test("failed logins: after maxAuthFailures for a user from an address, CONNACK 5 without checking, for authBackoffMs; other users there unaffected", () => {
  const p = { ...esp32, maxAuthFailures: 4, authBackoffMs: 30000 };
  const f = bruteForce(p, 100);
  console.log("  brute force:", JSON.stringify(f));
  assert.is(f.checked, 4, "only maxAuthFailures passwords were checked");
  assert.is(f.refusedUnchecked, 96);
  assert.ok(f.otherAddressAccepted, "another address is not blocked");
  assert.ok(f.otherUserAccepted, "another user at the same address is not blocked");
  assert.ok(f.afterBackoffAccepted, "blocked with the right password during the backoff, let in after it");
  const off = bruteForce({ ...esp32, maxAuthFailures: 0 }, 20);
  assert.is(off.checked, 20, "maxAuthFailures 0 turns it off");
});

test("anonymous refusals count as failures too, and the guard's memory is bounded by maxClients", () => {
  const config = configWith({ maxAuthFailures: 2, maxClients: 8 });
  config.auth.allowAnonymous = false;
  const sim = startSim(config);
  for (let i = 0; i < 100; i++) {
    const c = new SimClient(sim, "198.51.100." + i);
    c.connect("x" + i, {}, CONNACK_NOT_AUTHORIZED);
  }
  assert.ok(sim.broker.guard.records.length <= 8, "records " + sim.broker.guard.records.length);
  sim.clock.advance(120000);
  assert.is(sim.broker.guard.records.length, 0, "records expire");
  assertNoConnections(sim);
});

test.run();
