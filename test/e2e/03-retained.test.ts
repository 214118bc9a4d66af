/**
 * Retained messages over real TCP with MQTT.js (mosquitto test/broker/04-retain-*).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { barrier, connect, idle, Msg, publish, startTestBroker, subscribe, TestBroker, tracked, unique } from "../support/e2e-helpers";
import { retainedGet } from "../../firmware/core/retain/store";

const test = suite("03 retained");
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

function summary(list: Msg[]): [string, string, boolean][] {
  return list.map((m) => [m.topic, m.payload, m.retain]);
}

test("a retained message is delivered on subscribe with the retain flag set", async () => {
  const t = unique("ret") + "/a";
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "kept", 1, true);
  const sub = await connect(b.port, { clientId: unique("sub") });
  assert.equal(await subscribe(sub.client, { [t]: 1 }), [1]);
  const m = await sub.inbox.next("the retained message");
  assert.equal([m.topic, m.payload, m.retain, m.qos], [t, "kept", true, 1]);
});

test("retained delivery matches wildcards and is downgraded to the granted QoS", async () => {
  const base = unique("retw");
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, base + "/x/1", "one", 2, true);
  await publish(pub.client, base + "/y/1", "two", 1, true);
  await publish(pub.client, base + "/x/2/deep", "three", 1, true);
  const sub = await connect(b.port, { clientId: unique("sub") });
  await subscribe(sub.client, { [base + "/+/1"]: 0 });
  const got = await sub.inbox.take(2);
  got.sort((x, y) => (x.topic < y.topic ? -1 : 1));
  assert.equal(got.map((m) => [m.topic, m.qos, m.retain]), [[base + "/x/1", 0, true], [base + "/y/1", 0, true]]);
  assert.equal(summary(await barrier(pub.client, sub, base + "/stop/1")), []);
});

test("live deliveries of a retained publish have retain false", async () => {
  const t = unique("live");
  const sub = await connect(b.port, { clientId: unique("sub") });
  await subscribe(sub.client, { [t]: 1 });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "now", 1, true);
  const m = await sub.inbox.next();
  assert.equal([m.payload, m.retain], ["now", false]);
  // yet it was kept: a later subscriber gets it flagged
  const late = await connect(b.port, { clientId: unique("late") });
  await subscribe(late.client, { [t]: 1 });
  const r = await late.inbox.next();
  assert.equal([r.payload, r.retain], ["now", true]);
});

test("an empty retained publish clears the topic", async () => {
  const t = unique("clear");
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "soon gone", 1, true);
  const before = await connect(b.port, { clientId: unique("before") });
  await subscribe(before.client, { [t]: 0 });
  assert.equal((await before.inbox.next()).payload, "soon gone");
  await publish(pub.client, t, "", 1, true);
  // live subscribers still get the empty message
  const e = await before.inbox.next("the empty publish");
  assert.equal([e.payload, e.retain], ["", false]);
  const sub = await connect(b.port, { clientId: unique("sub") });
  await subscribe(sub.client, { [t]: 1 });
  assert.equal(summary(await barrier(pub.client, sub, t)), [], "nothing retained any more");
  assert.is(retainedGet(b.running.broker.retained, t), undefined);
});

test("a newer retained message replaces the older one", async () => {
  const t = unique("repl");
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "v1", 1, true);
  await publish(pub.client, t, "v2", 0, true);
  await publish(pub.client, t, "v3", 1, true);
  // a plain publish does not touch what is retained
  await publish(pub.client, t, "not retained", 1, false);
  const sub = await connect(b.port, { clientId: unique("sub") });
  await subscribe(sub.client, { [t]: 1, [t + "/stop"]: 1 });
  assert.equal(summary(await barrier(pub.client, sub, t + "/stop")), [[t, "v3", true]]);
});

test("a retained message is sent again on every subscribe", async () => {
  const t = unique("again");
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "r", 0, true);
  const sub = await connect(b.port, { clientId: unique("sub") });
  await subscribe(sub.client, { [t]: 0 });
  await subscribe(sub.client, { [t]: 1 });
  const got = await sub.inbox.take(2);
  assert.equal(got.map((m) => [m.payload, m.retain, m.qos]), [["r", true, 0], ["r", true, 0]]);
});

test("bounded store (maxRetained 2): the third topic is not kept but still delivered live", async () => {
  const small = tracked.broker(await startTestBroker({ profile: { maxRetained: 2 } }));
  const live = await connect(small.port, { clientId: "live" });
  await subscribe(live.client, { "r/#": 1 });
  const pub = await connect(small.port, { clientId: "pub" });
  await publish(pub.client, "r/1", "one", 1, true);
  await publish(pub.client, "r/2", "two", 1, true);
  await publish(pub.client, "r/3", "three", 1, true);
  const got = await live.inbox.take(3);
  assert.equal(summary(got), [["r/1", "one", false], ["r/2", "two", false], ["r/3", "three", false]]);
  assert.is(small.running.broker.retained.list.length, 2);

  const sub = await connect(small.port, { clientId: "sub" });
  await subscribe(sub.client, { "r/#": 1 });
  const kept = summary(await barrier(pub.client, sub, "r/stop"));
  kept.sort();
  assert.equal(kept, [["r/1", "one", true], ["r/2", "two", true]]);

  // replacing a kept topic still works when full; clearing one makes room
  await publish(pub.client, "r/2", "two again", 1, true);
  await publish(pub.client, "r/1", "", 1, true);
  await publish(pub.client, "r/3", "three again", 1, true);
  const sub2 = await connect(small.port, { clientId: "sub2" });
  await subscribe(sub2.client, { "r/#": 1 });
  const now = summary(await barrier(pub.client, sub2, "r/stop"));
  now.sort();
  assert.equal(now, [["r/2", "two again", true], ["r/3", "three again", true]]);
});

test.run();
