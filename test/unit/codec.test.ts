/**
 * The codec, table-driven: every packet type encoded to known bytes and
 * decoded back to its fields (the fixtures are mqtt-packet's test.js
 * vectors where it has them), remaining-length boundaries, framing split at
 * every byte, the packet limit, and the UTF-8 validator.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  CONNACK, CONNECT, DISCONNECT, ERR_MALFORMED, ERR_NONE, ERR_PROTOCOL, ERR_TOO_LARGE, PINGREQ, PINGRESP, PUBACK, PUBCOMP,
  PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE,
} from "../../firmware/core/codec/constants";
import { Decoded, decodeFrame, decodePacket, frameLength } from "../../firmware/core/codec/decode";
import {
  encodeAck, encodeConnack, encodeConnect, encodeDisconnect, encodeEmpty, encodePingreq, encodePublish,
  encodePublishString, encodeSuback, encodeSubscribe, encodeUnsubscribe, publishSize, remainingLengthSize,
  writeRemainingLength,
} from "../../firmware/core/codec/encode";
import { PacketReader, PacketSink } from "../../firmware/core/codec/reader";
import { readStringLength, readU16 } from "../../firmware/core/codec/cursor";
import { validUtf8 } from "../../firmware/core/codec/utf8";
import { Bytes } from "../../firmware/core/platform";
import { connectOptions, decodeAll, Packet, snapshot, utf8 } from "../support/sim-client";

const alloc = { bytes: (n: number) => new Uint8Array(n) };
const s = (text: string): number[] => Array.from(Buffer.from(text, "latin1"));

interface Fixture {
  name: string;
  bytes: number[];
  encode: (out: Uint8Array) => number;
  fields: Partial<Packet>;
}

const FIXTURES: Fixture[] = [
  {
    name: "minimal connect (MQTT 3.1)",
    bytes: [16, 18, 0, 6, ...s("MQIsdp"), 3, 0, 0, 30, 0, 4, ...s("test")],
    encode: (o) => encodeConnect(o, 0, { ...connectOptions("test", { clean: false, keepalive: 30 }), protocolName: "MQIsdp", protocolLevel: 3 }),
    fields: { type: CONNECT, protocolName: "MQIsdp", protocolLevel: 3, cleanSession: false, keepalive: 30, clientId: "test", willTopic: undefined, username: undefined, password: undefined },
  },
  {
    name: "no clientId with 3.1.1",
    bytes: [16, 12, 0, 4, ...s("MQTT"), 4, 2, 0, 30, 0, 0],
    encode: (o) => encodeConnect(o, 0, connectOptions("", { clean: true, keepalive: 30 })),
    fields: { type: CONNECT, protocolName: "MQTT", protocolLevel: 4, cleanSession: true, keepalive: 30, clientId: "" },
  },
  {
    name: "maximal connect (will retain QoS 2, user name, password)",
    bytes: [16, 54, 0, 6, ...s("MQIsdp"), 3, 246, 0, 30, 0, 4, ...s("test"), 0, 5, ...s("topic"), 0, 7, ...s("payload"),
      0, 8, ...s("username"), 0, 8, ...s("password")],
    encode: (o) => encodeConnect(o, 0, {
      ...connectOptions("test", { clean: true, keepalive: 30, username: "username", password: "password", will: { topic: "topic", message: "payload", qos: 2, retain: true } }),
      protocolName: "MQIsdp", protocolLevel: 3,
    }),
    fields: { type: CONNECT, cleanSession: true, clientId: "test", willTopic: "topic", willMessage: "payload", willQos: 2, willRetain: true, username: "username", password: "password" },
  },
  {
    name: "max connect with special chars",
    bytes: [16, 57, 0, 6, 77, 81, 73, 115, 100, 112, 3, 246, 0, 30, 0, 4, 116, 101, 36, 116, 0, 6, 116, 195, 178, 112, 105, 99,
      0, 8, 112, 97, 121, 194, 163, 111, 97, 100, 0, 8, 117, 36, 101, 114, 110, 52, 109, 101, 0, 9, 112, 52, 36, 36, 119, 48, 194, 163, 100],
    encode: (o) => encodeConnect(o, 0, {
      ...connectOptions("te$t", { keepalive: 30, username: "u$ern4me", password: utf8("p4$$w0£d"), will: { topic: utf8("tòpic"), message: utf8("pay£oad"), qos: 2, retain: true } }),
      protocolName: "MQIsdp", protocolLevel: 3,
    }),
    fields: { clientId: "te$t", willTopic: utf8("tòpic"), willMessage: utf8("pay£oad"), username: "u$ern4me", password: utf8("p4$$w0£d") },
  },
  {
    name: "empty will payload",
    bytes: [16, 47, 0, 6, ...s("MQIsdp"), 3, 246, 0, 30, 0, 4, ...s("test"), 0, 5, ...s("topic"), 0, 0, 0, 8, ...s("username"), 0, 8, ...s("password")],
    encode: (o) => encodeConnect(o, 0, {
      ...connectOptions("test", { keepalive: 30, username: "username", password: "password", will: { topic: "topic", message: "", qos: 2, retain: true } }),
      protocolName: "MQIsdp", protocolLevel: 3,
    }),
    fields: { willTopic: "topic", willMessage: "", willQos: 2, willRetain: true },
  },
  {
    name: "empty string username payload",
    bytes: [16, 20, 0, 6, ...s("MQIsdp"), 3, 130, 0, 30, 0, 4, ...s("test"), 0, 0],
    encode: (o) => encodeConnect(o, 0, { ...connectOptions("test", { keepalive: 30, username: "" }), protocolName: "MQIsdp", protocolLevel: 3 }),
    fields: { username: "", password: undefined, willTopic: undefined },
  },
  {
    name: "connect 3.1.1 with will QoS 1, user name and password (mqtt-packet generate)",
    bytes: [16, 47, 0, 4, 77, 81, 84, 84, 4, 206, 0, 60, 0, 5, 100, 101, 118, 45, 49, 0, 12, 115, 116, 97, 116, 117, 115, 47, 100, 101, 118, 45, 49,
      0, 4, 103, 111, 110, 101, 0, 4, 117, 115, 101, 114, 0, 2, 112, 119],
    encode: (o) => encodeConnect(o, 0, connectOptions("dev-1", { keepalive: 60, username: "user", password: "pw", will: { topic: "status/dev-1", message: "gone", qos: 1 } })),
    fields: { protocolLevel: 4, cleanSession: true, keepalive: 60, clientId: "dev-1", willTopic: "status/dev-1", willMessage: "gone", willQos: 1, willRetain: false, username: "user", password: "pw" },
  },
  {
    name: "connack with return code 0",
    bytes: [32, 2, 0, 0],
    encode: (o) => encodeConnack(o, 0, false, 0),
    fields: { type: CONNACK, sessionPresent: false, returnCode: 0 },
  },
  {
    name: "connack with return code 0 session present bit set",
    bytes: [32, 2, 1, 0],
    encode: (o) => encodeConnack(o, 0, true, 0),
    fields: { type: CONNACK, sessionPresent: true, returnCode: 0 },
  },
  {
    name: "connack with return code 5",
    bytes: [32, 2, 0, 5],
    encode: (o) => encodeConnack(o, 0, false, 5),
    fields: { type: CONNACK, sessionPresent: false, returnCode: 5 },
  },
  {
    name: "minimal publish",
    bytes: [48, 10, 0, 4, ...s("test"), ...s("test")],
    encode: (o) => encodePublishString(o, 0, "test", "test", 0, false, false, 0),
    fields: { type: PUBLISH, qos: 0, dup: false, retain: false, packetId: 0, topic: "test", payload: "test" },
  },
  {
    name: "maximal publish",
    bytes: [61, 12, 0, 4, ...s("test"), 0, 10, ...s("test")],
    encode: (o) => encodePublishString(o, 0, "test", "test", 2, true, true, 10),
    fields: { type: PUBLISH, qos: 2, dup: true, retain: true, packetId: 10, topic: "test", payload: "test" },
  },
  {
    name: "empty publish",
    bytes: [48, 6, 0, 4, ...s("test")],
    encode: (o) => encodePublishString(o, 0, "test", "", 0, false, false, 0),
    fields: { type: PUBLISH, topic: "test", payload: "" },
  },
  {
    name: "publish QoS 1 (mqtt-packet generate)",
    bytes: [50, 9, 0, 3, 97, 47, 98, 1, 2, 104, 105],
    encode: (o) => encodePublishString(o, 0, "a/b", "hi", 1, false, false, 258),
    fields: { type: PUBLISH, qos: 1, packetId: 258, topic: "a/b", payload: "hi" },
  },
  {
    name: "puback",
    bytes: [64, 2, 0, 2],
    encode: (o) => encodeAck(o, 0, PUBACK, 0, 2),
    fields: { type: PUBACK, packetId: 2, flags: 0 },
  },
  {
    name: "pubrec",
    bytes: [80, 2, 0, 2],
    encode: (o) => encodeAck(o, 0, PUBREC, 0, 2),
    fields: { type: PUBREC, packetId: 2 },
  },
  {
    name: "pubrel",
    bytes: [98, 2, 0, 2],
    encode: (o) => encodeAck(o, 0, PUBREL, 2, 2),
    fields: { type: PUBREL, packetId: 2, flags: 2 },
  },
  {
    name: "pubcomp",
    bytes: [112, 2, 0, 2],
    encode: (o) => encodeAck(o, 0, PUBCOMP, 0, 2),
    fields: { type: PUBCOMP, packetId: 2 },
  },
  {
    name: "subscribe to one topic",
    bytes: [130, 9, 0, 6, 0, 4, ...s("test"), 0],
    encode: (o) => encodeSubscribe(o, 0, 6, ["test"], [0]),
    fields: { type: SUBSCRIBE, packetId: 6, filters: ["test"], filterQos: [0] },
  },
  {
    name: "subscribe to three topics",
    bytes: [130, 23, 0, 6, 0, 4, ...s("test"), 0, 0, 4, ...s("uest"), 1, 0, 4, ...s("tfst"), 2],
    encode: (o) => encodeSubscribe(o, 0, 6, ["test", "uest", "tfst"], [0, 1, 2]),
    fields: { type: SUBSCRIBE, packetId: 6, filters: ["test", "uest", "tfst"], filterQos: [0, 1, 2] },
  },
  {
    name: "suback",
    bytes: [144, 5, 0, 6, 0, 1, 2],
    encode: (o) => encodeSuback(o, 0, 6, [0, 1, 2], 3),
    fields: { type: SUBACK, packetId: 6, codes: [0, 1, 2] },
  },
  {
    name: "suback with a failure",
    bytes: [144, 6, 0, 6, 0, 1, 2, 128],
    encode: (o) => encodeSuback(o, 0, 6, [0, 1, 2, 128], 4),
    fields: { type: SUBACK, packetId: 6, codes: [0, 1, 2, 128] },
  },
  {
    name: "unsubscribe",
    bytes: [162, 14, 0, 7, 0, 4, ...s("tfst"), 0, 4, ...s("test")],
    encode: (o) => encodeUnsubscribe(o, 0, 7, ["tfst", "test"]),
    fields: { type: UNSUBSCRIBE, packetId: 7, filters: ["tfst", "test"], filterQos: [] },
  },
  {
    name: "unsuback",
    bytes: [176, 2, 0, 8],
    encode: (o) => encodeAck(o, 0, UNSUBACK, 0, 8),
    fields: { type: UNSUBACK, packetId: 8 },
  },
  { name: "pingreq", bytes: [192, 0], encode: (o) => encodePingreq(o, 0), fields: { type: PINGREQ } },
  { name: "pingresp", bytes: [208, 0], encode: (o) => encodeEmpty(o, 0, PINGRESP), fields: { type: PINGRESP } },
  { name: "disconnect", bytes: [224, 0], encode: (o) => encodeDisconnect(o, 0), fields: { type: DISCONNECT } },
];

test("the fixtures cover all fourteen packet types", () => {
  const types = new Set(FIXTURES.map((f) => f.fields.type ?? f.bytes[0] >> 4));
  assert.equal([...types].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
});

for (const f of FIXTURES) {
  test(`encode: ${f.name}`, () => {
    // encode at an offset into a dirty buffer: the encoder must write every byte it claims
    const out = new Uint8Array(f.bytes.length + 20).fill(0xee);
    const n = f.encode(out.subarray(7));
    assert.is(n, f.bytes.length);
    assert.equal(Array.from(out.subarray(7, 7 + n)), f.bytes);
    assert.is(out[7 + n], 0xee, "wrote past the packet");
  });

  test(`decode: ${f.name}`, () => {
    const packets = decodeAll(Uint8Array.from(f.bytes));
    assert.is(packets.length, 1);
    const p = packets[0];
    assert.is(p.type, f.bytes[0] >> 4);
    for (const key of Object.keys(f.fields) as (keyof Packet)[]) {
      assert.equal(p[key], f.fields[key], key);
    }
    // decodeFrame on the whole packet gives the same
    const d = new Decoded();
    const buf = Uint8Array.from([9, 9, ...f.bytes, 9]);
    assert.is(decodeFrame(buf, 2, f.bytes.length + 1, d), f.bytes.length);
    assert.equal(snapshot(d, buf), p);
  });
}

test("decodePacket resets every field of a reused Decoded", () => {
  const d = new Decoded();
  const fresh = new Decoded();
  const big = FIXTURES[2].bytes;
  assert.ok(decodeFrame(Uint8Array.from(big), 0, big.length, d) > 0);
  assert.is(decodeFrame(Uint8Array.from([0xc0, 0]), 0, 2, d), 2);
  fresh.type = PINGREQ;
  assert.equal({ ...d }, { ...fresh });
});

// ---- malformed packets: each must be refused by the decoder ----

const MALFORMED: [string, number[]][] = [
  ["reserved type 0", [0x00, 0]],
  ["reserved type 15", [0xf0, 0]],
  ["connack flags 1 in header", [33, 2, 0, 5]],
  ["connack reserved ack flag bits", [32, 2, 2, 5]],
  ["connack too long", [32, 3, 0, 0, 0]],
  ["connack return code 6", [32, 2, 0, 6]],
  ["publish QoS 3", [0x36, 6, 0, 4, ...s("test")]],
  ["publish DUP with QoS 0", [0x38, 6, 0, 4, ...s("test")]],
  ["publish topic longer than the packet", [0x30, 4, 0, 4, ...s("te")]],
  ["publish QoS 1 without packet id", [0x32, 6, 0, 4, ...s("test")]],
  ["publish QoS 1 packet id 0", [0x32, 8, 0, 4, ...s("test"), 0, 0]],
  ["publish with no topic length", [0x30, 1, 0]],
  ["puback flags", [65, 2, 0, 2]],
  ["puback too short", [64, 1, 0]],
  ["puback too long", [64, 3, 0, 2, 0]],
  ["puback packet id 0", [64, 2, 0, 0]],
  ["pubrec flags", [81, 2, 0, 2]],
  ["pubrel flags 0", [96, 2, 0, 2]],
  ["pubcomp flags", [113, 2, 0, 2]],
  ["subscribe flags 0", [128, 9, 0, 6, 0, 4, ...s("test"), 0]],
  ["subscribe requested QoS 3", [130, 9, 0, 6, 0, 4, ...s("test"), 3]],
  ["subscribe reserved QoS bits", [130, 9, 0, 6, 0, 4, ...s("test"), 0x40]],
  ["subscribe zero-length filter", [130, 5, 0, 6, 0, 0, 0]],
  ["subscribe filter with # inside a level", [130, 7, 0, 6, 0, 2, ...s("a#"), 0]],
  ["subscribe filter not UTF-8", [130, 7, 0, 6, 0, 2, 0xc3, 0x28, 0]],
  ["subscribe filter without QoS byte", [130, 8, 0, 6, 0, 4, ...s("test")]],
  ["subscribe packet id 0", [130, 9, 0, 0, 0, 4, ...s("test"), 0]],
  ["suback code 3", [144, 6, 0, 6, 0, 1, 2, 3]],
  ["suback without codes", [144, 2, 0, 6]],
  ["unsubscribe flags 0", [160, 8, 0, 7, 0, 4, ...s("tfst")]],
  ["unsubscribe zero-length filter", [162, 4, 0, 7, 0, 0]],
  ["unsubscribe truncated filter", [162, 7, 0, 7, 0, 4, ...s("tfs")]],
  ["unsuback flags", [177, 2, 0, 8]],
  ["pingreq flags", [193, 0]],
  ["pingreq with a body", [192, 1, 0]],
  ["pingresp flags", [209, 0]],
  ["disconnect flags", [225, 0]],
  ["disconnect with a body", [224, 1, 0]],
  ["connect flags in header", [17, 12, 0, 4, ...s("MQTT"), 4, 2, 0, 30, 0, 0]],
  ["connect reserved flag (3.1.1)", [16, 12, 0, 4, ...s("MQTT"), 4, 3, 0, 30, 0, 0]],
  ["connect will QoS without will flag", [16, 12, 0, 4, ...s("MQTT"), 4, 2 + 8, 0, 30, 0, 0]],
  ["connect will retain without will flag", [16, 12, 0, 4, ...s("MQTT"), 4, 2 + 32, 0, 30, 0, 0]],
  ["connect will QoS 3", [16, 18, 0, 4, ...s("MQTT"), 4, 2 + 4 + 24, 0, 30, 0, 0, 0, 1, 97, 0, 1, 98]],
  ["connect password without user name (3.1.1)", [16, 16, 0, 4, ...s("MQTT"), 4, 2 + 64, 0, 30, 0, 0, 0, 2, 112, 119]],
  ["connect user name flag without user name", [16, 12, 0, 4, ...s("MQTT"), 4, 2 + 128, 0, 30, 0, 0]],
  ["connect will flag without will topic", [16, 12, 0, 4, ...s("MQTT"), 4, 2 + 4, 0, 30, 0, 0]],
  ["connect trailing bytes", [16, 13, 0, 4, ...s("MQTT"), 4, 2, 0, 30, 0, 0, 0]],
  ["connect client id longer than the packet", [16, 12, 0, 4, ...s("MQTT"), 4, 2, 0, 30, 0, 5]],
  ["connect without keepalive", [16, 8, 0, 4, ...s("MQTT"), 4, 2]],
  ["connect protocol name longer than the packet", [16, 4, 0, 9, ...s("MQ")]],
  ["connect client id not UTF-8", [16, 14, 0, 4, ...s("MQTT"), 4, 2, 0, 30, 0, 2, 0xc3, 0x28]],
  ["connect will topic with a wildcard", [16, 18, 0, 4, ...s("MQTT"), 4, 2 + 4, 0, 30, 0, 0, 0, 1, 43, 0, 1, 98]],
  ["publish topic not UTF-8", [0x30, 4, 0, 2, 0xc3, 0x28]],
];

/** Refused as a protocol violation, as the broker's handlers call them (ERR_PROTOCOL). */
const PROTOCOL_ERRORS: [string, number[]][] = [
  ["subscribe without filters", [130, 2, 0, 6]],
  ["unsubscribe without filters", [162, 2, 0, 7]],
  ["connect protocol name not MQTT or MQIsdp", [16, 12, 0, 4, ...s("MQTX"), 4, 2, 0, 30, 0, 0]],
  ["publish empty topic", [0x30, 2, 0, 0]],
  ["publish topic with +", [0x30, 5, 0, 3, ...s("a/+")]],
  ["publish topic with #", [0x30, 3, 0, 1, ...s("#")]],
];

