/**
 * The board profile's limits, enforced over real TCP: connections,
 * subscriptions (per client and in total), packet size, topic levels and
 * length, payload size, offline sessions. Each test runs its own broker with
 * a copied host profile whose limits are lowered.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { BoardProfile } from "../../firmware/core/profile";
import {
  barrier, connect, connectRefused, end, publish, RawClient, startTestBroker, subscribe, TestBroker, tracked, unsubscribe, withTimeout,
} from "../support/e2e-helpers";

const test = suite("09 limits");

test.after.each(async () => {
  await tracked.closeAll();
});

function broker(profile: Partial<BoardProfile>): Promise<TestBroker> {
  return startTestBroker({ profile }).then((b) => tracked.broker(b));
}

test("maxClients 2: the third client gets CONNACK 3; a freed slot can be used again", async () => {
  const b = await broker({ maxClients: 2 });
  const one = await connect(b.port, { clientId: "one" });
  await connect(b.port, { clientId: "two" });
  assert.is(await connectRefused(b.port, { clientId: "three" }), 3);
  assert.is(b.running.broker.clientCount, 2);
  assert.is(b.running.broker.stats.connectionsRefused, 1);
  const since = b.logs.mark();
  await end(one.client);
  await b.logs.waitFor(/^disconnect one$/, since);
  const four = await connect(b.port, { clientId: "four" });
  assert.is(four.connack.returnCode, 0);
});

test("maxSubscriptionsPerClient 2: the third filter gets 0x80, the others are granted and work", async () => {
  const b = await broker({ maxSubscriptionsPerClient: 2 });
  const c = await connect(b.port, { clientId: "subs" });
  assert.equal(await subscribe(c.client, { "l/a": 1, "l/b": 0, "l/c": 1 }), [1, 0, 128]);
  // replacing an existing subscription is not a new one
  assert.equal(await subscribe(c.client, { "l/a": 2 }), [2]);
  assert.equal(await subscribe(c.client, { "l/d": 0 }), [128]);
  const pub = await connect(b.port, { clientId: "pub" });
  await publish(pub.client, "l/c", "refused filter", 1);
  await publish(pub.client, "l/d", "refused filter", 1);
  await publish(pub.client, "l/b", "granted filter", 1);
  const m = await c.inbox.next();
  assert.equal([m.topic, m.qos], ["l/b", 0]);
  assert.equal(await barrier(pub.client, c, "l/a"), []);
  // unsubscribing frees a slot
  await unsubscribe(c.client, "l/b");
  assert.equal(await subscribe(c.client, { "l/c": 1 }), [1]);
});

test("maxSubscriptions 3 in total: a second client's extra filter gets 0x80", async () => {
  const b = await broker({ maxSubscriptionsPerClient: 2, maxSubscriptions: 3 });
  const a = await connect(b.port, { clientId: "a" });
  const c = await connect(b.port, { clientId: "c" });
  assert.equal(await subscribe(a.client, { "t/1": 0, "t/2": 0 }), [0, 0]);
  assert.equal(await subscribe(c.client, { "t/3": 1, "t/4": 1 }), [1, 128]);
  assert.is(b.running.broker.topics.count, 3);
  // a client that leaves gives its subscriptions back
  const since = b.logs.mark();
  await end(a.client);
  await b.logs.waitFor(/^disconnect a$/, since);
  assert.equal(await subscribe(c.client, { "t/4": 1 }), [1]);
  await publish(c.client, "t/4", "works", 1);
  assert.is((await c.inbox.next()).payload, "works");
});

test("maxPacketSize 1024: an oversized PUBLISH closes only that connection", async () => {
  const b = await broker({ maxPacketSize: 1024 });
  const other = await connect(b.port, { clientId: "other" });
  await subscribe(other.client, { "big/#": 1 });
  const big = await connect(b.port, { clientId: "big" });
  // just under the limit is fine
  const fits = "x".repeat(1024 - 2 - 2 - 5 - 3); // fixed header 3, topic 2+5, packet id 2
  await publish(big.client, "big/a", fits, 1);
  assert.is((await other.inbox.next()).payload.length, fits.length);
  const since = b.logs.mark();
  big.client.publish("big/b", "y".repeat(2000), { qos: 0 });
  await withTimeout(big.closed, "the oversized sender to be disconnected");
  assert.match(await b.logs.waitFor(/^disconnect big /, since), "packet too large");
  assert.not.ok(other.isClosed());
  // the other client keeps working, and never saw the big message
  await publish(other.client, "big/c", "still here", 1);
  const m = await other.inbox.next();
  assert.equal([m.topic, m.payload], ["big/c", "still here"]);
});

test("maxPacketSize: a header announcing too much closes the connection before the body arrives", async () => {
  const b = await broker({ maxPacketSize: 1024 });
  const raw = await RawClient.open(b.port);
  await raw.connect({ clientId: "liar" });
  // PUBLISH, remaining length 100000 (a0 8d 06), and no body at all
  raw.send([0x30, 0xa0, 0x8d, 0x06]);
  await raw.waitClosed();
});

test("maxTopicLevels 4: deeper filters get 0x80, deeper publishes are acked and dropped", async () => {
  const b = await broker({ maxTopicLevels: 4 });
  const c = await connect(b.port, { clientId: "levels" });
  assert.equal(await subscribe(c.client, { "a/b/c/d": 1, "a/b/c/d/e": 1, "#": 1, "+/+/+/+/#": 0 }), [1, 128, 1, 128]);
  await publish(c.client, "a/b/c/d/e", "too deep", 1);
  await publish(c.client, "q/w/e/r", "four levels", 1);
  const m = await c.inbox.next();
  assert.equal([m.topic, m.payload], ["q/w/e/r", "four levels"]);
  assert.equal(await barrier(c.client, c, "stop"), []);
});

test("maxTopicLevels: a will deeper than allowed is refused with CONNACK 5", async () => {
  const b = await broker({ maxTopicLevels: 2 });
  const code = await connectRefused(b.port, { clientId: "deepwill", will: { topic: "a/b/c", payload: Buffer.from("x"), qos: 0, retain: false } });
  assert.is(code, 5);
});

test("maxTopicLength 16: a longer filter gets 0x80, a longer topic is dropped", async () => {
  const b = await broker({ maxTopicLength: 16 });
  const c = await connect(b.port, { clientId: "length" });
  assert.equal(await subscribe(c.client, { "sixteen-chars-ok": 1, "seventeen-chars-x": 1, "#": 1 }), [1, 128, 1]);
  await publish(c.client, "seventeen-chars-x", "too long", 1);
  await publish(c.client, "sixteen-chars-ok", "fits", 1);
  assert.is((await c.inbox.next()).payload, "fits");
});

test("maxPayloadSize 10 (message_size_limit): a larger payload is acked and dropped, the connection stays", async () => {
  const b = await broker({ maxPayloadSize: 10 });
  const c = await connect(b.port, { clientId: "payload" });
  await subscribe(c.client, { "p": 1 });
  await publish(c.client, "p", "eleven byte", 1);
  await publish(c.client, "p", "ten bytes!", 1);
  assert.is((await c.inbox.next()).payload, "ten bytes!");
  assert.not.ok(c.isClosed());
});

test("maxSessions 1: a second offline session evicts the older one", async () => {
  const b = await broker({ maxSessions: 1 });
  for (const id of ["old", "new"]) {
    const c = await connect(b.port, { clientId: id, clean: false });
    await subscribe(c.client, { [id]: 1 });
    const since = b.logs.mark();
    await end(c.client);
    await b.logs.waitFor(new RegExp("^disconnect " + id + "$"), since);
  }
  assert.is(b.running.broker.sessions.evicted, 1);
  const newer = await connect(b.port, { clientId: "new", clean: false });
  assert.is(newer.connack.sessionPresent, true);
  const older = await connect(b.port, { clientId: "old", clean: false });
  assert.is(older.connack.sessionPresent, false);
});

test.run();
