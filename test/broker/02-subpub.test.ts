import { test } from "uvu";
import * as assert from "uvu/assert";
import { ACCESS_READ, ACCESS_READWRITE, ACCESS_WRITE, AclTable } from "../../firmware/core/auth/types";
import { SUBACK_FAILURE } from "../../firmware/core/codec/constants";
import { BrokerConfig } from "../../firmware/core/config";
import {
  assertNoConnections, configWith, inModes, PUBACK, PUBLISH, SimClient, startSim, subscribeBytes, utf8,
} from "../support/sim-client";

function topicsOf(c: SimClient): string[] {
  return c.publishes().map((p) => p.topic as string);
}

inModes(test, "QoS 0 publish reaches a subscriber, retain flag clear", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  const ack = sub.subscribe("a/b", 0, 7);
  assert.equal(ack.codes, [0]);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish("a/b", "hello");
  pub.publish("a/c", "not for sub");
  const got = sub.publishes();
  assert.is(got.length, 1);
  assert.is(got[0].topic, "a/b");
  assert.is(got[0].payload, "hello");
  assert.is(got[0].qos, 0);
  assert.is(got[0].retain, false);
  assert.is(got[0].dup, false);
  pub.expectNothing("the publisher is not subscribed");
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "wildcards: +, #, parent level, $SYS", (opts) => {
  const sim = startSim(configWith(), opts);
  const plus = new SimClient(sim);
  plus.connect("plus");
  plus.subscribe("sport/+/player");
  const hash = new SimClient(sim);
  hash.connect("hash");
  hash.subscribe("sport/#");
  const all = new SimClient(sim);
  all.connect("all");
  all.subscribe("#");
  const leadPlus = new SimClient(sim);
  leadPlus.connect("leadplus");
  leadPlus.subscribe("+/+");

  const pub = new SimClient(sim);
  pub.connect("pub");
  for (const t of ["sport", "sport/tennis/player", "sport/tennis/player/x", "sport/", "/x", "other"]) pub.publish(t, "m");

  assert.equal(topicsOf(plus), ["sport/tennis/player"]);
  assert.equal(topicsOf(hash), ["sport", "sport/tennis/player", "sport/tennis/player/x", "sport/"]);
  assert.equal(topicsOf(all), ["sport", "sport/tennis/player", "sport/tennis/player/x", "sport/", "/x", "other"]);
  assert.equal(topicsOf(leadPlus), ["sport/", "/x"]);

  // a client may not publish to $ topics; a subscription with a leading wildcard never matches them
  // (the broker's own $SYS messages are not under test here: clients' $ publishes are dropped)
  pub.publish("$SYS/x", "m");
  all.expectNothing("$SYS/x reached #");
  for (const c of [plus, hash, all, leadPlus, pub]) c.end();
  assertNoConnections(sim);
});

inModes(test, "overlapping subscriptions: one copy at the highest granted QoS", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  assert.equal(sub.subscribe(["a/+", "a/#", "a/b"], [0, 1, 0]).codes, [0, 1, 0]);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("a/b", "x", 9);
  const got = sub.publishes();
  assert.is(got.length, 1, "one copy per subscriber");
  assert.is(got[0].qos, 1);
  assert.ok(got[0].packetId > 0);
  sub.ack(PUBACK, got[0].packetId);
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "a publisher subscribed to its own topic receives its message", (opts) => {
  const sim = startSim(configWith(), opts);
  const c = new SimClient(sim);
  c.connect("self");
  c.subscribe("me");
  c.publish("me", "echo");
  assert.equal(c.publishes().map((p) => p.payload), ["echo"]);
  c.end();
  assertNoConnections(sim);
});

inModes(test, "UNSUBSCRIBE stops delivery and is always acknowledged", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe(["x", "y"]);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish("x", "1");
  assert.equal(topicsOf(sub), ["x"]);
  sub.unsubscribe("x", 3);
  sub.unsubscribe("never-subscribed", 4);
  pub.publish("x", "2");
  pub.publish("y", "3");
  assert.equal(topicsOf(sub), ["y"]);
  assert.is(sim.broker.topics.count, 1);
  sub.end();
  pub.end();
  assertNoConnections(sim);
  assert.is(sim.broker.topics.count, 0, "the clean session's subscriptions are gone");
});