for (const [name, bytes] of PROTOCOL_ERRORS) {
  test(`protocol error: ${name}`, () => {
    const d = new Decoded();
    assert.is(decodePacket(bytes[0], Uint8Array.from(bytes), 2, bytes.length - 2, d), ERR_PROTOCOL);
    assert.is(decodeFrame(Uint8Array.from(bytes), 0, bytes.length, d), -1);
  });
}

for (const [name, bytes] of MALFORMED) {
  test(`malformed: ${name}`, () => {
    const total = frameLength(Uint8Array.from(bytes), 0, bytes.length);
    assert.is(total, bytes.length, "the fixture itself is framed right");
    const d = new Decoded();
    const header = 2;
    assert.is(decodePacket(bytes[0], Uint8Array.from(bytes), header, bytes.length - header, d), ERR_MALFORMED);
    assert.is(decodeFrame(Uint8Array.from(bytes), 0, bytes.length, d), -1);
  });
}

test("MQTT 3.1 CONNECT may set the reserved bit and send a password alone (as mosquitto allows)", () => {
  const d = new Decoded();
  const bytes = Uint8Array.from([16, 18, 0, 6, ...s("MQIsdp"), 3, 1 + 64, 0, 30, 0, 0, 0, 2, 112, 119]);
  assert.is(decodeFrame(bytes, 0, bytes.length, d), bytes.length);
  assert.is(d.passwordLen, 2);
  assert.is(d.usernameOff, -1);
});

