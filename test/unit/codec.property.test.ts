/**
 * Properties of the codec, and of the whole broker fed with hostile bytes:
 * - encode -> frame (split anywhere) -> decode gives back what was encoded,
 *   for PUBLISH, SUBSCRIBE, UNSUBSCRIBE, SUBACK and CONNECT;
 * - mqtt-packet (an independent implementation) agrees in both directions;
 * - random bytes never make PacketReader or decodePacket throw, and the
 *   reader's buffer never exceeds maxPacket;
 * - random and mutated streams fed to the broker over the simulated network
 *   never throw, the broker only ever sends well-formed packets, and when the
 *   sockets end no connection, client or clean-session subscription is left;
 * - validUtf8 agrees with the platform's strict UTF-8 decoder plus the
 *   documented character policy.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import * as mqttPacket from "mqtt-packet";
import { ERR_MALFORMED, ERR_NONE, PUBLISH, SUBACK_FAILURE } from "../../firmware/core/codec/constants";
import { Decoded, decodeFrame, decodePacket } from "../../firmware/core/codec/decode";
import {
  encodeConnect, encodePublish, encodePublishString, encodeSuback, encodeSubscribe, encodeUnsubscribe, publishSize,
} from "../../firmware/core/codec/encode";
import { PacketReader } from "../../firmware/core/codec/reader";
import { validUtf8 } from "../../firmware/core/codec/utf8";
import { Bytes } from "../../firmware/core/platform";
import { startSimBroker } from "../../host-sim/sim";
import { allSessions } from "../../firmware/core/session/registry";
import {
  ackBytes, configWith, connectBytes, connectOptions, Packet, PacketDecoder, publishBytes, snapshot, subscribeBytes,
  unsubscribeBytes,
} from "../support/sim-client";

const alloc = { bytes: (n: number) => new Uint8Array(n) };
const binStr = (maxLength: number) => fc.string({ unit: "binary-ascii", maxLength });
/**
 * What the decoder, as the broker, takes for a string field (UTF-8, no control characters),
 * a topic name (that, not empty, no wildcard) and a filter (levels of it, "+" alone, "#" last):
 * as binary strings (UTF-8 bytes one char each), the way the encoders take them.
 */
const TEXT_UNITS = ["a", "b", "Z", "0", " ", "/", "-", "$", "~", "\u00e9", "\u20ac", "\u{1F600}"].map((c) => Buffer.from(c, "utf8").toString("latin1"));
const textStr = (maxLength: number) => fc.array(fc.constantFrom(...TEXT_UNITS, "+", "#"), { maxLength }).map((a) => a.join(""));
const topicStr = (maxLength: number) => fc.array(fc.constantFrom(...TEXT_UNITS), { minLength: 1, maxLength }).map((a) => a.join(""));
const filterStr = (maxLevels: number) => fc.tuple(
  fc.array(fc.oneof(fc.constant("+"), fc.array(fc.constantFrom(...TEXT_UNITS.filter((u) => u !== "/")), { maxLength: 6 }).map((a) => a.join(""))), { minLength: 1, maxLength: maxLevels }),
  fc.boolean(),
).map(([levels, hash]) => (hash ? [...levels, "#"] : levels).join("/")).filter((f) => f.length > 0);
const RUNS = { numRuns: 300, seed: 1883 };

/** Frame `bytes` through a PacketReader cut at `cuts` (positions, any order) and decode each packet. */
function frameAndDecode(bytes: Uint8Array, cuts: number[]): Packet[] {
  const positions = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const r = new PacketReader(alloc, 268435460, 16, 16);
  const d = new Decoded();
  const out: Packet[] = [];
  const sink = {
    onPacket(first: number, buf: Bytes, off: number, len: number): number {
      const e = decodePacket(first, buf, off, len, d);
      if (e !== ERR_NONE) return e;
      out.push(snapshot(d, buf));
      return ERR_NONE;
    },
  };
  let prev = 0;
  for (const c of [...positions, bytes.length]) {
    const chunk = bytes.slice(prev, c);
    const e = r.feed(chunk, 0, chunk.length, sink);
    if (e !== ERR_NONE) throw new Error("error " + e);
    prev = c;
  }
  assert.is((r.awaiting() !== 0), false);
  return out;
}

