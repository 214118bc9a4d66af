/**
 * Issue 13's hostile cases over real TCP (host-sim/tcp.ts: its write
 * coalescing and queue accounting), as an attacker would send them with raw
 * sockets and MQTT.js:
 * - retained amplification: one SUBSCRIBE with 80 repeated `#`, ten SUBSCRIBE
 *   `#` in one write, a subscriber that never reads: what the broker holds
 *   for that connection stays near the send-queue bound;
 * - a client that sends and never reads: closed once the transport's hard
 *   limit is reached, the broker goes on;
 * - whatever a broker call throws closes that one connection, not the process;
 * - another user resuming a persistent session gets none of its messages;
 * - before CONNECT: a CONNECT announcing more than a CONNECT can hold, many
 *   sockets each holding part of one, an HTTP request and a TLS hello.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CONNACK, PUBLISH, SUBACK } from "../../firmware/core/codec/constants";
import { sendQueueHardLimit } from "../../firmware/core/profile";
import { loadConfig, loadProfile } from "../../host-sim/config";
import { formatPasswordLine, hashPassword } from "../../host-sim/password-file";
import {
  barrier, connect, once, publish, startTestBroker, subscribe, TestBroker, tracked, waitUntil, withTimeout,
} from "../support/e2e-helpers";
import { connectBytes, Packet, PacketDecoder, subscribeBytes } from "../support/sim-client";

const test = suite("33 hostile over TCP");
let dir = "";

test.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "e2e-hostile-"));
});
test.after.each(async () => {
  await tracked.closeAll();
});
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The most the transport held for any one connection, sampled at every send. */
function watchPeak(b: TestBroker): { peak: number } {
  const t = b.running.transport;
  const seen = { peak: 0 };
  const send = t.send.bind(t);
  t.send = (id, buf, off, len) => {
    const ok = send(id, buf, off, len);
    const q = t.queued(id);
    if (q > seen.peak) seen.peak = q;
    return ok;
  };
  return seen;
}

/** A raw socket that decodes what the broker sends. */
async function rawClient(port: number): Promise<{ sock: net.Socket; packets: Packet[]; closed: Promise<void> }> {
  const sock = tracked.socket(net.connect(port, "127.0.0.1"));
  await once(sock, "connect", "raw connect");
  const dec = new PacketDecoder();
  const packets: Packet[] = [];
  sock.on("data", (d: Buffer) => {
    for (const p of dec.feed(new Uint8Array(d))) packets.push(p);
  });
  const closed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
  sock.on("error", () => {});
  return { sock, packets, closed };
}

const RETAINED = 63;
const SIZE = 32 * 1024;
const BOUND = 512 * 1024;

async function brokerWithRetained(extra = {}): Promise<TestBroker> {
  const b = await startTestBroker({ profile: { maxSendQueueBytes: BOUND, ...extra } });
  tracked.broker(b);
  const pub = await connect(b.port, { clientId: "pub" });
  const body = Buffer.alloc(SIZE, "r");
  for (let i = 0; i < RETAINED; i++) await publish(pub.client, "ret/" + i, body, 1, true);
  return b;
}

test("one SUBSCRIBE with 80 repeated '#' (the 1 MB x 63 case, scaled): held near the bound, every retained message delivered, others served meanwhile", async () => {
  const b = await brokerWithRetained();
  const seen = watchPeak(b);
  const sub = await rawClient(b.port);
  sub.sock.write(connectBytes("amplifier"));
  // QoS 0, as mosquitto_sub asks by default
  sub.sock.write(subscribeBytes(1, new Array(80).fill("#"), new Array(80).fill(0)));
  // meanwhile another client is served
  const other = await connect(b.port, { clientId: "other" });
  assert.ok(other.connack.returnCode === 0);
  await waitUntil(() => sub.packets.filter((p) => p.type === PUBLISH).length >= RETAINED, "the retained set", 10000);
  // the old way: 80 x 63 x 32 KB = 161 MB for this one connection at once
  assert.ok(seen.peak <= BOUND + SIZE + 1024, "peak " + seen.peak);
  const pubs = sub.packets.filter((p) => p.type === PUBLISH);
  assert.is(new Set(pubs.map((p) => p.topic)).size, RETAINED);
});

test("ten SUBSCRIBE '#' in one write: held near the bound; the full set follows the last SUBACK", async () => {
  const b = await brokerWithRetained();
  const seen = watchPeak(b);
  const sub = await rawClient(b.port);
  const parts: Buffer[] = [Buffer.from(connectBytes("ten"))];
  for (let i = 1; i <= 10; i++) parts.push(Buffer.from(subscribeBytes(i, ["#"], [0])));
  sub.sock.write(Buffer.concat(parts));
  await waitUntil(() => {
    const acks = sub.packets.map((p) => p.type).lastIndexOf(SUBACK);
    return acks >= 0 && sub.packets.filter((p) => p.type === SUBACK).length === 10 &&
      new Set(sub.packets.slice(acks + 1).filter((p) => p.type === PUBLISH).map((p) => p.topic)).size === RETAINED;
  }, "ten SUBACKs and the set after the last", 10000);
  assert.ok(seen.peak <= BOUND + SIZE + 1024, "peak " + seen.peak + " (the old way: 10 x 2 MB)");
});