// ---- remaining length ----

const LENGTHS: [number, number[]][] = [
  [0, [0x00]],
  [127, [0x7f]],
  [128, [0x80, 0x01]],
  [16383, [0xff, 0x7f]],
  [16384, [0x80, 0x80, 0x01]],
  [2097151, [0xff, 0xff, 0x7f]],
  [2097152, [0x80, 0x80, 0x80, 0x01]],
  [268435455, [0xff, 0xff, 0xff, 0x7f]],
];

/** Collects packets as (first, body copy). */
class Collect implements PacketSink {
  packets: { first: number; len: number; body: number[] | undefined }[] = [];
  keepBodies = true;
  onPacket(first: number, buf: Bytes, off: number, len: number): number {
    const body = this.keepBodies ? Array.from((buf as Uint8Array).subarray(off, off + len)) : undefined;
    this.packets.push({ first, len, body });
    return ERR_NONE;
  }
}

for (const [n, bytes] of LENGTHS) {
  test(`remaining length ${n}: ${bytes.length} bytes`, () => {
    const out = new Uint8Array(6);
    assert.is(writeRemainingLength(out, 1, n), bytes.length);
    assert.equal(Array.from(out.subarray(1, 1 + bytes.length)), bytes);
    assert.is(remainingLengthSize(n), bytes.length);
    // the decoder's framing reads it back
    const header = Uint8Array.from([0x30, ...bytes]);
    const r = new PacketReader(alloc, 268435455 + 5, 64, 64);
    const sink = new Collect();
    sink.keepBodies = false;
    if (n <= 2097152) {
      // a real PUBLISH with exactly this remaining length, split in two at the header
      const frame = new Uint8Array(1 + bytes.length + n);
      frame.set(header, 0);
      if (n >= 2) {
        frame[1 + bytes.length] = 0;
        frame[2 + bytes.length] = 1;
        frame[3 + bytes.length] = 97; // topic "a"
      }
      assert.is(frameLength(frame, 0, frame.length), frame.length);
      assert.is(r.feed(frame, 0, header.length, sink), ERR_NONE);
      assert.is(r.feed(frame, header.length, frame.length - header.length, sink), ERR_NONE);
      assert.is(sink.packets.length, 1);
      assert.is(sink.packets[0].len, n);
      assert.is((r.awaiting() !== 0), false);
    } else {
      // 256 MB is not worth building: the header alone is accepted and the reader waits for the body
      assert.is(r.feed(header, 0, header.length, sink), ERR_NONE);
      assert.is(r.remaining, n);
      assert.is((r.awaiting() !== 0), true);
      assert.is(sink.packets.length, 0);
      assert.is(r.buf, undefined, "nothing allocated from the header alone");
      assert.is(frameLength(header, 0, header.length), 0, "incomplete");
    }
  });
}