const cutsArb = fc.array(fc.nat(100000), { maxLength: 6 });

// ---- round trips ----

test("property: PUBLISH encode -> frame -> decode round trip", () => {
  fc.assert(
    fc.property(
      topicStr(100), binStr(3000), fc.integer({ min: 0, max: 2 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 65535 }), cutsArb,
      (topic, payload, qos, retain, dupWanted, id, cuts) => {
        const dup = qos > 0 && dupWanted;
        const packetId = qos > 0 ? id : 0;
        const size = publishSize(topic.length, payload.length, qos);
        const a = new Uint8Array(size);
        assert.is(encodePublishString(a, 0, topic, payload, qos, retain, dup, packetId), size);
        // the byte-buffer encoder gives the same bytes
        const b = new Uint8Array(size);
        const tb = Buffer.from(topic, "latin1");
        const pb = Buffer.from(payload, "latin1");
        assert.is(encodePublish(b, 0, qos, retain, dup, packetId, tb, 0, tb.length, pb, 0, pb.length), size);
        assert.equal(a, b);
        const [p] = frameAndDecode(a, cuts);
        assert.equal([p.type, p.qos, p.retain, p.dup, p.packetId, p.topic, p.payload], [PUBLISH, qos, retain, dup, packetId, topic, payload]);
      },
    ),
    RUNS,
  );
});

test("property: SUBSCRIBE / UNSUBSCRIBE / SUBACK round trips", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(filterStr(8), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 65535 }), cutsArb,
      (subs, id, cuts) => {
        const filters = subs.map((x) => x[0]);
        const qos = subs.map((x) => x[1]);
        const codes = subs.map((x) => (x[1] === 2 && x[0].length % 3 === 0 ? SUBACK_FAILURE : x[1]));
        const out = new Uint8Array(4000);
        let n = encodeSubscribe(out, 0, id, filters, qos);
        n += encodeUnsubscribe(out, n, id, filters);
        n += encodeSuback(out, n, id, codes, codes.length);
        const [s, u, a] = frameAndDecode(out.slice(0, n), cuts);
        assert.equal([s.name, s.packetId, s.filters, s.filterQos], ["SUBSCRIBE", id, filters, qos]);
        assert.equal([u.name, u.packetId, u.filters], ["UNSUBSCRIBE", id, filters]);
        assert.equal([a.name, a.packetId, a.codes], ["SUBACK", id, codes]);
      },
    ),
    RUNS,
  );
});

const connectArb = fc.record({
  clientId: textStr(30),
  clean: fc.boolean(),
  keepalive: fc.integer({ min: 0, max: 65535 }),
  username: fc.option(textStr(20), { nil: undefined }),
  password: fc.option(binStr(30), { nil: undefined }),
  will: fc.option(fc.record({ topic: topicStr(30), message: binStr(200), qos: fc.integer({ min: 0, max: 2 }), retain: fc.boolean() }), { nil: undefined }),
  v31: fc.boolean(),
});

