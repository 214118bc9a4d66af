/**
 * QoS 1 and 2 flows and redelivery after reconnect (mosquitto
 * test/broker/03-publish-*, 04-retain-qos*, and the resume cases of
 * 03-publish-b2c-disconnect-qos*). The subscriber is a raw socket speaking
 * hand-encoded packets, so the test decides exactly which acknowledgement is
 * sent and when.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  encodeAck, encodePingreq, encodePublishString, encodeSubscribe,
} from "../../firmware/core/codec/encode";
import { PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK } from "../../firmware/core/codec/constants";
import {
  barrier, connect, idle, parsePublish, publish, RawClient, startTestBroker, subscribe, TestBroker, tracked, unique,
} from "../support/e2e-helpers";

const test = suite("05 QoS and redelivery");
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

/** A raw persistent (clean session false) client, connected. */
async function rawPersistent(id: string, expectPresent: number): Promise<RawClient> {
  const raw = await RawClient.open(b.port);
  assert.equal(await raw.connect({ clientId: id, cleanSession: false }), [expectPresent, 0], "CONNACK for " + id);
  return raw;
}

async function rawSubscribe(raw: RawClient, filter: string, qos: number): Promise<void> {
  raw.sendEncoded((out, off) => encodeSubscribe(out, off, 1, [filter], [qos]));
  const ack = await raw.expect(SUBACK, "SUBACK");
  assert.equal([...ack.body], [0, 1, qos]);
}

function ack(raw: RawClient, type: number, id: number): void {
  raw.sendEncoded((out, off) => encodeAck(out, off, type, type === PUBREL ? 2 : 0, id));
}

/** Drop the socket and wait until the broker has taken the client offline. */
async function lose(raw: RawClient, id: string): Promise<void> {
  const since = b.logs.mark();
  raw.destroy();
  await b.logs.waitFor(new RegExp("^disconnect " + id + " "), since);
}

/** PINGREQ/PINGRESP: everything the broker sent before answering has been read. */
async function nothingMoreThan(raw: RawClient): Promise<void> {
  raw.sendEncoded((out, off) => encodePingreq(out, off));
  const p = await raw.next("PINGRESP");
  assert.is(p.type, 13, "expected nothing but PINGRESP, got packet type " + p.type);
}

test("QoS 1 to a subscriber that does not ack: resent with DUP and the same packet id after reconnect", async () => {
  const id = unique("q1-sub");
  const t = unique("q1");
  const raw = await rawPersistent(id, 0);
  await rawSubscribe(raw, t, 1);
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "at least once", 1);
  const first = parsePublish(await raw.expect(PUBLISH, "PUBLISH"));
  assert.equal([first.topic, first.payload, first.qos, first.dup, first.retain], [t, "at least once", 1, false, false]);
  assert.ok(first.packetId > 0);
  await lose(raw, id);

  const again = await rawPersistent(id, 1);
  const resent = parsePublish(await again.expect(PUBLISH, "the resent PUBLISH"));
  assert.equal(
    [resent.topic, resent.payload, resent.qos, resent.dup, resent.packetId],
    [t, "at least once", 1, true, first.packetId],
  );
  ack(again, PUBACK, resent.packetId);
  await nothingMoreThan(again);
  await lose(again, id);

  // acknowledged now: the next reconnect resends nothing
  const third = await rawPersistent(id, 1);
  await nothingMoreThan(third);
});

test("QoS 1: several unacknowledged messages are resent in order, ids kept", async () => {
  const id = unique("q1-many");
  const t = unique("q1m");
  const raw = await rawPersistent(id, 0);
  await rawSubscribe(raw, t, 1);
  const pub = await connect(b.port, { clientId: unique("pub") });
  for (const p of ["a", "b", "c"]) await publish(pub.client, t, p, 1);
  const sent = [];
  for (let i = 0; i < 3; i++) sent.push(parsePublish(await raw.expect(PUBLISH, "PUBLISH " + i)));
  // the second one is acknowledged before the connection drops
  ack(raw, PUBACK, sent[1].packetId);
  await nothingMoreThan(raw);
  await lose(raw, id);
  const again = await rawPersistent(id, 1);
  const r1 = parsePublish(await again.expect(PUBLISH, "resent 1"));
  const r2 = parsePublish(await again.expect(PUBLISH, "resent 2"));
  assert.equal([r1.payload, r1.packetId, r1.dup], ["a", sent[0].packetId, true]);
  assert.equal([r2.payload, r2.packetId, r2.dup], ["c", sent[2].packetId, true]);
  await nothingMoreThan(again);
});

test("QoS 2 without PUBREC: the PUBLISH is resent with DUP, then the flow completes", async () => {
  const id = unique("q2-sub");
  const t = unique("q2");
  const raw = await rawPersistent(id, 0);
  await rawSubscribe(raw, t, 2);
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "exactly once", 2);
  const first = parsePublish(await raw.expect(PUBLISH, "PUBLISH"));
  assert.equal([first.qos, first.dup], [2, false]);
  await lose(raw, id);

  const again = await rawPersistent(id, 1);
  const resent = parsePublish(await again.expect(PUBLISH, "the resent PUBLISH"));
  assert.equal([resent.payload, resent.qos, resent.dup, resent.packetId], ["exactly once", 2, true, first.packetId]);
  ack(again, PUBREC, resent.packetId);
  const rel = await again.expect(PUBREL, "PUBREL");
  assert.is(rel.flags, 2);
  assert.is(rel.body.readUInt16BE(0), first.packetId);
  ack(again, PUBCOMP, resent.packetId);
  await nothingMoreThan(again);
  await lose(again, id);
  await nothingMoreThan(await rawPersistent(id, 1));
});