test("a fifth remaining-length byte is malformed", () => {
  const fiveByteLengths = [
    [0x30, 0x80, 0x80, 0x80, 0x80, 0x01],
    [0x30, 0xff, 0xff, 0xff, 0xff, 0x7f],
    [0x30, 0x80, 0x80, 0x80, 0x80, 0x00], // a zero length spelled in five bytes
    [0xc0, 0x80, 0x80, 0x80, 0x80, 0x00],
    [16, 255, 255, 255, 255, 128], // mqtt-packet's "Invalid variable byte integer"
  ];
  for (const bytes of fiveByteLengths) {
    const r = new PacketReader(alloc, 268435460, 64, 64);
    const sink = new Collect();
    assert.is(r.feed(Uint8Array.from(bytes), 0, bytes.length, sink), ERR_MALFORMED, JSON.stringify(bytes));
    assert.is(sink.packets.length, 0);
    // also when it arrives one byte at a time
    const r2 = new PacketReader(alloc, 268435460, 64, 64);
    let err = ERR_NONE;
    for (let i = 0; i < bytes.length && err === ERR_NONE; i++) err = r2.feed(Uint8Array.from(bytes), i, 1, sink);
    assert.is(err, ERR_MALFORMED);
    assert.is(frameLength(Uint8Array.from(bytes), 0, bytes.length), -1);
  }
});