test("property: CONNECT round trip (and a password without a user name refused in 3.1.1)", () => {
  fc.assert(
    fc.property(connectArb, cutsArb, (c, cuts) => {
      const o = connectOptions(c.clientId, c);
      if (c.v31) {
        o.protocolName = "MQIsdp";
        o.protocolLevel = 3;
      }
      const out = new Uint8Array(1000);
      const n = encodeConnect(out, 0, o);
      const bytes = out.slice(0, n);
      if (!c.v31 && c.password !== undefined && c.username === undefined) {
        assert.is(decodeFrame(bytes, 0, n, new Decoded()), -1, "[MQTT-3.1.2-22]");
        return;
      }
      const [p] = frameAndDecode(bytes, cuts);
      assert.equal(
        [p.name, p.protocolName, p.protocolLevel, p.clientId, p.cleanSession, p.keepalive, p.username, p.password],
        ["CONNECT", o.protocolName, o.protocolLevel, c.clientId, c.clean, c.keepalive, c.username, c.password],
      );
      assert.equal([p.willTopic, p.willMessage, p.willQos, p.willRetain],
        c.will ? [c.will.topic, c.will.message, c.will.qos, c.will.retain] : [undefined, undefined, 0, false]);
    }),
    RUNS,
  );
});

// ---- an independent implementation agrees ----

function mpParse(bytes: Uint8Array): any[] {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const got: any[] = [];
  parser.on("packet", (p: any) => got.push(p));
  parser.on("error", (e: Error) => { throw e; });
  parser.parse(Buffer.from(bytes));
  return got;
}

/** A UTF-8 string the broker takes: no control characters, no noncharacters (validUtf8's policy). */
const utf8Str = (maxLength: number) => fc.string({ unit: "binary", maxLength }).map((s) => Buffer.from(s, "utf8").toString("utf8"))
  .map((s) => [...s].filter((ch) => validUtf8(Buffer.from(ch, "utf8"), 0, Buffer.byteLength(ch, "utf8"))).join(""));
const toBin = (s: string): string => Buffer.from(s, "utf8").toString("latin1");

