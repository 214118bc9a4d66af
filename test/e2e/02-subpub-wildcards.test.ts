/**
 * SUBSCRIBE / PUBLISH routing and topic wildcards with MQTT.js clients over
 * real TCP (mosquitto test/broker/02-subpub-*, 02-subscribe-*).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { routePublish } from "../../firmware/core/broker/deliver";
import { publishSys } from "../../firmware/core/broker/sys_tree";
import {
  barrier, connect, idle, publish, startTestBroker, subscribe, TestBroker, tracked, unique, unsubscribe,
} from "../support/e2e-helpers";

const test = suite("02 subscribe/publish and wildcards");
let b: TestBroker;

test.before(async () => {
  b = await startTestBroker();
});
test.after.each(async () => {
  await tracked.closeAll();
  await idle(b);
});
test.after(async () => {
  await b.close();
});

function topicsOf(list: { topic: string }[]): string[] {
  return list.map((m) => m.topic);
}

/** A message the broker itself publishes (as it would for $SYS), routed by the core. */
function brokerPublish(topic: string, payload: string): void {
  const bytes = Buffer.from(topic + payload, "latin1");
  routePublish(b.running.broker, bytes, 0, topic.length, topic.length, payload.length, 0, undefined, undefined, undefined);
}

test("plain topic: a subscriber gets exactly the payload, QoS 0", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await subscribe(sub.client, { "plain/topic": 0 }), [0]);
  await publish(pub.client, "plain/topic", "hello");
  const m = await sub.inbox.next();
  assert.equal([m.topic, m.payload, m.qos, m.retain, m.dup], ["plain/topic", "hello", 0, false, false]);
});

test("granted QoS is the requested QoS; delivery QoS is min(publish, granted)", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await subscribe(sub.client, { "g/0": 0, "g/1": 1, "g/2": 2 }), [0, 1, 2]);
  await publish(pub.client, "g/0", "a", 2);
  await publish(pub.client, "g/1", "b", 2);
  await publish(pub.client, "g/2", "c", 1);
  const got = await sub.inbox.take(3);
  got.sort((x, y) => (x.topic < y.topic ? -1 : 1));
  assert.equal(got.map((m) => [m.topic, m.qos]), [["g/0", 0], ["g/1", 1], ["g/2", 1]]);
});

test("'+' matches exactly one level", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await subscribe(sub.client, { "p/+/c": 0, "p/end": 0 });
  for (const t of ["p/b/c", "p/b/d", "p/b/x/c", "p/c", "p//c", "q/b/c"]) await publish(pub.client, t, t);
  const got = await barrier(pub.client, sub, "p/end");
  assert.equal(topicsOf(got), ["p/b/c", "p//c"]);
});

test("'+' alone and '+/+' match by number of levels", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await subscribe(sub.client, { "+/+": 0, "stop": 0 });
  for (const t of ["one", "l/two", "l/three/3", "/lead"]) await publish(pub.client, t, t);
  assert.equal(topicsOf(await barrier(pub.client, sub, "stop")), ["l/two", "/lead"]);
});

test("'#' matches everything below, and 'a/#' matches 'a' itself", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await subscribe(sub.client, { "h/#": 0 });
  for (const t of ["h", "h/a", "h/a/b/c", "hh", "x/h"]) await publish(pub.client, t, t);
  assert.equal(topicsOf(await barrier(pub.client, sub, "h/end")), ["h", "h/a", "h/a/b/c"]);
});

test("'#' alone matches every topic not starting with '$'", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await subscribe(sub.client, { "#": 0 });
  const topics = [unique("any"), unique("deep") + "/x/y", "/" + unique("lead")];
  for (const t of topics) await publish(pub.client, t, "x");
  const got = topicsOf(await barrier(pub.client, sub, unique("stop"))).filter((t) => topics.indexOf(t) >= 0);
  assert.equal(got, topics);
});