// ---- framing a stream split anywhere ----

function streamOfAllTypes(): Uint8Array {
  const parts = FIXTURES.map((f) => f.bytes);
  // a packet with a two-byte remaining length
  const long = new Uint8Array(300);
  const n = encodePublishString(long, 0, "long/topic", "x".repeat(200), 1, false, false, 77);
  parts.push(Array.from(long.subarray(0, n)));
  const out: number[] = [];
  for (const p of parts) out.push(...p);
  return Uint8Array.from(out);
}

function frame(stream: Uint8Array, cuts: number[]): Collect {
  const r = new PacketReader(alloc, 1024, 16, 16);
  const sink = new Collect();
  let prev = 0;
  for (const c of [...cuts, stream.length]) {
    // every chunk in a fresh buffer: bodies must not point into a chunk that is gone
    const chunk = stream.slice(prev, c);
    assert.is(r.feed(chunk, 0, chunk.length, sink), ERR_NONE);
    chunk.fill(0);
    prev = c;
  }
  assert.is((r.awaiting() !== 0), false);
  return sink;
}

test("the reader frames the same packets whatever the split (every single cut)", () => {
  const stream = streamOfAllTypes();
  const whole = frame(stream, []).packets;
  assert.is(whole.length, FIXTURES.length + 1);
  assert.equal(whole.map((p) => p.first), [...FIXTURES.map((f) => f.bytes[0]), 0x32]);
  for (let i = 1; i < stream.length; i++) assert.equal(frame(stream, [i]).packets, whole, "cut at " + i);
});

