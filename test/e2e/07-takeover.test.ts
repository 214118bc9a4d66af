/**
 * Session takeover: a second connection with the same client id closes the
 * first [MQTT-3.1.4-2] (mosquitto test/broker/01-connect-take-over*,
 * 07-will-takeover).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PUBLISH, SUBACK } from "../../firmware/core/codec/constants";
import { encodeSubscribe } from "../../firmware/core/codec/encode";
import {
  barrier, connect, idle, parsePublish, publish, RawClient, startTestBroker, subscribe, TestBroker, tracked, unique, withTimeout,
} from "../support/e2e-helpers";

const test = suite("07 takeover");
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

test("same client id: the first connection is closed, the persistent session moves to the second", async () => {
  const id = unique("dup");
  const t = unique("tk");
  const first = await connect(b.port, { clientId: id, clean: false });
  await subscribe(first.client, { [t]: 1 });
  const since = b.logs.mark();
  const second = await connect(b.port, { clientId: id, clean: false });
  await withTimeout(first.closed, "the first connection to close");
  assert.is(second.connack.sessionPresent, true);
  assert.not.ok(second.isClosed());
  assert.match(await b.logs.waitFor(new RegExp("^disconnect " + id + " \\(session taken over\\)"), since), id);
  assert.is(b.running.broker.clientCount, 1);
  // the subscription came along
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "to the new owner", 1);
  const m = await second.inbox.next();
  assert.equal([m.topic, m.payload], [t, "to the new owner"]);
  assert.equal(first.inbox.all, [], "the old connection got nothing");
});

test("takeover with clean session true: the old session is discarded", async () => {
  const id = unique("dupclean");
  const t = unique("tkc");
  const first = await connect(b.port, { clientId: id, clean: false });
  await subscribe(first.client, { [t]: 1 });
  const second = await connect(b.port, { clientId: id, clean: true });
  await withTimeout(first.closed, "the first connection to close");
  assert.is(second.connack.sessionPresent, false);
  await subscribe(second.client, { [t + "/stop"]: 1 });
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "nobody subscribed", 1);
  assert.equal(await barrier(pub.client, second, t + "/stop"), []);
});

test("a clean first session taken over by a persistent one: no session present", async () => {
  const id = unique("clean-first");
  const first = await connect(b.port, { clientId: id, clean: true });
  const second = await connect(b.port, { clientId: id, clean: false });
  await withTimeout(first.closed, "the first connection to close");
  assert.is(second.connack.sessionPresent, false);
});

test("takeover while a QoS 1 message is unacknowledged: the new connection gets it again with DUP", async () => {
  const id = unique("inflight");
  const t = unique("tki");
  const a = await RawClient.open(b.port);
  assert.equal(await a.connect({ clientId: id, cleanSession: false }), [0, 0]);
  a.sendEncoded((out, off) => encodeSubscribe(out, off, 1, [t], [1]));
  await a.expect(SUBACK, "SUBACK");
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "unacked", 1);
  const sent = parsePublish(await a.expect(PUBLISH, "PUBLISH"));
  const c = await RawClient.open(b.port);
  assert.equal(await c.connect({ clientId: id, cleanSession: false }), [1, 0]);
  await a.waitClosed("the first connection to be closed by the takeover");
  const again = parsePublish(await c.expect(PUBLISH, "the resent PUBLISH"));
  assert.equal([again.payload, again.dup, again.packetId], ["unacked", true, sent.packetId]);
});

test("takeover is allowed at maxClients: it replaces a connection, it does not add one", async () => {
  const full = tracked.broker(await startTestBroker({ profile: { maxClients: 1 } }));
  const first = await connect(full.port, { clientId: "only", clean: false });
  const second = await connect(full.port, { clientId: "only", clean: false });
  await withTimeout(first.closed, "the first connection to close");
  assert.is(second.connack.sessionPresent, true);
  assert.is(full.running.broker.clientCount, 1);
});

test("three connections in a row with the same id: only the last one stays", async () => {
  const id = unique("chain");
  const one = await connect(b.port, { clientId: id, clean: false });
  const two = await connect(b.port, { clientId: id, clean: false });
  await withTimeout(one.closed, "the first to close");
  const three = await connect(b.port, { clientId: id, clean: false });
  await withTimeout(two.closed, "the second to close");
  assert.is(three.connack.sessionPresent, true);
  await subscribe(three.client, { [id]: 0 });
  await publish(three.client, id, "still here", 0);
  assert.is((await three.inbox.next()).payload, "still here");
});

test("the old connection's will on takeover: kept back for a persistent session, published when a clean one ends", async () => {
  const t = unique("tkwill");
  const w = await connect(b.port, { clientId: unique("watch") });
  await subscribe(w.client, { [t + "/#"]: 1 });
  const will = (name: string) => ({ topic: t + "/" + name, payload: Buffer.from(name), qos: 1 as const, retain: false });
  // persistent -> persistent: the session goes on, the will is not sent
  const p1 = await connect(b.port, { clientId: unique("p"), clean: false, will: will("persistent") });
  const p2 = await connect(b.port, { clientId: p1.client.options.clientId, clean: false });
  await withTimeout(p1.closed, "the persistent first connection to close");
  assert.not.ok(p2.isClosed());
  // clean -> anything: that session ends, its will goes out
  const c1 = await connect(b.port, { clientId: unique("c"), clean: true, will: will("clean") });
  await connect(b.port, { clientId: c1.client.options.clientId, clean: true });
  await withTimeout(c1.closed, "the clean first connection to close");
  const m = await w.inbox.next("the clean session's will");
  assert.equal([m.topic, m.payload], [t + "/clean", "clean"], "the persistent one's will did not come first");
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await barrier(pub.client, w, t + "/stop"), []);
});

test.run();
