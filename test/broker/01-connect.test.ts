import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  CONNACK_ACCEPTED, CONNACK_BAD_CREDENTIALS, CONNACK_BAD_PROTOCOL, CONNACK_ID_REJECTED, CONNACK_NOT_AUTHORIZED,
} from "../../firmware/core/codec/constants";
import { makePasswordEntry } from "../../firmware/core/auth/passwords";
import { nodeHashes } from "../../host-sim/hashes";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import {
  assertNoConnections, CONNACK, configWith, connectBytes, inModes, publishBytes, SimClient, startSim,
} from "../support/sim-client";

inModes(test, "CONNECT is answered with CONNACK 0, no session present", (opts) => {
  const sim = startSim(configWith(), opts);
  const c = new SimClient(sim);
  const ack = c.connect("c1");
  assert.is(ack.sessionPresent, false);
  assert.is(ack.flags, 0);
  assert.is(sim.broker.clientCount, 1);
  c.disconnect();
  assert.ok(c.closed, "DISCONNECT closes the socket");
  assertNoConnections(sim);
});

inModes(test, "MQTT 3.1 (MQIsdp, level 3) is accepted", (opts) => {
  const sim = startSim(configWith(), opts);
  const c = new SimClient(sim);
  c.connect("old-client", { protocolName: "MQIsdp", protocolLevel: 3 });
  c.end();
  assertNoConnections(sim);
});

inModes(test, "wrong protocol level: CONNACK 1 and close", (opts) => {
  const sim = startSim(configWith(), opts);
  const c = new SimClient(sim);
  c.connectRaw("c1", { protocolLevel: 5 });
  const ack = c.expect(CONNACK);
  assert.is(ack.returnCode, CONNACK_BAD_PROTOCOL);
  c.settle();
  assert.ok(c.closed);
  assertNoConnections(sim);
});

inModes(test, "unknown protocol name: closed without CONNACK", (opts) => {
  const sim = startSim(configWith(), opts);
  const c = new SimClient(sim);
  c.connectRaw("c1", { protocolName: "MQTX" });
  c.settle();
  c.expectNothing();
  assert.ok(c.closed);
  assertNoConnections(sim);
});

inModes(test, "empty client id: generated with clean session, rejected without", (opts) => {
  const sim = startSim(configWith(), opts);
  const a = new SimClient(sim);
  a.connect("", { clean: true });
  assert.is(sim.broker.clientCount, 1);
  assert.match(sim.broker.conns[0].clientId, /^auto-[0-9a-f]{16}$/);
  const b = new SimClient(sim);
  b.connect("", { clean: false }, CONNACK_ID_REJECTED);
  b.settle();
  assert.ok(b.closed);
  assert.is(sim.broker.clientCount, 1);
  a.end();
  assertNoConnections(sim);
});

inModes(test, "reserved connect flag set: closed without CONNACK", (opts) => {
  const sim = startSim(configWith(), opts);
  const c = new SimClient(sim);
  const bytes = connectBytes("c1");
  bytes[9] += 1; // connect flags byte: fixed header 2 + name 6 + level 1
  c.send(bytes);
  c.settle();
  c.expectNothing();
  assert.ok(c.closed);
  assertNoConnections(sim);
});

inModes(test, "first packet not CONNECT: closed", (opts) => {
  const sim = startSim(configWith(), opts);
  const c = new SimClient(sim);
  c.send(publishBytes("a", "x"));
  c.settle();
  c.expectNothing();
  assert.ok(c.closed);
  assertNoConnections(sim);
});

inModes(test, "a second CONNECT is a protocol violation", (opts) => {
  const sim = startSim(configWith(), opts);
  const c = new SimClient(sim);
  c.connect("c1");
  c.connectRaw("c1");
  c.settle();
  c.expectNothing();
  assert.ok(c.closed);
  assertNoConnections(sim);
});

inModes(test, "CONNECT timeout closes a silent socket, and not before", (opts) => {
  const config = configWith({ connectTimeoutMs: 5000, tickMs: 100 });
  const sim = startSim(config, opts);
  const silent = new SimClient(sim);
  const partial = new SimClient(sim);
  partial.send(connectBytes("p").subarray(0, 5)); // half a CONNECT counts as silence too
  sim.clock.advance(4900);
  assert.not.ok(silent.closed, "closed before the timeout");
  assert.not.ok(partial.closed);
  assert.is(sim.broker.conns.length, 2);
  sim.clock.advance(100);
  assert.ok(silent.closed, "silent socket not closed at the timeout");
  assert.ok(partial.closed, "half-CONNECT socket not closed at the timeout");
  silent.expectNothing();
  assertNoConnections(sim);
});

