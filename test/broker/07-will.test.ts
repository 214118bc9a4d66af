import { test } from "uvu";
import * as assert from "uvu/assert";
import { ACCESS_READWRITE, AclTable } from "../../firmware/core/auth/types";
import {
  assertNoConnections, configWith, inModes, PUBACK, PUBLISH, publishBytes, SimClient, startSim,
} from "../support/sim-client";

const WILL = { topic: "status/dev", message: "offline" };

function watcher(sim: ReturnType<typeof startSim>, filter = "status/#", qos = 0): SimClient {
  const w = new SimClient(sim);
  w.connect("watcher");
  w.subscribe(filter, qos);
  return w;
}

inModes(test, "will on keepalive expiry: after 1.5 x keepalive, and not before", (opts) => {
  const sim = startSim(configWith({ tickMs: 100 }), opts);
  const w = watcher(sim);
  const dev = new SimClient(sim);
  dev.connect("dev", { keepalive: 10, will: WILL });
  sim.clock.advance(15000);
  assert.not.ok(dev.closed, "closed at exactly 1.5 x keepalive");
  w.expectNothing("will published early");
  sim.clock.advance(200);
  assert.ok(dev.closed, "still open past 1.5 x keepalive");
  const got = w.publishes();
  assert.equal(got.map((p) => [p.topic, p.payload]), [["status/dev", "offline"]]);
  w.end();
  assertNoConnections(sim);
});

inModes(test, "PINGREQ keeps the connection (and the will) alive", (opts) => {
  const sim = startSim(configWith({ tickMs: 100 }), opts);
  const w = watcher(sim);
  const dev = new SimClient(sim);
  dev.connect("dev", { keepalive: 10, will: WILL });
  for (let i = 0; i < 5; i++) {
    sim.clock.advance(14000);
    dev.ping();
  }
  assert.not.ok(dev.closed);
  w.expectNothing();
  dev.disconnect();
  w.end();
  assertNoConnections(sim);
});

inModes(test, "no will after DISCONNECT [MQTT-3.14.4-3]", (opts) => {
  const sim = startSim(configWith(), opts);
  const w = watcher(sim);
  const dev = new SimClient(sim);
  dev.connect("dev", { will: WILL });
  dev.disconnect();
  assert.ok(dev.closed);
  w.expectNothing("will after DISCONNECT");
  w.end();
  assertNoConnections(sim);
});

inModes(test, "will when the socket closes without DISCONNECT, at the will QoS, retained if asked", (opts) => {
  const sim = startSim(configWith(), opts);
  const w = watcher(sim, "status/#", 2);
  const dev = new SimClient(sim);
  dev.connect("dev", { will: { ...WILL, qos: 1, retain: true } });
  dev.end();
  const got = w.expect(PUBLISH);
  assert.is(got.payload, "offline");
  assert.is(got.qos, 1);
  assert.is(got.retain, false, "live delivery clears RETAIN");
  w.ack(PUBACK, got.packetId);
  assert.is(sim.broker.retained.list.length, 1);
  const late = new SimClient(sim);
  late.connect("late");
  late.subscribe("status/dev");
  const kept = late.expect(PUBLISH);
  assert.is(kept.retain, true);
  assert.is(kept.payload, "offline");
  late.end();
  w.end();
  assertNoConnections(sim);
});

inModes(test, "will on a protocol error", (opts) => {
  const sim = startSim(configWith(), opts);
  const w = watcher(sim);
  const dev = new SimClient(sim);
  dev.connect("dev", { will: WILL });
  dev.send(Uint8Array.from([0xf0, 0])); // reserved packet type 15
  dev.settle();
  assert.ok(dev.closed);
  assert.equal(w.publishes().map((p) => p.payload), ["offline"]);
  w.end();
  assertNoConnections(sim);
});

inModes(test, "a cut mid-packet publishes the will and not the partial message", (opts) => {
  const sim = startSim(configWith(), opts);
  const w = watcher(sim, "#");
  const dev = new SimClient(sim);
  dev.connect("dev", { will: WILL });
  const whole = publishBytes("status/data", "this never arrives whole", 1, false, 3);
  dev.send(whole.subarray(0, whole.length - 4));
  dev.sock.cut();
  dev.settle();
  const got = w.publishes();
  assert.equal(got.map((p) => p.topic), ["status/dev"], "only the will");
  assert.is(got[0].payload, "offline");
  w.end();
  assertNoConnections(sim);
});

inModes(test, "a will the ACL does not let the client write is not published", (opts) => {
  const config = configWith();
  const acl: AclTable = {
    anonymous: [{ access: ACCESS_READWRITE, filter: "public/#" }],
    users: { uwatch: [{ access: ACCESS_READWRITE, filter: "#" }] },
    patterns: [],
  };
  config.auth.acl = acl;
  const sim = startSim(config, opts);
  const w = new SimClient(sim);
  w.connect("watcher", { username: "watch" });
  w.subscribe("#");
  const dev = new SimClient(sim);
  dev.connect("dev", { will: WILL }); // status/dev: not writable for anonymous
  const ok = new SimClient(sim);
  ok.connect("ok", { will: { topic: "public/dev", message: "gone" } });
  dev.end();
  ok.end();
  assert.equal(w.publishes().map((p) => p.topic), ["public/dev"]);
  w.end();
  assertNoConnections(sim);
});

inModes(test, "a will to an offline persistent subscriber is queued for it", (opts) => {
  const sim = startSim(configWith(), opts);
  const w = new SimClient(sim);
  w.connect("w", { clean: false });
  w.subscribe("status/#", 1);
  w.end();
  const dev = new SimClient(sim);
  dev.connect("dev", { will: { ...WILL, qos: 1 } });
  dev.end();
  const back = new SimClient(sim);
  back.connect("w", { clean: false });
  const got = back.expect(PUBLISH);
  assert.is(got.payload, "offline");
  back.ack(PUBACK, got.packetId);
  back.end();
  assertNoConnections(sim);
});

test.run();