test("$SYS/x is not matched by '#' or '+/x', only by a filter starting with '$'", async () => {
  const wild = await connect(b.port, { clientId: unique("wild") });
  const sys = await connect(b.port, { clientId: unique("sys") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await subscribe(wild.client, { "#": 0, "+/x": 0 }), [0, 0]);
  assert.equal(await subscribe(sys.client, { "$SYS/x": 0, "$SYS/#": 0 }), [0, 0]);
  brokerPublish("$SYS/x", "from the broker");
  // (other $SYS topics the broker publishes on its own are not this test's business)
  await sys.inbox.until((m) => m.topic === "$SYS/x" && m.payload === "from the broker", "the $SYS/x message");
  // a plain "a/x" still reaches '+/x' (and '#': once), the $SYS one never did
  await publish(pub.client, "a/x", "plain");
  const w = await wild.inbox.next("a/x");
  assert.equal([w.topic, w.payload], ["a/x", "plain"]);
  const rest = await barrier(pub.client, wild, unique("stop"));
  assert.equal(topicsOf(rest), []);
  assert.is(sys.inbox.all.filter((m) => m.topic === "$SYS/x").length, 1, "two matching filters, one delivery");
});

test("the broker's own $SYS tree (fake clock, publishSys) skips '#', '+/broker/version' and '+/+/+'", async () => {
  const fb = tracked.broker(await startTestBroker({ fakeClock: true }));
  const wild = await connect(fb.port, { clientId: "wild" });
  const sys = await connect(fb.port, { clientId: "sys" });
  assert.equal(await subscribe(wild.client, { "#": 0, "+/broker/version": 0, "+/+/+": 0 }), [0, 0, 0]);
  assert.equal(await subscribe(sys.client, { "$SYS/broker/version": 0 }), [0]);
  publishSys(fb.running.broker);
  const v = await sys.inbox.until((m) => m.topic === "$SYS/broker/version", "$SYS/broker/version");
  assert.equal(v, []);
  assert.equal(topicsOf(await barrier(sys.client, wild, "w/stop")), []);
});

test("overlapping subscriptions: one delivery at the highest granted QoS", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await subscribe(sub.client, { "ov/+": 0, "ov/#": 1, "ov/a": 2, "#": 0 }), [0, 1, 2, 0]);
  await publish(pub.client, "ov/a", "to-a", 2);
  await publish(pub.client, "ov/b", "to-b", 2);
  await publish(pub.client, "ov/c/d", "to-cd", 1);
  const got = (await sub.inbox.take(3)).map((m) => [m.topic, m.qos]);
  got.sort();
  assert.equal(got, [["ov/a", 2], ["ov/b", 1], ["ov/c/d", 1]]);
  // and nothing twice
  const rest = await barrier(pub.client, sub, "ov/zz", 2);
  assert.equal(topicsOf(rest), []);
});

test("a client receives its own messages", async () => {
  const c = await connect(b.port, { clientId: unique("self") });
  await subscribe(c.client, { "self/+": 1 });
  await publish(c.client, "self/echo", "mine", 1);
  const m = await c.inbox.next("own message");
  assert.equal([m.topic, m.payload, m.qos], ["self/echo", "mine", 1]);
});

test("resubscribing replaces the QoS; UNSUBSCRIBE stops delivery", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await subscribe(sub.client, { "re/t": 0, "re/stop": 1 });
  assert.equal(await subscribe(sub.client, { "re/t": 1 }), [1]);
  await publish(pub.client, "re/t", "one", 1);
  const m = await sub.inbox.next();
  assert.equal([m.topic, m.qos], ["re/t", 1]);
  await unsubscribe(sub.client, "re/t");
  await publish(pub.client, "re/t", "two", 1);
  assert.equal(topicsOf(await barrier(pub.client, sub, "re/stop")), []);
});

test("messages from one publisher arrive in order, per QoS (QoS 1 beyond the in-flight window)", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await subscribe(sub.client, { "ord/0": 0, "ord/1": 1 });
  // more QoS 1 messages than the host profile's 20 in flight: the rest wait in the queue, in order
  const window = b.config.profile.maxInflight;
  for (const qos of [0, 1] as const) {
    const sent: string[] = [];
    const acks: Promise<void>[] = [];
    for (let i = 0; i < window * 3; i++) {
      sent.push("q" + qos + "-" + i);
      acks.push(publish(pub.client, "ord/" + qos, "q" + qos + "-" + i, qos));
    }
    await Promise.all(acks);
    const got = await sub.inbox.take(sent.length);
    assert.equal(got.map((m) => m.payload), sent);
    assert.ok(got.every((m) => m.qos === qos && m.topic === "ord/" + qos));
  }
});

test("a large payload (64 KiB) is delivered intact", async () => {
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await subscribe(sub.client, { "big": 1 });
  let payload = "";
  for (let i = 0; payload.length < 65536; i++) payload += String.fromCharCode(97 + (i % 26));
  await publish(pub.client, "big", payload, 1);
  const m = await sub.inbox.next();
  assert.is(m.payload.length, payload.length);
  assert.ok(m.payload === payload);
});

test.run();