inModes(test, "a connected client is not subject to the CONNECT timeout", (opts) => {
  const sim = startSim(configWith({ connectTimeoutMs: 1000, tickMs: 100 }), opts);
  const c = new SimClient(sim);
  c.connect("c1", { keepalive: 0 });
  sim.clock.advance(60000);
  assert.not.ok(c.closed);
  c.end();
  assertNoConnections(sim);
});

inModes(test, "anonymous clients from another host are refused by the default config", (opts) => {
  const sim = startSim(defaultConfig(loadProfile("host")), opts);
  const remote = new SimClient(sim, "192.168.1.20");
  remote.connect("far", {}, CONNACK_NOT_AUTHORIZED);
  remote.settle();
  assert.ok(remote.closed);
  const local = new SimClient(sim, "127.0.0.1");
  assert.is(local.connect("near").returnCode, CONNACK_ACCEPTED);
  assert.is(sim.broker.stats.connectionsRefused, 1);
  local.end();
  assertNoConnections(sim);
});

inModes(test, "client id longer than the profile allows: CONNACK 2", (opts) => {
  const sim = startSim(configWith({ maxClientIdLength: 8 }), opts);
  const c = new SimClient(sim);
  c.connect("123456789", {}, CONNACK_ID_REJECTED);
  const ok = new SimClient(sim);
  ok.connect("12345678");
  ok.end();
  c.settle();
  assertNoConnections(sim);
});


test("log lines are made only for a platform that shows them (a board builds none while not verbose)", () => {
  for (const shown of [false, true]) {
    const sim = startSim(configWith());
    const lines: string[] = [];
    // every line the core makes passes Broker.log; a board not verbose has no platform.log
    sim.broker.log = (line: string) => { lines.push(line); };
    if (!shown) sim.broker.platform.log = undefined;
    const c = new SimClient(sim);
    c.connect("c1");
    c.subscribe("a/b");
    c.unsubscribe("a/b");
    c.end(); // closed without DISCONNECT: a disconnect with a reason
    sim.clock.settle();
    assertNoConnections(sim);
    if (!shown) assert.equal(lines, [], "no line built without a log");
    else {
      assert.is(lines.length, 4, lines.join("\n"));
      assert.ok(lines[0].startsWith("connect c1 from "), lines[0]);
      assert.is(lines[1], "subscribe c1 a/b qos 0");
      assert.is(lines[2], "unsubscribe c1 a/b");
      assert.ok(lines[3].startsWith("disconnect c1 ("), lines[3]);
    }
  }
});

inModes(test, "a board's config (anyone, from anywhere) and each rule that can refuse on it: anonymous off, a password file, a user blocked by the guard", (opts) => {
  // the board's default: anonymous clients from the house's network
  const open = configWith({ maxAuthFailures: 2, authBackoffMs: 30000 });
  open.auth.anonymousLoopbackOnly = false;
  const far = (sim: ReturnType<typeof startSim>, id: string, o: { username?: string; password?: string }, code: number) => {
    const c = new SimClient(sim, "192.168.1.20");
    c.connect(id, o, code);
    if (code === CONNACK_ACCEPTED) c.end();
    else c.settle();
  };
  let sim = startSim(open, opts);
  far(sim, "anon", {}, CONNACK_ACCEPTED);
  // without a password file a user name is only a label
  far(sim, "label", { username: "alice", password: "anything" }, CONNACK_ACCEPTED);
  assertNoConnections(sim);

  const closed = configWith();
  closed.auth.anonymousLoopbackOnly = false;
  closed.auth.allowAnonymous = false;
  sim = startSim(closed, opts);
  far(sim, "anon", {}, CONNACK_NOT_AUTHORIZED);
  assertNoConnections(sim);

  const withFile = configWith({ maxAuthFailures: 2, authBackoffMs: 30000 });
  withFile.auth.anonymousLoopbackOnly = false;
  withFile.auth.passwords = { ualice: makePasswordEntry("right", "salt", nodeHashes) };
  sim = startSim(withFile, opts);
  far(sim, "anon", {}, CONNACK_ACCEPTED);
  far(sim, "ok", { username: "alice", password: "right" }, CONNACK_ACCEPTED);
  far(sim, "bad1", { username: "alice", password: "wrong" }, CONNACK_BAD_CREDENTIALS);
  far(sim, "bad2", { username: "mallory", password: "right" }, CONNACK_BAD_CREDENTIALS);
  far(sim, "bad3", { username: "alice", password: "wrong" }, CONNACK_BAD_CREDENTIALS);
  // two failures for alice from this address: the right password waits out the backoff
  far(sim, "blocked", { username: "alice", password: "right" }, CONNACK_NOT_AUTHORIZED);
  sim.clock.advance(31000);
  far(sim, "after", { username: "alice", password: "right" }, CONNACK_ACCEPTED);
  assertNoConnections(sim);
});

test.run();
