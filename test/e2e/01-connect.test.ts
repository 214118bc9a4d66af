/**
 * CONNECT / CONNACK, PINGREQ, keepalive and the CONNECT timeout, over real
 * TCP (mosquitto test/broker/01-*).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { encodeAck, encodeDisconnect, encodePingreq } from "../../firmware/core/codec/encode";
import { connect, idle, RawClient, startTestBroker, TestBroker, tracked, unique, waitUntil } from "../support/e2e-helpers";

const test = suite("01 connect");
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

test("MQTT.js 3.1.1 client is accepted: return code 0, no session present, logged", async () => {
  const id = unique("c01");
  const since = b.logs.mark();
  const c = await connect(b.port, { clientId: id });
  assert.is(c.connack.returnCode, 0);
  assert.is(c.connack.sessionPresent, false);
  assert.match(await b.logs.waitFor(new RegExp("^connect " + id + " from "), since), "127.0.0.1");
  assert.is(b.running.broker.clientCount, 1);
});

test("raw CONNECT: CONNACK bytes 20 02 00 00", async () => {
  const raw = await RawClient.open(b.port);
  assert.equal(await raw.connect({ clientId: unique("raw") }), [0, 0]);
});

test("empty client id: accepted with a clean session, refused (2) without", async () => {
  const a = await RawClient.open(b.port);
  const since = b.logs.mark();
  assert.equal(await a.connect({ clientId: "", cleanSession: true }), [0, 0]);
  // the broker made one up
  assert.match(await b.logs.waitFor(/^connect auto-[0-9a-f]{16} from /, since), "auto-");
  const c = await RawClient.open(b.port);
  assert.equal(await c.connect({ clientId: "", cleanSession: false }), [0, 2]);
  await c.waitClosed();
});

test("unsupported protocol level: CONNACK 1 then close", async () => {
  const raw = await RawClient.open(b.port);
  assert.equal(await raw.connect({ clientId: unique("lvl"), protocolLevel: 5 }), [0, 1]);
  await raw.waitClosed();
});

test("client id longer than the profile allows: CONNACK 2", async () => {
  const small = tracked.broker(await startTestBroker({ profile: { maxClientIdLength: 8 } }));
  const ok = await RawClient.open(small.port);
  assert.equal(await ok.connect({ clientId: "12345678" }), [0, 0]);
  const raw = await RawClient.open(small.port);
  assert.equal(await raw.connect({ clientId: "123456789" }), [0, 2]);
  await raw.waitClosed();
});

test("first packet not CONNECT: closed without CONNACK", async () => {
  const raw = await RawClient.open(b.port);
  raw.sendEncoded((out, off) => encodePingreq(out, off));
  await raw.waitClosed();
  assert.equal(raw.unread(), [], "nothing was sent back");
});

test("a second CONNECT on the same connection closes it", async () => {
  const raw = await RawClient.open(b.port);
  const id = unique("twice");
  assert.equal(await raw.connect({ clientId: id }), [0, 0]);
  const since = b.logs.mark();
  await raw.connect({ clientId: id }).catch(() => undefined);
  await raw.waitClosed();
  assert.match(await b.logs.waitFor(new RegExp("^disconnect " + id + " \\(protocol error\\)"), since), id);
});

test("PINGREQ is answered with PINGRESP", async () => {
  const raw = await RawClient.open(b.port);
  await raw.connect({ clientId: unique("ping") });
  raw.sendEncoded((out, off) => encodePingreq(out, off));
  const p = await raw.expect(13, "PINGRESP");
  assert.is(p.flags, 0);
  assert.is(p.body.length, 0);
});

test("DISCONNECT closes the connection without an error", async () => {
  const raw = await RawClient.open(b.port);
  const id = unique("bye");
  await raw.connect({ clientId: id });
  const since = b.logs.mark();
  raw.sendEncoded((out, off) => encodeDisconnect(out, off));
  await raw.waitClosed();
  assert.is(await b.logs.waitFor(new RegExp("^disconnect " + id), since), "disconnect " + id);
});

test("malformed ack (PUBACK with packet id 0) closes the connection", async () => {
  const raw = await RawClient.open(b.port);
  await raw.connect({ clientId: unique("bad-ack") });
  raw.sendEncoded((out, off) => encodeAck(out, off, 4, 0, 0));
  await raw.waitClosed();
});

test("keepalive (fake clock): PINGREQ resets it; 1.5 x keepalive of silence closes", async () => {
  const fb = tracked.broker(await startTestBroker({ fakeClock: true }));
  const raw = await RawClient.open(fb.port);
  const id = unique("ka");
  await raw.connect({ clientId: id, keepalive: 10 });
  fb.clock.now += 9000;
  raw.sendEncoded((out, off) => encodePingreq(out, off));
  await raw.expect(13, "PINGRESP"); // the broker has seen the ping at t=9s
  fb.clock.now += 15000; // exactly 1.5 x 10 s since the ping: not yet
  fb.tick();
  assert.is(fb.running.broker.clientCount, 1, "still connected at exactly 1.5 x keepalive");
  assert.not.ok(raw.ended);
  const since = fb.logs.mark();
  fb.clock.now += 1;
  fb.tick();
  assert.is(fb.running.broker.clientCount, 0);
  await raw.waitClosed();
  assert.match(await fb.logs.waitFor(new RegExp("^disconnect " + id + " \\(keepalive expired\\)"), since), id);
});

test("keepalive 0 never expires (fake clock)", async () => {
  const fb = tracked.broker(await startTestBroker({ fakeClock: true }));
  const raw = await RawClient.open(fb.port);
  await raw.connect({ clientId: unique("ka0"), keepalive: 0 });
  fb.clock.now += 24 * 3600 * 1000;
  fb.tick();
  assert.is(fb.running.broker.clientCount, 1);
  raw.sendEncoded((out, off) => encodePingreq(out, off));
  await raw.expect(13, "PINGRESP after a day of silence");
});

test("no CONNECT within connectTimeoutMs (fake clock): closed", async () => {
  const fb = tracked.broker(await startTestBroker({ fakeClock: true, profile: { connectTimeoutMs: 5000 } }));
  const raw = await RawClient.open(fb.port);
  // the broker accepts the socket on its side asynchronously: wait until it counts it
  await waitUntil(() => fb.running.broker.conns.length === 1, "the broker to accept the socket");
  fb.clock.now += 4999;
  fb.tick();
  assert.is(fb.running.broker.conns.length, 1, "not yet");
  fb.clock.now += 1;
  fb.tick();
  assert.is(fb.running.broker.conns.length, 0);
  await raw.waitClosed();
});

test.run();