test("property: mqtt-packet parses what we encode, and we decode what it generates (PUBLISH, SUBSCRIBE)", () => {
  fc.assert(
    fc.property(
      utf8Str(60).map((t) => t.replace(/[+#]/g, "")).filter((t) => t.length > 0), fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 0, max: 2 }), fc.boolean(),
      fc.integer({ min: 1, max: 65535 }), fc.array(fc.tuple(utf8Str(30).map((t) => t.replace(/[+#]/g, "")).filter((t) => t.length > 0), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 5 }),
      (topic, payload, qos, retain, id, subs) => {
        const payloadBin = Buffer.from(payload).toString("latin1");
        // ours -> mqtt-packet
        const ours = publishBytes(toBin(topic), payloadBin, qos, retain, qos > 0 ? id : 0);
        const [mp] = mpParse(ours);
        assert.equal([mp.cmd, mp.topic, mp.qos, mp.retain, Buffer.compare(mp.payload, Buffer.from(payload))], ["publish", topic, qos, retain, 0]);
        if (qos > 0) assert.is(mp.messageId, id);
        const sub = subscribeBytes(id, subs.map((x) => toBin(x[0])), subs.map((x) => x[1]));
        const [ms] = mpParse(sub);
        assert.equal(ms.subscriptions.map((x: any) => [x.topic, x.qos]), subs);
        // mqtt-packet -> ours
        const gen = mqttPacket.generate({ cmd: "publish", topic, payload: Buffer.from(payload), qos: qos as 0 | 1 | 2, retain, dup: false, messageId: qos > 0 ? id : undefined } as any);
        assert.equal(Array.from(gen), Array.from(ours), "byte-identical PUBLISH");
        const genSub = mqttPacket.generate({ cmd: "subscribe", messageId: id, subscriptions: subs.map(([t, q]) => ({ topic: t, qos: q as 0 | 1 | 2 })) } as any);
        const [p] = frameAndDecode(Uint8Array.from(genSub), []);
        assert.equal(p.filters, subs.map((x) => toBin(x[0])));
        assert.equal(p.filterQos, subs.map((x) => x[1]));
      },
    ),
    RUNS,
  );
});

test("property: mqtt-packet and we agree on CONNECT (3.1.1)", () => {
  fc.assert(
    fc.property(
      utf8Str(23), fc.boolean(), fc.integer({ min: 0, max: 65535 }), fc.option(utf8Str(20), { nil: undefined }), fc.option(fc.uint8Array({ maxLength: 20 }), { nil: undefined }),
      fc.option(fc.record({ topic: utf8Str(30).map((t) => t.replace(/[+#]/g, "")).filter((t) => t.length > 0), payload: fc.uint8Array({ maxLength: 50 }), qos: fc.integer({ min: 0, max: 2 }), retain: fc.boolean() }), { nil: undefined }),
      (clientId, cleanWanted, keepalive, username, password, will) => {
        const clean = cleanWanted || clientId.length === 0; // mqtt-packet refuses an empty id without clean session
        const user = password !== undefined && username === undefined ? "u" : username;
        const obj: any = { cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean, keepalive, clientId };
        if (user !== undefined) obj.username = user;
        if (password !== undefined) obj.password = Buffer.from(password);
        if (will !== undefined) obj.will = { topic: will.topic, payload: Buffer.from(will.payload), qos: will.qos, retain: will.retain };
        const gen = Uint8Array.from(mqttPacket.generate(obj));
        const ours = connectBytes(toBin(clientId), {
          clean, keepalive,
          username: user !== undefined ? toBin(user) : undefined,
          password: password !== undefined ? Buffer.from(password).toString("latin1") : undefined,
          will: will !== undefined ? { topic: toBin(will.topic), message: Buffer.from(will.payload).toString("latin1"), qos: will.qos, retain: will.retain } : undefined,
        });
        assert.equal(Array.from(ours), Array.from(gen), "byte-identical CONNECT");
        const [p] = frameAndDecode(gen, []);
        assert.is(p.clientId, toBin(clientId));
        assert.is(p.username, user !== undefined ? toBin(user) : undefined);
      },
    ),
    RUNS,
  );
});

// ---- hostile bytes: the reader and the decoder ----

test("property: random bytes never make the reader or decoder throw; the buffer stays within maxPacket", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), cutsArb, fc.constantFrom(2, 16, 100, 1024, 268435455), (bytes, cuts, maxPacket) => {
      const r = new PacketReader(alloc, maxPacket, 16, 16);
      const d = new Decoded();
      let err = ERR_NONE;
      const sink = {
        onPacket(first: number, buf: Bytes, off: number, len: number): number {
          assert.ok(len + 2 <= maxPacket, "packet over the limit reported");
          assert.ok(off >= 0 && off + len <= buf.length, "packet outside its buffer");
          const e = decodePacket(first, buf, off, len, d);
          assert.ok(e === ERR_NONE || e === ERR_MALFORMED);
          if (e === ERR_NONE) snapshot(d, buf); // every offset lies inside the buffer
          return ERR_NONE;
        },
      };
      const positions = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      let prev = 0;
      for (const c of [...positions, bytes.length]) {
        if (err === ERR_NONE) err = r.feed(bytes, prev, c - prev, sink);
        assert.ok(r.buf === undefined || r.buf.length <= maxPacket, "reader buffer " + r.buf?.length + " > " + maxPacket);
        prev = c;
      }
    }),
    { numRuns: 500, seed: 99 },
  );
});

test("property: decoded offsets always lie inside the packet body", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 200 }), (first, body) => {
      const buf = new Uint8Array(body.length + 10);
      buf.set(body, 5);
      const d = new Decoded();
      if (decodePacket(first, buf, 5, body.length, d) !== ERR_NONE) return;
      const regions: [number, number][] = [
        [d.topicOff, d.topicLen], [d.payloadOff, d.payloadLen], [d.protocolNameOff, d.protocolNameLen],
        [d.clientIdOff, d.clientIdLen], [d.willTopicOff, d.willTopicLen], [d.willMessageOff, d.willMessageLen],
        [d.usernameOff, d.usernameLen], [d.passwordOff, d.passwordLen], [d.codesOff, d.codesLen], [d.listOff, d.listLen],
      ];
      for (const [off, len] of regions) {
        if (off < 0) assert.is(len, 0);
        else assert.ok(off >= 5 && off + len <= 5 + body.length, `${off}+${len}`);
      }
    }),
    { numRuns: 3000, seed: 7 },
  );
});

// ---- hostile bytes: the whole broker over the simulated network ----

/** A valid session worth of client packets, as one stream. */
function validStream(id: string): Uint8Array {
  return Buffer.concat([
    connectBytes(id, { clean: id.length % 2 === 0, keepalive: 5, will: { topic: "w/" + id, message: "bye", qos: 1, retain: true } }),
    subscribeBytes(1, ["a/#", "+/b", "w/#"], [0, 1, 2]),
    publishBytes("a/b", "zero"),
    publishBytes("a/b", "one", 1, false, 2),
    publishBytes("x/b", "two", 2, true, 3),
    ackBytes(6, 3),
    ackBytes(4, 1),
    ackBytes(5, 2),
    ackBytes(7, 2),
    Uint8Array.from([0xc0, 0]),
    unsubscribeBytes(4, ["a/#"]),
    publishBytes("a/c", "", 0, true),
  ]);
}

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("repeat" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function mutate(src: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = Array.from(src);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === "set") b[at] = m.value;
    else if (m.kind === "flip") b[at] = b[at] ^ (1 << m.bit);
    else if (m.kind === "delete") b.splice(at, m.len);
    else if (m.kind === "insert") b.splice(at, 0, ...m.bytes);
    else if (m.kind === "repeat") b.splice(at, 0, ...b.slice(at, at + m.len));
    else b = b.slice(0, at);
  }
  return Uint8Array.from(b);
}

/**
 * Run streams against a fresh broker: an honest observer subscribed to
 * everything, and one socket per stream (same client ids, so takeovers
 * happen too). Checks: nothing throws, every byte the broker sends parses,
 * readers stay within maxPacket, and once every socket ends nothing is left.
 */
const reach = { runs: 0, connected: 0, delivered: 0, closedByBroker: 0, wills: 0 };

function runBroker(streams: Uint8Array[], small: boolean, seed: number, advanceMs: number): void {
  reach.runs++;
  const config = small
    ? configWith({ maxPacketSize: 128, maxClients: 3, maxSubscriptions: 6, maxInflight: 2, maxQueued: 3, maxSendQueueBytes: 200, maxTopicLength: 20, maxRetained: 2, maxIncomingQos2: 2, maxSessions: 2, tickMs: 100, connectTimeoutMs: 1000 })
    : configWith({ tickMs: 100 });
  const sim = startSimBroker(config, seed % 3 === 0 ? { splitBytes: true } : { randomSplitSeed: seed });
  const observer = sim.net.connect();
  const obsDecoder = new PacketDecoder();
  observer.write(connectBytes("observer"));
  observer.write(subscribeBytes(1, ["#"], [2]));
  const sockets = streams.map(() => sim.net.connect());
  const decoders = streams.map(() => new PacketDecoder());
  streams.forEach((s, i) => {
    // in two writes, the second after some time passes
    const half = s.length >> 1;
    sockets[i].write(s.subarray(0, half));
    sim.clock.advance(advanceMs);
    sockets[i].write(s.subarray(half));
  });
  sim.clock.advance(advanceMs);
  for (const c of sim.broker.conns) {
    assert.ok(c.reader.buf === undefined || c.reader.buf.length <= config.profile.maxPacketSize, "reader buffer over maxPacketSize");
  }
  // everything the broker sent is well-formed MQTT
  sockets.forEach((s, i) => decoders[i].feed(s.take()));
  obsDecoder.feed(observer.take());
  if (decoders.some((d) => d.packets.some((p) => p.name === "CONNACK" && p.returnCode === 0))) reach.connected++;
  if (obsDecoder.packets.some((p) => p.name === "PUBLISH" && p.topic !== undefined && p.topic.startsWith("a/"))) reach.delivered++;
  if (sockets.some((s) => s.closedByBroker)) reach.closedByBroker++;
  for (const s of sockets) s.end();
  observer.end();
  sim.clock.settle();
  sim.clock.advance(1000);
  if (obsDecoder.packets.some((p) => p.topic !== undefined && p.topic.startsWith("w/"))) reach.wills++;
  assert.is(sim.broker.conns.length, 0, "connections left");
  assert.is(sim.broker.clientCount, 0, "clients left");
  // only offline persistent sessions remain, and the table holds exactly their subscriptions
  const sessions = allSessions(sim.broker.sessions);
  let filters = 0;
  for (const s of sessions) {
    assert.is(s.connId, -1);
    assert.is(s.clean, false, "a clean session outlived its connection");
    filters += s.filters.length;
  }
  assert.is(sim.broker.topics.count, filters, "subscriptions leaked");
  assert.ok(sim.broker.sessions.offline.length <= config.profile.maxSessions);
}

test("property: mutated valid streams never break the broker, and nothing leaks", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom("c1", "c22", "c1"), fc.array(mutationArb, { minLength: 1, maxLength: 6 })), { minLength: 1, maxLength: 3 }),
      fc.boolean(), fc.nat(1000000), fc.integer({ min: 0, max: 9000 }),
      (clients, small, seed, advanceMs) => {
        runBroker(clients.map(([id, muts]) => mutate(validStream(id), muts)), small, seed, advanceMs);
      },
    ),
    { numRuns: 250, seed: 31337 },
  );
  // the mutations must leave enough intact to reach deep into the broker, or the property proves little
  console.log("  mutated streams: " + JSON.stringify(reach));
  assert.ok(reach.connected > reach.runs * 0.3, "too few runs got connected");
  assert.ok(reach.delivered > reach.runs * 0.1, "too few runs delivered a message");
  assert.ok(reach.closedByBroker > reach.runs * 0.2, "too few runs hit a broker-side close");
  assert.ok(reach.wills > 0, "no will was ever published");
});