test("the reader frames the same packets whatever the split (every pair of cuts, and byte by byte)", () => {
  // one small packet of every type (one of each: 14 packets, under 150 bytes)
  const seen = new Set<number>();
  const parts: number[] = [];
  for (const f of [...FIXTURES].sort((a, b) => a.bytes.length - b.bytes.length)) {
    if (seen.has(f.bytes[0] >> 4)) continue;
    seen.add(f.bytes[0] >> 4);
    parts.push(...f.bytes);
  }
  const s2 = Uint8Array.from(parts);
  assert.ok(s2.length < 150, "stream of " + s2.length);
  const whole = frame(s2, []).packets;
  assert.is(whole.length, 14);
  for (let i = 1; i < s2.length; i++) {
    for (let j = i + 1; j < s2.length; j++) assert.equal(frame(s2, [i, j]).packets, whole, `cuts ${i},${j}`);
  }
  const bytewise: number[] = [];
  for (let i = 1; i < s2.length; i++) bytewise.push(i);
  assert.equal(frame(s2, bytewise).packets, whole);
});

test("a packet wholly inside one chunk is handed over in place, not copied", () => {
  const buf = Uint8Array.from([0xc0, 0, 0x30, 5, 0, 1, 97, 98, 99]);
  const r = new PacketReader(alloc, 1024, 16, 16);
  const seen: { buf: Bytes; off: number }[] = [];
  r.feed(buf, 0, buf.length, { onPacket: (_f, b, off) => { seen.push({ buf: b, off }); return ERR_NONE; } });
  assert.is(seen.length, 2);
  assert.ok(seen[1].buf === buf);
  assert.is(seen[1].off, 4);
  assert.is(r.buf, undefined, "no gathering buffer needed");
});

test("a sink error stops the reader and is returned", () => {
  const buf = Uint8Array.from([0xc0, 0, 0xc0, 0, 0xc0, 0]);
  const r = new PacketReader(alloc, 1024, 16, 16);
  let calls = 0;
  const e = r.feed(buf, 0, buf.length, { onPacket: () => (++calls === 2 ? ERR_MALFORMED : ERR_NONE) });
  assert.is(e, ERR_MALFORMED);
  assert.is(calls, 2);
});

// ---- the packet limit ----

