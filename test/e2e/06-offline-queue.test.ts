/**
 * Persistent sessions and the offline queue over real TCP with MQTT.js
 * (mosquitto test/broker/03-publish-qos1-queued-bytes, 07-will-..., the
 * clean-session cases of 01-connect-*).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { findSession } from "../../firmware/core/session/registry";
import {
  barrier, Conn, connect, end, idle, publish, startTestBroker, subscribe, TestBroker, tracked, unique,
} from "../support/e2e-helpers";

const test = suite("06 offline queue");
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

/** A persistent subscriber that subscribes, then disconnects cleanly; resolves once the broker has it offline. */
async function goOffline(broker: TestBroker, id: string, filters: { [f: string]: number }): Promise<void> {
  const c = await connect(broker.port, { clientId: id, clean: false });
  assert.is(c.connack.sessionPresent, false, "a new session");
  await subscribe(c.client, filters);
  const since = broker.logs.mark();
  await end(c.client);
  await broker.logs.waitFor(new RegExp("^disconnect " + id), since);
}

function payloads(c: Conn): string[] {
  return c.inbox.all.map((m) => m.payload);
}

test("QoS 1 messages published while offline arrive in order on reconnect; QoS 0 ones are not queued", async () => {
  const id = unique("away");
  const t = unique("oq");
  await goOffline(b, id, { [t]: 1 });
  const pub = await connect(b.port, { clientId: unique("pub") });
  // a QoS 0 publish followed by a QoS 1 one: its PUBACK shows the QoS 0 one was handled too
  await publish(pub.client, t, "z0", 0);
  for (let i = 1; i <= 5; i++) {
    await publish(pub.client, t, "m" + i, 1);
    await publish(pub.client, t, "z" + i, 0);
  }
  const back = await connect(b.port, { clientId: id, clean: false });
  assert.is(back.connack.sessionPresent, true);
  const got = await back.inbox.take(5);
  assert.equal(got.map((m) => [m.payload, m.qos, m.dup]), [1, 2, 3, 4, 5].map((i) => ["m" + i, 1, false]));
  assert.equal(await barrier(pub.client, back, t), [], "no QoS 0 message was kept");
});

test("a QoS 1 publish to a subscription granted QoS 0 is not queued either", async () => {
  const id = unique("away0");
  const t = unique("oq0");
  await goOffline(b, id, { [t]: 0, [t + "/stop"]: 1 });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "downgraded", 1);
  const back = await connect(b.port, { clientId: id, clean: false });
  assert.is(back.connack.sessionPresent, true);
  assert.equal(await barrier(pub.client, back, t + "/stop"), []);
});

test("QoS 2 messages are queued too and delivered once", async () => {
  const id = unique("away2");
  const t = unique("oq2");
  await goOffline(b, id, { [t]: 2 });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "q2-a", 2);
  await publish(pub.client, t, "q2-b", 2);
  const back = await connect(b.port, { clientId: id, clean: false });
  const got = await back.inbox.take(2);
  assert.equal(got.map((m) => [m.payload, m.qos]), [["q2-a", 2], ["q2-b", 2]]);
  assert.equal(await barrier(pub.client, back, t, 2), []);
});

test("the queue is bounded by profile.maxQueued: later messages are dropped", async () => {
  const small = tracked.broker(await startTestBroker({ profile: { maxQueued: 3 } }));
  await goOffline(small, "bounded", { "bq/#": 1 });
  const pub = await connect(small.port, { clientId: "pub" });
  for (let i = 1; i <= 6; i++) await publish(pub.client, "bq/t", "m" + i, 1);
  const session = findSession(small.running.broker.sessions, "bounded");
  assert.ok(session !== undefined);
  assert.is(session!.queue.length, 3);
  assert.is(session!.dropped, 3);
  const back = await connect(small.port, { clientId: "bounded", clean: false });
  assert.is(back.connack.sessionPresent, true);
  assert.equal((await back.inbox.take(3)).map((m) => m.payload), ["m1", "m2", "m3"]);
  assert.equal(await barrier(pub.client, back, "bq/stop"), [], "m4..m6 were dropped");
  // the queue drained: new messages flow again
  await publish(pub.client, "bq/t", "after", 1);
  assert.is((await back.inbox.next()).payload, "after");
});

test("session present: 0 for a new session, 1 when resumed, 0 after a clean session", async () => {
  const id = unique("sp");
  const a = await connect(b.port, { clientId: id, clean: false });
  assert.is(a.connack.sessionPresent, false);
  let since = b.logs.mark();
  await end(a.client);
  await b.logs.waitFor(new RegExp("^disconnect " + id), since);
  const again = await connect(b.port, { clientId: id, clean: false });
  assert.is(again.connack.sessionPresent, true);
  since = b.logs.mark();
  await end(again.client);
  await b.logs.waitFor(new RegExp("^disconnect " + id), since);
  const clean = await connect(b.port, { clientId: id, clean: true });
  assert.is(clean.connack.sessionPresent, false);
  since = b.logs.mark();
  await end(clean.client);
  await b.logs.waitFor(new RegExp("^disconnect " + id), since);
  assert.is(findSession(b.running.broker.sessions, id), undefined, "a clean session ends with its connection");
  const fresh = await connect(b.port, { clientId: id, clean: false });
  assert.is(fresh.connack.sessionPresent, false);
});

test("clean session true discards the stored session: no queued messages, no subscriptions", async () => {
  const id = unique("discard");
  const t = unique("dq");
  await goOffline(b, id, { [t]: 1 });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "stale-1", 1);
  await publish(pub.client, t, "stale-2", 1);
  const clean = await connect(b.port, { clientId: id, clean: true });
  assert.is(clean.connack.sessionPresent, false);
  // no subscription survived: a new one is needed to see anything, and the stale messages never come
  await subscribe(clean.client, { [t + "/stop"]: 1 });
  await publish(pub.client, t, "not subscribed any more", 1);
  assert.equal(await barrier(pub.client, clean, t + "/stop"), []);
  assert.is(payloads(clean).length, 1, "only the marker arrived: " + payloads(clean).join(", "));
});

test("a persistent subscriber online with a full in-flight window: the rest wait and arrive in order", async () => {
  const small = tracked.broker(await startTestBroker({ profile: { maxInflight: 2, maxQueued: 100 } }));
  const sub = await connect(small.port, { clientId: "window", clean: false });
  await subscribe(sub.client, { "win": 1 });
  const pub = await connect(small.port, { clientId: "pub" });
  const sent: string[] = [];
  for (let i = 0; i < 30; i++) sent.push("w" + i);
  await Promise.all(sent.map((p) => publish(pub.client, "win", p, 1)));
  assert.equal((await sub.inbox.take(30)).map((m) => m.payload), sent);
});

test.run();
