/**
 * Last will and testament over real TCP (mosquitto test/broker/07-will-*):
 * published when the connection ends without DISCONNECT (socket loss,
 * keepalive expiry, protocol error), never after DISCONNECT.
 */
import { suite } from "uvu";
import { routePublish } from "../../firmware/core/broker/deliver";
import * as assert from "uvu/assert";
import { retainedGet } from "../../firmware/core/retain/store";
import {
  barrier, Conn, connect, end, idle, publish, RawClient, startTestBroker, subscribe, TestBroker, tracked, unique,
} from "../support/e2e-helpers";

const test = suite("04 will");
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

async function watcher(broker: TestBroker, filter: string): Promise<Conn> {
  const w = await connect(broker.port, { clientId: unique("watch"), keepalive: 0 });
  await subscribe(w.client, { [filter]: 2 });
  return w;
}

test("socket loss: the will is published (QoS and payload as given, retain false live)", async () => {
  const t = unique("will/loss");
  const w = await watcher(b, t);
  const c = await connect(b.port, { clientId: unique("dies"), will: { topic: t, payload: Buffer.from("gone"), qos: 1, retain: false } });
  c.client.stream.destroy();
  const m = await w.inbox.next("the will");
  assert.equal([m.topic, m.payload, m.qos, m.retain], [t, "gone", 1, false]);
});

test("socket loss with will QoS 2: delivered once, at QoS 2", async () => {
  const t = unique("will/q2");
  const w = await watcher(b, t);
  const c = await connect(b.port, { clientId: unique("dies"), will: { topic: t, payload: Buffer.from("q2"), qos: 2, retain: false } });
  c.client.stream.destroy();
  const m = await w.inbox.next("the will");
  assert.equal([m.payload, m.qos], ["q2", 2]);
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await barrier(pub.client, w, t, 2), []);
});

test("keepalive expiry (fake clock, 1.5 x keepalive): the will is published", async () => {
  const fb = tracked.broker(await startTestBroker({ fakeClock: true }));
  const t = "will/keepalive";
  const w = await watcher(fb, t);
  const id = unique("silent");
  const c = await connect(fb.port, { clientId: id, keepalive: 10, will: { topic: t, payload: Buffer.from("timed out"), qos: 1, retain: false } });
  fb.clock.now += 15000; // exactly 1.5 x keepalive: still alive
  fb.tick();
  assert.is(fb.running.broker.clientCount, 2);
  assert.not.ok(c.isClosed());
  const since = fb.logs.mark();
  fb.clock.now += 1;
  fb.tick();
  const m = await w.inbox.next("the will after keepalive expiry");
  assert.equal([m.topic, m.payload], [t, "timed out"]);
  await c.closed;
  assert.match(await fb.logs.waitFor(new RegExp("^disconnect " + id + " \\(keepalive expired\\)"), since), id);
  assert.is(fb.running.broker.clientCount, 1, "only the watcher is left");
});

test("protocol error after CONNECT (garbage bytes on a raw socket): the will is published", async () => {
  const t = unique("will/garbage");
  const w = await watcher(b, t);
  const raw = await RawClient.open(b.port);
  const id = unique("garbage");
  assert.equal(await raw.connect({ clientId: id, willTopic: t, willMessage: "bad bytes", willQos: 1 }), [0, 0]);
  const since = b.logs.mark();
  // packet type 0 is reserved: a protocol violation
  raw.send([0x00, 0x00, 0xde, 0xad, 0xbe, 0xef]);
  const m = await w.inbox.next("the will after a protocol error");
  assert.equal([m.topic, m.payload, m.qos], [t, "bad bytes", 1]);
  await raw.waitClosed();
  assert.match(await b.logs.waitFor(new RegExp("^disconnect " + id + " \\("), since), "protocol error");
});