test("a packet over maxPacket is ERR_TOO_LARGE from its header, at exactly the limit it passes", () => {
  const max = 100;
  for (const split of [false, true]) {
    const ok = new Uint8Array(max);
    const okLen = encodePublishString(ok, 0, "t", "p".repeat(max - 5), 0, false, false, 0);
    assert.is(okLen, max);
    const big = new Uint8Array(max + 1);
    const bigLen = encodePublishString(big, 0, "t", "p".repeat(max - 4), 0, false, false, 0);
    assert.is(bigLen, max + 1);
    const r = new PacketReader(alloc, max, 16, 16);
    const sink = new Collect();
    const feed = (b: Uint8Array): number => {
      if (!split) return r.feed(b, 0, b.length, sink);
      let e = ERR_NONE;
      for (let i = 0; i < b.length && e === ERR_NONE; i++) e = r.feed(b, i, 1, sink);
      return e;
    };
    assert.is(feed(ok), ERR_NONE);
    assert.is(sink.packets.length, 1);
    assert.ok(r.buf === undefined || r.buf.length <= max);
    assert.is(r.feed(big, 0, 2, sink), ERR_TOO_LARGE, "refused at the length byte");
    assert.is(sink.packets.length, 1);
  }
  // with a multi-byte length: 16384 bytes announced against a 1000-byte limit
  const r = new PacketReader(alloc, 1000, 16, 16);
  assert.is(r.feed(Uint8Array.from([0x30, 0x80, 0x80, 0x01]), 0, 4, new Collect()), ERR_TOO_LARGE);
});

test("the gathering buffer grows with what arrives and never past maxPacket", () => {
  const max = 3000;
  const r = new PacketReader(alloc, max, 16, 16);
  const p = new Uint8Array(max);
  const n = encodePublishString(p, 0, "t", "z".repeat(max - 6), 0, false, false, 0);
  assert.is(n, max);
  const sink = new Collect();
  const sizes: number[] = [];
  for (let i = 0; i < n; i += 100) {
    assert.is(r.feed(p, i, Math.min(100, n - i), sink), ERR_NONE);
    sizes.push(r.buf === undefined ? 0 : r.buf.length);
  }
  assert.is(sink.packets.length, 1);
  assert.is(sink.packets[0].len, max - 3);
  assert.ok(Math.max(...sizes) <= max, "buffer " + Math.max(...sizes));
  assert.ok(sizes[1] <= 256, "grew by what arrived, not by the header's claim: " + sizes[1]);
  // the grown buffer is let go once the large packet is handled
  assert.is(r.buf, undefined);
});

// ---- encoder helpers ----

test("encodePublish from bytes matches encodePublishString, and its size; DUP as asked", () => {
  const topic = Uint8Array.from(s("xxa/bxx"));
  const payload = Uint8Array.from(s("..hello.."));
  for (const qos of [0, 1, 2]) {
    const a = new Uint8Array(64);
    const b = new Uint8Array(64);
    const na = encodePublish(a, 3, qos, true, false, 513, topic, 2, 3, payload, 2, 5);
    const nb = encodePublishString(b, 3, "a/b", "hello", qos, true, false, 513);
    assert.is(na, nb);
    assert.equal(a, b);
    assert.is(na, publishSize(3, 5, qos));
    if (qos > 0) {
      encodePublish(a, 3, qos, true, true, 513, topic, 2, 3, payload, 2, 5);
      const d = new Decoded();
      assert.is(decodeFrame(a, 3, na, d), na);
      assert.equal([d.dup, d.retain, d.qos, d.packetId], [true, true, qos, 513]);
      assert.is(a[3], 0x38 + qos * 2 + 1);
    }
  }
});

// ---- UTF-8 ----