test("QoS 2 after PUBREC: reconnect resumes with PUBREL, not the PUBLISH", async () => {
  const id = unique("q2-rec");
  const t = unique("q2r");
  const raw = await rawPersistent(id, 0);
  await rawSubscribe(raw, t, 2);
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "half way", 2);
  const first = parsePublish(await raw.expect(PUBLISH, "PUBLISH"));
  ack(raw, PUBREC, first.packetId);
  const rel = await raw.expect(PUBREL, "PUBREL");
  assert.is(rel.body.readUInt16BE(0), first.packetId);
  // no PUBCOMP: the connection drops
  await lose(raw, id);

  const again = await rawPersistent(id, 1);
  const resumed = await again.next("the resumed PUBREL");
  assert.is(resumed.type, PUBREL, "PUBREL, not type " + resumed.type);
  assert.is(resumed.flags, 2);
  assert.is(resumed.body.readUInt16BE(0), first.packetId);
  ack(again, PUBCOMP, first.packetId);
  await nothingMoreThan(again);
  await lose(again, id);
  await nothingMoreThan(await rawPersistent(id, 1));
});

test("reconnecting with clean session true drops the unacknowledged messages", async () => {
  const id = unique("q1-clean");
  const t = unique("q1c");
  const raw = await rawPersistent(id, 0);
  await rawSubscribe(raw, t, 1);
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "forgotten", 1);
  await raw.expect(PUBLISH, "PUBLISH");
  await lose(raw, id);
  const clean = await RawClient.open(b.port);
  assert.equal(await clean.connect({ clientId: id, cleanSession: true }), [0, 0]);
  await nothingMoreThan(clean);
});

test("incoming QoS 1: PUBACK with the packet id", async () => {
  const raw = await RawClient.open(b.port);
  await raw.connect({ clientId: unique("q1-pub") });
  raw.sendEncoded((out, off) => encodePublishString(out, off, unique("in1"), "x", 1, false, false, 4242));
  const p = await raw.expect(PUBACK, "PUBACK");
  assert.equal([p.flags, p.body.readUInt16BE(0)], [0, 4242]);
});

test("incoming QoS 2 resent before PUBREL is delivered once (raw publisher, MQTT.js subscriber)", async () => {
  const t = unique("in2");
  const sub = await connect(b.port, { clientId: unique("sub") });
  await subscribe(sub.client, { [t]: 2 });
  const raw = await RawClient.open(b.port);
  await raw.connect({ clientId: unique("q2-pub") });
  raw.sendEncoded((out, off) => encodePublishString(out, off, t, "once", 2, false, false, 7));
  let rec = await raw.expect(PUBREC, "PUBREC");
  assert.is(rec.body.readUInt16BE(0), 7);
  // the PUBREC "was lost": the same message again, DUP set
  raw.sendEncoded((out, off) => encodePublishString(out, off, t, "once", 2, false, true, 7));
  rec = await raw.expect(PUBREC, "second PUBREC");
  assert.is(rec.body.readUInt16BE(0), 7);
  ack(raw, PUBREL, 7);
  const comp = await raw.expect(PUBCOMP, "PUBCOMP");
  assert.is(comp.body.readUInt16BE(0), 7);
  // released: id 7 is free for a new message, which is delivered
  raw.sendEncoded((out, off) => encodePublishString(out, off, t, "new", 2, false, false, 7));
  await raw.expect(PUBREC, "PUBREC for the new message");
  ack(raw, PUBREL, 7);
  await raw.expect(PUBCOMP, "PUBCOMP for the new message");
  const got = await sub.inbox.take(2);
  assert.equal(got.map((m) => [m.payload, m.qos]), [["once", 2], ["new", 2]]);
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await barrier(pub.client, sub, t, 2), [], "no second copy");
});

test("MQTT.js QoS 2 end to end: the message arrives exactly once", async () => {
  const t = unique("eo");
  const sub = await connect(b.port, { clientId: unique("sub") });
  const pub = await connect(b.port, { clientId: unique("pub") });
  assert.equal(await subscribe(sub.client, { [t]: 2 }), [2]);
  await publish(pub.client, t, "only one", 2);
  const m = await sub.inbox.next();
  assert.equal([m.topic, m.payload, m.qos, m.dup], [t, "only one", 2, false]);
  assert.equal(await barrier(pub.client, sub, t, 2), []);
  assert.is(sub.inbox.all.filter((x) => x.payload === "only one").length, 1);
});

test("MQTT.js persistent subscriber: QoS 1 and 2 messages sent while away arrive after reconnect", async () => {
  const id = unique("mq-persist");
  const t = unique("mqp");
  const first = await connect(b.port, { clientId: id, clean: false });
  await subscribe(first.client, { [t]: 2 });
  const since = b.logs.mark();
  first.client.stream.destroy();
  await b.logs.waitFor(new RegExp("^disconnect " + id + " "), since);
  const pub = await connect(b.port, { clientId: unique("pub") });
  await publish(pub.client, t, "one", 1);
  await publish(pub.client, t, "two", 2);
  const back = await connect(b.port, { clientId: id, clean: false });
  assert.is(back.connack.sessionPresent, true);
  const got = await back.inbox.take(2);
  got.sort((x, y) => (x.payload < y.payload ? -1 : 1));
  assert.equal(got.map((m) => [m.payload, m.qos]), [["one", 1], ["two", 2]]);
});

test.run();