test("a subscriber that never reads: held near the bound, other clients served, closed after stallTimeoutMs", async () => {
  const b = await startTestBroker({ profile: { maxSendQueueBytes: BOUND, stallTimeoutMs: 5000 }, fakeClock: true });
  tracked.broker(b);
  const pub = await connect(b.port, { clientId: "pub" });
  // 16 MB retained: more than the kernel's socket buffers take, so the broker's own queue fills
  const big = 256 * 1024;
  const body = Buffer.alloc(big, "r");
  for (let i = 0; i < RETAINED; i++) await publish(pub.client, "ret/" + i, body, 1, true);
  const seen = watchPeak(b);
  const sub = await rawClient(b.port);
  sub.sock.pause();
  sub.sock.write(connectBytes("never-reads"));
  sub.sock.write(subscribeBytes(1, new Array(80).fill("#"), new Array(80).fill(0)));
  await waitUntil(() => b.running.broker.clientCount === 2 && seen.peak > BOUND, "the replay to fill the queue", 5000);
  // a few turns later it still holds no more
  await waitUntil(() => b.running.transport.queued(b.running.broker.conns[1].id) > BOUND, "the queue past the bound", 5000);
  for (let i = 0; i < 50; i++) await new Promise<void>((r) => setImmediate(r));
  assert.ok(seen.peak <= BOUND + big + 1024, "peak " + seen.peak);
  const other = await connect(b.port, { clientId: "other" });
  await publish(other.client, "live/x", "still serving", 1);
  // the stall guard closes a connection whose queue stays past the bound for stallTimeoutMs; the
  // kernel may still take some bytes now and then, so look again until it is full
  const subId = b.running.broker.conns[1].id;
  for (let round = 0; round < 20 && b.running.broker.guard.slowClosed === 0; round++) {
    await waitUntil(() => b.running.transport.queued(subId) > BOUND, "the queue past the bound", 5000);
    b.tick();
    b.clock.now += 5000 + 1000;
    b.tick();
  }
  assert.is(b.running.broker.guard.slowClosed, 1, "closed as a slow consumer");
  assert.is(b.running.broker.clientCount, 2, "pub and other remain");
  // a paused socket notices its end only once it reads again
  sub.sock.resume();
  await withTimeout(sub.closed, "the stalled subscriber's close", 5000);
});

test("a client that sends and never reads: closed at the transport's hard limit, the broker goes on", async () => {
  // stallTimeoutMs 0: the stall guard is off, so it is the hard limit that closes it
  const b = await startTestBroker({ profile: { maxSendQueueBytes: 2048, maxPacketSize: 1024, stallTimeoutMs: 0 } });
  tracked.broker(b);
  const limit = sendQueueHardLimit(b.config.profile);
  const flood = await rawClient(b.port);
  flood.sock.pause();
  flood.sock.write(connectBytes("flood"));
  const pings = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < pings.length; i += 2) pings[i] = 0xc0;
  let closed = false;
  flood.closed.then(() => (closed = true));
  // PINGRESPs pile up in the kernel's buffers first, then in the transport: bounded count of writes
  for (let mb = 0; mb < 64 && !closed; mb++) {
    flood.sock.write(pings);
    await new Promise<void>((r) => setTimeout(r, 5));
  }
  await withTimeout(flood.closed, "the flooder's close", 10000);
  assert.ok(b.running.broker.guard.slowClosed >= 1, "counted as a slow consumer closed");
  assert.ok(limit < 8192, "the limit here is " + limit);
  const other = await connect(b.port, { clientId: "after" });
  assert.is(other.connack.returnCode, 0);
});

test("a broker call that throws closes that connection only: logged, the others go on", async () => {
  const b = await startTestBroker({});
  tracked.broker(b);
  const broker = b.running.broker;
  const dispatch = broker.dispatch.bind(broker);
  broker.dispatch = (conn, first, buf, off, len) => {
    if (conn.clientId === "boom" && Math.floor(first / 16) === 3) throw new Error("a bug in a handler");
    return dispatch(conn, first, buf, off, len);
  };
  const watcher = await connect(b.port, { clientId: "watcher" });
  await subscribe(watcher.client, { "t/#": 1 });
  const boom = await connect(b.port, { clientId: "boom" });
  boom.client.publish("t/x", "kaboom", { qos: 0 });
  await withTimeout(boom.closed, "the throwing connection's close");
  await b.logs.waitFor(/error on connection \d+, closed: Error: a bug in a handler/);
  const sender = await connect(b.port, { clientId: "sender" });
  assert.equal((await barrier(sender.client, watcher, "t/after")), []);
  assert.is(broker.clientCount, 2);
});