const UTF8: [string, number[], boolean][] = [
  ["empty", [], true],
  ["ASCII", s("hello/world 123"), true],
  ["two bytes (é)", [0xc3, 0xa9], true],
  ["three bytes (€)", [0xe2, 0x82, 0xac], true],
  ["four bytes (U+1D11E)", [0xf0, 0x9d, 0x84, 0x9e], true],
  ["U+00A0, first after the C1 controls", [0xc2, 0xa0], true],
  ["U+D7FF, last before the surrogates", [0xed, 0x9f, 0xbf], true],
  ["U+E000, first after the surrogates", [0xee, 0x80, 0x80], true],
  ["U+FFFD", [0xef, 0xbf, 0xbd], true],
  ["U+10FFFD, the last character", [0xf4, 0x8f, 0xbf, 0xbd], true],
  ["mixed", [0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9d, 0x84, 0x9e, 0x7a], true],
  ["U+0000", [0x61, 0x00, 0x62], false],
  ["control U+0001", [0x01], false],
  ["control U+001F", [0x1f], false],
  ["tab", [0x09], false],
  ["DEL U+007F", [0x7f], false],
  ["C1 control U+0080", [0xc2, 0x80], false],
  ["C1 control U+009F", [0xc2, 0x9f], false],
  ["overlong '/' (2 bytes)", [0xc0, 0xaf], false],
  ["overlong NUL (2 bytes)", [0xc0, 0x80], false],
  ["overlong U+007F (C1 lead)", [0xc1, 0xbf], false],
  ["overlong '/' (3 bytes)", [0xe0, 0x80, 0xaf], false],
  ["overlong U+07FF (3 bytes)", [0xe0, 0x9f, 0xbf], false],
  ["overlong '/' (4 bytes)", [0xf0, 0x80, 0x80, 0xaf], false],
  ["overlong U+FFFF (4 bytes)", [0xf0, 0x8f, 0xbf, 0xbf], false],
  ["surrogate U+D800", [0xed, 0xa0, 0x80], false],
  ["surrogate U+DBFF", [0xed, 0xaf, 0xbf], false],
  ["surrogate U+DC00", [0xed, 0xb0, 0x80], false],
  ["surrogate U+DFFF", [0xed, 0xbf, 0xbf], false],
  ["surrogate pair encoded (CESU-8)", [0xed, 0xa0, 0xbd, 0xed, 0xb2, 0xa9], false],
  ["noncharacter U+FDD0", [0xef, 0xb7, 0x90], false],
  ["noncharacter U+FDEF", [0xef, 0xb7, 0xaf], false],
  ["noncharacter U+FFFE", [0xef, 0xbf, 0xbe], false],
  ["noncharacter U+FFFF", [0xef, 0xbf, 0xbf], false],
  ["noncharacter U+1FFFE", [0xf0, 0x9f, 0xbf, 0xbe], false],
  ["noncharacter U+10FFFF", [0xf4, 0x8f, 0xbf, 0xbf], false],
  ["past U+10FFFF (F4 90)", [0xf4, 0x90, 0x80, 0x80], false],
  ["lead F5", [0xf5, 0x80, 0x80, 0x80], false],
  ["byte FE", [0xfe], false],
  ["byte FF", [0xff], false],
  ["lone continuation 80", [0x80], false],
  ["lone continuation BF", [0x61, 0xbf], false],
  ["truncated 2-byte at the end", [0x61, 0xc3], false],
  ["truncated 3-byte at the end", [0xe2, 0x82], false],
  ["truncated 4-byte at the end", [0xf0, 0x9d, 0x84], false],
  ["truncated 3-byte before ASCII", [0xe2, 0x82, 0x61], false],
  ["bad second byte", [0xc3, 0x28], false],
  ["bad third byte", [0xe2, 0x28, 0xa1], false],
];

for (const [name, bytes, valid] of UTF8) {
  test(`utf8: ${name} is ${valid ? "valid" : "refused"}`, () => {
    // inside a larger buffer, so only [off, off+len) may be looked at
    const buf = Uint8Array.from([0xff, 0xff, ...bytes, 0xff]);
    assert.is(validUtf8(buf, 2, bytes.length), valid);
  });
}

test("utf8: a sequence cut by the field's end is truncated even if the buffer goes on", () => {
  const buf = Uint8Array.from([0xc3, 0xa9, 0xe2, 0x82, 0xac]);
  assert.is(validUtf8(buf, 0, 2), true);
  assert.is(validUtf8(buf, 0, 1), false);
  assert.is(validUtf8(buf, 2, 2), false);
  assert.is(validUtf8(buf, 0, 5), true);
  assert.is(validUtf8(buf, 1, 4), false, "starts on a continuation byte");
});

test("cursor: a two-byte integer or a string that runs past the packet's end reads -1, one that fits its value", () => {
  const buf = new Uint8Array([0x01, 0x02, 0x00, 0x03, 0x61, 0x62, 0x63, 0x00, 0x00, 0xff, 0xff]);
  assert.is(readU16(buf, 0, 2), 258);
  assert.is(readU16(buf, 0, 1), -1);
  assert.is(readU16(buf, 9, 11), 65535);
  assert.is(readU16(buf, 10, 11), -1);
  // "abc" at 2: its length, its bytes from 4, ending exactly at 7
  assert.is(readStringLength(buf, 2, 7), 3);
  assert.is(readStringLength(buf, 2, 6), -1);
  assert.is(readStringLength(buf, 2, 3), -1);
  // an empty string fits in its two length bytes alone
  assert.is(readStringLength(buf, 7, 9), 0);
  assert.is(readStringLength(buf, 9, 11), -1);
  // against the rule written out, at every place and end of a random buffer
  const rnd = new Uint8Array(64);
  for (let i = 0; i < rnd.length; i++) rnd[i] = (i * 37 + 11) % 7 === 0 ? 0 : (i * 53) % 5;
  for (let at = 0; at < rnd.length; at++) {
    for (let end = at; end <= rnd.length; end++) {
      const n = at + 2 <= end ? rnd[at] * 256 + rnd[at + 1] : -1;
      assert.is(readU16(rnd, at, end), n);
      assert.is(readStringLength(rnd, at, end), n >= 0 && at + 2 + n <= end ? n : -1);
    }
  }
});

test.run();