test("no will after DISCONNECT", async () => {
  const t = unique("will/clean");
  const w = await watcher(b, t);
  const id = unique("polite");
  const c = await connect(b.port, { clientId: id, will: { topic: t, payload: Buffer.from("must not appear"), qos: 1, retain: true } });
  const since = b.logs.mark();
  await end(c.client);
  // the broker logs the disconnect after it would have published the will
  assert.is(await b.logs.waitFor(new RegExp("^disconnect " + id), since), "disconnect " + id);
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await barrier(pub.client, w, t), [], "no will delivered live");
  assert.is(retainedGet(b.running.broker.retained, t), undefined, "no will retained");
});

test("will retain flag: kept as a retained message, flagged for later subscribers", async () => {
  const t = unique("will/retained");
  const w = await watcher(b, t);
  const c = await connect(b.port, { clientId: unique("dies"), will: { topic: t, payload: Buffer.from("last words"), qos: 1, retain: true } });
  c.client.stream.destroy();
  const live = await w.inbox.next("the will, live");
  assert.equal([live.payload, live.retain], ["last words", false]);
  const late = await connect(b.port, { clientId: unique("late") });
  await subscribe(late.client, { [t]: 1 });
  const r = await late.inbox.next("the retained will");
  assert.equal([r.topic, r.payload, r.retain, r.qos], [t, "last words", true, 1]);
});

test("will without retain: not kept for later subscribers", async () => {
  const t = unique("will/unretained");
  const w = await watcher(b, t);
  const c = await connect(b.port, { clientId: unique("dies"), will: { topic: t, payload: Buffer.from("once"), qos: 0, retain: false } });
  c.client.stream.destroy();
  assert.is((await w.inbox.next()).payload, "once");
  const late = await connect(b.port, { clientId: unique("late") });
  await subscribe(late.client, { [t]: 1 });
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await barrier(pub.client, late, t), []);
});

test("a will reaches wildcard subscribers and a persistent session that is offline", async () => {
  const t = unique("will") + "/status/dev";
  const base = t.split("/")[0];
  const w = await watcher(b, base + "/+/dev");
  const pid = unique("persist");
  const p = await connect(b.port, { clientId: pid, clean: false });
  await subscribe(p.client, { [base + "/#"]: 1 });
  const since = b.logs.mark();
  await end(p.client);
  await b.logs.waitFor(new RegExp("^disconnect " + pid), since);
  const c = await connect(b.port, { clientId: unique("dies"), will: { topic: t, payload: Buffer.from("offline"), qos: 1, retain: false } });
  c.client.stream.destroy();
  assert.is((await w.inbox.next()).payload, "offline");
  const back = await connect(b.port, { clientId: pid, clean: false });
  assert.is(back.connack.sessionPresent, true);
  const m = await back.inbox.next("the queued will");
  assert.equal([m.topic, m.payload, m.qos], [t, "offline", 1]);
});

test("a will on a '$' topic is not published: clients cannot write into $SYS, not even by will", async () => {
  const sys = await connect(b.port, { clientId: unique("sys") });
  assert.equal(await subscribe(sys.client, { "$SYS/broker/version": 0, "$SYS/e2e/#": 0 }), [0, 0]);
  const id = unique("spoof");
  const c = await connect(b.port, { clientId: id, will: { topic: "$SYS/broker/version", payload: Buffer.from("spoofed"), qos: 0, retain: true } });
  const since = b.logs.mark();
  c.client.stream.destroy();
  await b.logs.waitFor(new RegExp("^disconnect " + id + " "), since);
  assert.is(retainedGet(b.running.broker.retained, "$SYS/broker/version"), undefined, "not retained");
  // fence: a message the broker itself publishes on $SYS comes after anything the will would have sent
  const t = "$SYS/e2e/" + unique("fence");
  const bytes = Buffer.from(t + "fence", "latin1");
  routePublish(b.running.broker, bytes, 0, t.length, t.length, 5, 0, undefined, undefined, undefined);
  const before = await sys.inbox.until((m) => m.topic === t, "the broker's own $SYS message");
  assert.equal(before.filter((m) => m.payload === "spoofed"), []);
});

test.run();