test("another user resuming a persistent session over TCP gets none of its messages; its owner gets all of them back", async () => {
  writeFileSync(path.join(dir, "passwd"), [
    formatPasswordLine("alice", hashPassword("alice-pw")), formatPasswordLine("bob", hashPassword("bob-pw")),
  ].join("\n") + "\n");
  writeFileSync(path.join(dir, "acl"), "user alice\ntopic readwrite alice/#\n\nuser bob\ntopic readwrite bob/#\n");
  const conf = path.join(dir, "mosquitto.conf");
  writeFileSync(conf, "allow_anonymous false\npassword_file passwd\nacl_file acl\n");
  const b = await startTestBroker({ config: loadConfig(conf, loadProfile("host")) });
  tracked.broker(b);
  const alice = { username: "alice", password: "alice-pw" };
  const bob = { username: "bob", password: "bob-pw" };
  const a = await connect(b.port, { clientId: "shared-id", clean: false, ...alice });
  await subscribe(a.client, { "alice/inbox": 1 });
  a.client.end();
  await a.closed;
  const p = await connect(b.port, { clientId: "alice-pub", ...alice });
  for (let i = 1; i <= 3; i++) await publish(p.client, "alice/inbox", "m" + i, 1);
  const bb = await connect(b.port, { clientId: "shared-id", clean: false, ...bob });
  assert.is(bb.connack.sessionPresent, true);
  // everything resumed goes out right after CONNACK: a round trip on bob's own topic comes after it
  const bp = await connect(b.port, { clientId: "bob-pub", ...bob });
  await subscribe(bb.client, { "bob/#": 1 });
  assert.equal(await barrier(bp.client, bb, "bob/barrier"), [], "bob got nothing of alice's");
  bb.client.end();
  await bb.closed;
  const back = await connect(b.port, { clientId: "shared-id", clean: false, ...alice });
  const got = await back.inbox.take(3, "alice's three messages");
  assert.equal(got.map((m) => m.payload), ["m1", "m2", "m3"]);
});

test("before CONNECT: a CONNECT announcing 64 MB closes at its fixed header; partial CONNECTs are bounded in total", async () => {
  const b = await startTestBroker({ profile: { maxConnectingBytes: 1024 * 1024 } });
  tracked.broker(b);
  const big = await rawClient(b.port);
  // 0x10, then 64 MB as a remaining length
  big.sock.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x20]));
  await withTimeout(big.closed, "the 64 MB CONNECT's close");
  const whole = Buffer.from(connectBytes("slow", { username: "u".repeat(60000), password: "p".repeat(60000) }));
  const socks = [];
  for (let i = 0; i < 24; i++) {
    const s = await rawClient(b.port);
    s.sock.write(whole.subarray(0, whole.length - 1));
    socks.push(s);
  }
  let closedCount = 0;
  for (const s of socks) s.closed.then(() => closedCount++);
  await waitUntil(() => closedCount >= 16, "sockets past the total closed", 5000);
  assert.ok(b.running.broker.connectingBytes <= 1024 * 1024, "held " + b.running.broker.connectingBytes);
  const ok = await connect(b.port, { clientId: "fine" });
  assert.is(ok.connack.returnCode, 0);
});

test("an HTTP request or a TLS hello on the plain port closes at once, not at the CONNECT timeout", async () => {
  const b = await startTestBroker({ profile: { connectTimeoutMs: 60000 } });
  tracked.broker(b);
  const hello = Buffer.from("160301020001" + "0001fc0303" + "00".repeat(64), "hex");
  for (const first of [Buffer.from("GET /mqtt HTTP/1.1\r\nHost: broker\r\nUpgrade: websocket\r\n\r\n"), hello]) {
    const s = await rawClient(b.port);
    const started = Date.now();
    s.sock.write(first);
    await withTimeout(s.closed, "close after " + first.subarray(0, 4).toString("hex"), 2000);
    assert.ok(Date.now() - started < 2000);
    assert.equal(s.packets.filter((p) => p.type === CONNACK), [], "no CONNACK");
  }
});

test("shutdown with clients that never close their end: it returns, every socket dropped", async () => {
  const b = await startTestBroker({});
  const idle = await rawClient(b.port);
  idle.sock.write(connectBytes("stays"));
  const conn = await rawClient(b.port);
  conn.sock.pause(); // reads nothing, so it never sees the FIN and never closes its side
  await waitUntil(() => b.running.broker.conns.length === 2, "both accepted");
  await withTimeout(b.close(), "shutdown", 3000);
  assert.is(b.running.broker.conns.length, 0);
});

test.run();