test("property: random bytes (after a valid CONNECT or not) never break the broker", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 400 })), { minLength: 1, maxLength: 3 }),
      fc.boolean(), fc.nat(1000000), fc.integer({ min: 0, max: 3000 }),
      (clients, small, seed, advanceMs) => {
        runBroker(clients.map(([connected, bytes]) => (connected ? Buffer.concat([connectBytes("r"), bytes]) : bytes)), small, seed, advanceMs);
      },
    ),
    { numRuns: 250, seed: 2718 },
  );
});

// ---- UTF-8 against the platform's decoder ----

function policyAllows(cp: number): boolean {
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false;
  if (cp >= 0xfdd0 && cp <= 0xfdef) return false;
  if (cp % 0x10000 >= 0xfffe) return false;
  return true;
}

test("property: validUtf8 = strict UTF-8 (TextDecoder fatal) + the control/noncharacter policy", () => {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const piece = fc.oneof(
    fc.string({ unit: "binary", maxLength: 8 }).map((s) => Array.from(Buffer.from(s, "utf8"))),
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 4 }),
    fc.constantFrom([0xed, 0xa0, 0x80], [0xc0, 0x80], [0xef, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xc2, 0x85]),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 6 }), (pieces) => {
      const bytes = Uint8Array.from(pieces.flat());
      let expected: boolean;
      try {
        const text = decoder.decode(bytes);
        expected = Array.from(text).every((ch) => policyAllows(ch.codePointAt(0)!));
      } catch {
        expected = false;
      }
      assert.is(validUtf8(bytes, 0, bytes.length), expected, Buffer.from(bytes).toString("hex"));
    }),
    { numRuns: 3000, seed: 8 },
  );
});

test.run();