inModes(test, "SUBSCRIBE replaces the QoS of an existing subscription", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("t", 1);
  sub.subscribe("t", 0, 2);
  assert.is(sim.broker.topics.count, 1);
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish1("t", "x");
  const got = sub.publishes();
  assert.is(got.length, 1);
  assert.is(got[0].qos, 0);
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "UTF-8 topics route byte for byte", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe(utf8("zürich/+"));
  const pub = new SimClient(sim);
  pub.connect("pub");
  pub.publish(utf8("zürich/température"), utf8("19 °C"));
  const got = sub.publishes();
  assert.is(got.length, 1);
  assert.is(got[0].topic, utf8("zürich/température"));
  assert.is(got[0].payload, utf8("19 °C"));
  sub.end();
  pub.end();
  assertNoConnections(sim);
});

inModes(test, "a wildcard in a PUBLISH topic closes the publisher only", (opts) => {
  const sim = startSim(configWith(), opts);
  const sub = new SimClient(sim);
  sub.connect("sub");
  sub.subscribe("#");
  const bad = new SimClient(sim);
  bad.connect("bad");
  bad.publish("a/+", "x");
  bad.settle();
  assert.ok(bad.closed);
  assert.not.ok(sub.closed);
  sub.expectNothing();
  sub.end();
  assertNoConnections(sim);
});

inModes(test, "malformed SUBSCRIBE (bad filter, QoS 3, no filter) closes without SUBACK", (opts) => {
  const sim = startSim(configWith(), opts);
  const cases: Uint8Array[] = [
    subscribeBytes(1, ["a/#/b"], [0]),
    subscribeBytes(1, ["a+"], [0]),
    subscribeBytes(1, ["a"], [3]),
    subscribeBytes(1, [""], [0]),
    Uint8Array.from([0x82, 2, 0, 1]),
    Uint8Array.from([0x80, 6, 0, 1, 0, 1, 97, 0]), // flags 0 instead of 2
  ];
  for (const bytes of cases) {
    const c = new SimClient(sim);
    c.connect("c");
    c.send(bytes);
    c.settle();
    c.expectNothing(Buffer.from(bytes).toString("hex"));
    assert.ok(c.closed, Buffer.from(bytes).toString("hex"));
  }
  assert.is(sim.broker.topics.count, 0, "nothing half-applied");
  assertNoConnections(sim);
});

function aclConfig(): BrokerConfig {
  const acl: AclTable = {
    anonymous: [
      { access: ACCESS_READWRITE, filter: "public/#" },
      { access: ACCESS_READ, filter: "news/#" },
    ],
    users: {
      uadmin: [{ access: ACCESS_READWRITE, filter: "#" }],
      ueditor: [{ access: ACCESS_WRITE, filter: "news/#" }],
    },
    patterns: [{ access: ACCESS_READWRITE, filter: "home/%c/#" }],
  };
  const config = configWith();
  config.auth.acl = acl;
  return config;
}

inModes(test, "ACL: denied subscriptions get 0x80, denied publishes are dropped but acknowledged", (opts) => {
  const sim = startSim(aclConfig(), opts);
  const admin = new SimClient(sim);
  admin.connect("admin", { username: "admin" });
  assert.equal(admin.subscribe("#", 1).codes, [1]);

  const anon = new SimClient(sim);
  anon.connect("anon");
  assert.equal(anon.subscribe(["public/+", "secret/x", "news/today", "home/anon/temp", "home/other/temp"], 0).codes,
    [0, SUBACK_FAILURE, 0, 0, SUBACK_FAILURE]);

  anon.publish1("secret/x", "leak", 5); // acknowledged, not delivered
  anon.publish1("news/today", "fake", 6); // read-only for anonymous
  anon.publish("public/a", "ok");
  anon.publish("home/anon/temp", "21");
  const seen = admin.publishes();
  assert.equal(seen.map((p) => p.topic), ["public/a", "home/anon/temp"]);
  for (const p of seen) if (p.qos > 0) admin.ack(PUBACK, p.packetId);
  anon.expect(PUBLISH, "own public/a");
  anon.expect(PUBLISH, "own home/anon/temp");

  const editor = new SimClient(sim);
  editor.connect("ed", { username: "editor" });
  editor.publish("news/today", "real");
  assert.equal(anon.publishes().map((p) => p.payload), ["real"], "anonymous may read news");
  const adminNews = admin.publishes();
  assert.equal(adminNews.map((p) => p.payload), ["real"]);
  admin.ack(PUBACK, adminNews[0].packetId);
  assert.ok(sim.broker.stats.publishDropped >= 2);
  for (const c of [admin, anon, editor]) c.end();
  assertNoConnections(sim);
});

test.run();
