import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  assertNoConnections, configWith, connectBytes, inModes, PUBACK, PUBLISH, publishBytes, SimClient, startSim,
  subscribeBytes,
} from "../support/sim-client";

inModes(test, "a stalled reader loses QoS 0 past maxSendQueueBytes; other clients keep working", (opts) => {
  const sim = startSim(configWith({ maxSendQueueBytes: 256 }), opts);
  const slow = new SimClient(sim);
  slow.connect("slow");
  slow.subscribe("t");
  const fast = new SimClient(sim);
  fast.connect("fast");
  fast.subscribe("t");
  const pub = new SimClient(sim);
  pub.connect("pub");
  slow.sock.stall();
  const payload = "p".repeat(40); // 1 + 1 + 2 + 1 + 40 = 45 bytes a packet
  for (let i = 0; i < 40; i++) pub.publish("t", payload + String(i).padStart(2, "0"));
  assert.is(fast.publishes().length, 40, "the fast client got everything");
  const queued = sim.net.queued(slow.sock.id);
  assert.ok(queued > 256 && queued <= 256 + 47, "queue stops right past the limit: " + queued);
  assert.ok(sim.broker.stats.publishDropped > 0);
  slow.sock.resume();
  const got = slow.publishes();
  assert.ok(got.length > 0 && got.length < 40, "slow got " + got.length);
  assert.is(got.length, Math.ceil(257 / 47), "sent while the queue was at or under the limit");
  // in order, no gaps before the drop point
  assert.equal(got.map((p) => p.payload!.slice(-2)), got.map((_, i) => String(i).padStart(2, "0")));
  // after the queue drains, the slow client receives again
  pub.publish("t", "after");
  assert.equal(slow.publishes().map((p) => p.payload), ["after"]);
  assert.equal(fast.publishes().map((p) => p.payload), ["after"]);
  for (const c of [slow, fast, pub]) c.end();
  assertNoConnections(sim);
});

inModes(test, "QoS 1 to a stalled reader is not dropped: it waits in the session", (opts) => {
  const sim = startSim(configWith({ maxSendQueueBytes: 64, maxInflight: 100 }), opts);
  const slow = new SimClient(sim);
  slow.connect("slow");
  slow.subscribe("t", 1);
  const pub = new SimClient(sim);
  pub.connect("pub");
  slow.sock.stall();
  for (let i = 1; i <= 10; i++) pub.publish1("t", "m" + i, i);
  slow.sock.resume();
  const got = slow.publishes();
  assert.is(got.length, 10);
  for (const p of got) slow.ack(PUBACK, p.packetId);
  slow.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "garbage after CONNECT closes that client only", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("#");
  const bad = new SimClient(sim);
  bad.connect("bad");
  bad.send(Uint8Array.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])); // five length bytes
  bad.settle();
  assert.ok(bad.closed);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish("x", "ok");
  assert.equal(sub.publishes().map((p) => p.payload), ["ok"]);
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "many packets in one write, and one packet over many writes", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("t");
  const c = new SimClient(sim);
  const parts: Uint8Array[] = [connectBytes("batch"), subscribeBytes(1, ["u"], [0])];
  for (let i = 0; i < 20; i++) parts.push(publishBytes("t", "m" + i));
  const all = Buffer.concat(parts);
  c.send(all);
  const got = c.drain();
  assert.equal(got.map((p) => p.name), ["CONNACK", "SUBACK"]);
  assert.is(sub.publishes().length, 20);
  const one = publishBytes("t", "slow packet");
  for (let i = 0; i < one.length; i++) {
    c.send(one.subarray(i, i + 1));
    sim.clock.advance(10);
  }
  assert.equal(sub.publishes().map((p) => p.payload), ["slow packet"]);
  sub.end();
  c.end();
  assertNoConnections(sim);
});

inModes(test, "a client that vanishes mid-packet leaves no connection and no partial message", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("#", 1);
  for (let cut = 1; cut < 20; cut++) {
    const c = new SimClient(sim);
    c.connect("c" + cut);
    const p = publishBytes("topic/" + cut, "payload", 1, false, 1);
    c.send(p.subarray(0, Math.min(cut, p.length - 1)));
    c.sock.cut();
    c.settle();
  }
  sub.expectNothing();
  assert.is(sim.broker.clientCount, 1);
  sub.end();
  assertNoConnections(sim);
});

inModes(test, "latency: packets arrive later but in order", (opts) => {
  const sim = startSim(configWith(), { ...opts, latencyMs: 50 });
  const sub = new SimClient(sim);
  sub.sock.write(connectBytes("sub"));
  sub.sock.write(subscribeBytes(1, ["t"], [1]));
  sim.clock.advance(49);
  assert.is(sub.drain().length, 0, "nothing before the latency");
  sim.clock.advance(60);
  assert.equal(sub.drain().map((p) => p.name), ["CONNACK", "SUBACK"]);
  const pub = new SimClient(sim);
  pub.sock.write(connectBytes("pub"));
  for (let i = 1; i <= 5; i++) pub.sock.write(publishBytes("t", "m" + i, 1, false, i));
  sim.clock.advance(200);
  const got = sub.drain().filter((p) => p.type === PUBLISH);
  assert.equal(got.map((p) => p.payload), ["m1", "m2", "m3", "m4", "m5"]);
  for (const p of got) sub.sock.write(Uint8Array.from([0x40, 2, 0, p.packetId]));
  sub.sock.end();
  pub.sock.end();
  sim.clock.advance(200);
  assertNoConnections(sim);
});

test.run();
