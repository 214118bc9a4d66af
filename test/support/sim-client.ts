/**
 * A small MQTT client for the simulated network: it writes packets built with
 * firmware/core/codec/encode.ts and reads what the broker sent with the core's own
 * PacketReader and decodePacket, so every test reads the broker's bytes the
 * way a real client would (split anywhere, several packets per chunk).
 */
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import {
  CONNACK, CONNECT, DISCONNECT, ERR_NONE, PINGREQ, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK,
  SUBSCRIBE, UNSUBACK, UNSUBSCRIBE,
} from "../../firmware/core/codec/constants";
import { Decoded, decodePacket } from "../../firmware/core/codec/decode";
import {
  ConnectOptions, encodeAck, encodeConnect, encodeDisconnect, encodePingreq, encodePublishString, encodeSubscribe,
  encodeUnsubscribe,
} from "../../firmware/core/codec/encode";
import { PacketReader, PacketSink } from "../../firmware/core/codec/reader";
import { BrokerConfig } from "../../firmware/core/config";
import { Bytes } from "../../firmware/core/platform";
import { BoardProfile } from "../../firmware/core/profile";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { SimBroker, startSimBroker } from "../../host-sim/sim";
import { SimOptions, SimSocket } from "../../host-sim/sim";

export const TYPE_NAMES = [
  "reserved0", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK",
  "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved15",
];

/** Binary string (one char per byte) from a Uint8Array region. */
export function binOf(buf: Bytes, off: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += String.fromCharCode(buf[off + i]);
  return s;
}

/** UTF-8 bytes of a JS string as a binary string, the form the encoders take. */
export function utf8(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** A decoded packet copied out of the reader's buffer: plain values a test can compare. */
export interface Packet {
  type: number;
  name: string;
  flags: number;
  packetId: number;
  qos: number;
  dup: boolean;
  retain: boolean;
  topic: string | undefined;
  payload: string | undefined;
  sessionPresent: boolean;
  returnCode: number;
  codes: number[];
  filters: string[];
  filterQos: number[];
  protocolName: string | undefined;
  protocolLevel: number;
  cleanSession: boolean;
  keepalive: number;
  clientId: string | undefined;
  willTopic: string | undefined;
  willMessage: string | undefined;
  willQos: number;
  willRetain: boolean;
  username: string | undefined;
  password: string | undefined;
}

function opt(buf: Bytes, off: number, len: number): string | undefined {
  return off < 0 ? undefined : binOf(buf, off, len);
}

/** Copy a Decoded (offsets into buf) into a Packet. */
export function snapshot(d: Decoded, buf: Bytes): Packet {
  const filters: string[] = [];
  const filterQos: number[] = [];
  if (d.listOff >= 0) {
    let p = d.listOff;
    const end = d.listOff + d.listLen;
    while (p < end) {
      const n = buf[p] * 256 + buf[p + 1];
      filters.push(binOf(buf, p + 2, n));
      p += 2 + n;
      if (d.type === SUBSCRIBE) filterQos.push(buf[p++]);
    }
  }
  const codes: number[] = [];
  for (let i = 0; i < d.codesLen; i++) codes.push(buf[d.codesOff + i]);
  return {
    type: d.type,
    name: TYPE_NAMES[d.type],
    flags: d.flags,
    packetId: d.packetId,
    qos: d.qos,
    dup: d.dup,
    retain: d.retain,
    topic: opt(buf, d.topicOff, d.topicLen),
    payload: opt(buf, d.payloadOff, d.payloadLen),
    sessionPresent: d.sessionPresent,
    returnCode: d.returnCode,
    codes,
    filters,
    filterQos,
    protocolName: opt(buf, d.protocolNameOff, d.protocolNameLen),
    protocolLevel: d.protocolLevel,
    cleanSession: d.cleanSession,
    keepalive: d.keepalive,
    clientId: opt(buf, d.clientIdOff, d.clientIdLen),
    willTopic: opt(buf, d.willTopicOff, d.willTopicLen),
    willMessage: opt(buf, d.willMessageOff, d.willMessageLen),
    willQos: d.willQos,
    willRetain: d.willRetain,
    username: opt(buf, d.usernameOff, d.usernameLen),
    password: opt(buf, d.passwordOff, d.passwordLen),
  };
}

const alloc = { bytes: (n: number) => new Uint8Array(n) };

/** Frames and decodes a byte stream into Packets; throws on a malformed one. */
export class PacketDecoder implements PacketSink {
  reader: PacketReader;
  decoded = new Decoded();
  packets: Packet[] = [];

  constructor(maxPacket = 268435460) {
    this.reader = new PacketReader(alloc, maxPacket, 64, 64);
  }

  onPacket(first: number, buf: Bytes, off: number, len: number): number {
    const e = decodePacket(first, buf, off, len, this.decoded);
    if (e !== ERR_NONE) throw new Error("malformed " + TYPE_NAMES[Math.floor(first / 16)] + " from the broker");
    this.packets.push(snapshot(this.decoded, buf));
    return ERR_NONE;
  }

  feed(bytes: Uint8Array): Packet[] {
    const before = this.packets.length;
    const e = this.reader.feed(bytes, 0, bytes.length, this);
    if (e !== ERR_NONE) throw new Error("broker stream error " + e);
    return this.packets.slice(before);
  }
}

/** Decode every packet in a byte array (must end on a packet boundary). */
export function decodeAll(bytes: Uint8Array): Packet[] {
  const d = new PacketDecoder();
  const out = d.feed(bytes);
  assert.is(d.reader.awaiting() !== 0, false, "stream ends mid-packet");
  return out;
}

export interface ClientOptions {
  clean?: boolean;
  keepalive?: number;
  username?: string;
  password?: string;
  will?: { topic: string; message: string; qos?: number; retain?: boolean };
  protocolName?: string;
  protocolLevel?: number;
}

export function connectOptions(clientId: string, o: ClientOptions = {}): ConnectOptions {
  return {
    protocolName: o.protocolName ?? "MQTT",
    protocolLevel: o.protocolLevel ?? 4,
    clientId,
    cleanSession: o.clean ?? true,
    keepalive: o.keepalive ?? 0,
    username: o.username,
    password: o.password,
    willTopic: o.will?.topic,
    willMessage: o.will?.message,
    willQos: o.will?.qos ?? 0,
    willRetain: o.will?.retain ?? false,
  };
}

function sized(extra: number): Uint8Array {
  return new Uint8Array(extra + 64);
}

export function connectBytes(clientId: string, o: ClientOptions = {}): Uint8Array {
  const co = connectOptions(clientId, o);
  const out = sized(clientId.length + (o.username?.length ?? 0) + (o.password?.length ?? 0) +
    (o.will ? o.will.topic.length + o.will.message.length : 0) + (co.protocolName.length));
  return out.slice(0, encodeConnect(out, 0, co));
}

export function publishBytes(topic: string, payload: string, qos = 0, retain = false, packetId = 0, dup = false): Uint8Array {
  const out = sized(topic.length + payload.length);
  return out.slice(0, encodePublishString(out, 0, topic, payload, qos, retain, dup, packetId));
}

export function subscribeBytes(packetId: number, filters: string[], qos: number[]): Uint8Array {
  let n = 0;
  for (const f of filters) n += f.length + 3;
  const out = sized(n);
  return out.slice(0, encodeSubscribe(out, 0, packetId, filters, qos));
}

export function unsubscribeBytes(packetId: number, filters: string[]): Uint8Array {
  let n = 0;
  for (const f of filters) n += f.length + 2;
  const out = sized(n);
  return out.slice(0, encodeUnsubscribe(out, 0, packetId, filters));
}

export function ackBytes(type: number, packetId: number): Uint8Array {
  const out = new Uint8Array(4);
  encodeAck(out, 0, type, type === PUBREL ? 2 : 0, packetId);
  return out;
}

/** One simulated client connection. */
export class SimClient {
  sim: SimBroker;
  sock: SimSocket;
  decoder = new PacketDecoder();
  /** Decoded and not yet consumed by next()/expect(). */
  queue: Packet[] = [];

  constructor(sim: SimBroker, remote = "127.0.0.1") {
    this.sim = sim;
    this.sock = sim.net.connect(remote);
  }

  /** Run the simulated network for due events (latency 0: everything now). */
  settle(): void {
    this.sim.clock.settle();
  }

  send(bytes: Uint8Array | string): this {
    this.sock.write(bytes);
    return this;
  }

  /** Decode whatever the broker sent so far; returns the packets now waiting. */
  poll(): Packet[] {
    const bytes = this.sock.take();
    if (bytes.length > 0) for (const p of this.decoder.feed(bytes)) this.queue.push(p);
    return this.queue;
  }

  /** Every waiting packet, consumed. */
  drain(): Packet[] {
    this.poll();
    const out = this.queue;
    this.queue = [];
    return out;
  }

  next(): Packet | undefined {
    this.poll();
    return this.queue.shift();
  }

  /** The next packet must be of this type. */
  expect(type: number, what = ""): Packet {
    const p = this.next();
    if (p === undefined) assert.unreachable(`expected ${TYPE_NAMES[type]} ${what}, got nothing`);
    assert.is(p!.name, TYPE_NAMES[type], what);
    return p!;
  }

  /** Nothing more arrived. */
  expectNothing(what = ""): void {
    const rest = this.drain();
    assert.equal(rest.map((p) => p.name + (p.topic !== undefined ? " " + p.topic : "")), [], what);
  }

  /** Send CONNECT (no wait). */
  connectRaw(clientId: string, o: ClientOptions = {}): this {
    return this.send(connectBytes(clientId, o));
  }

  /** CONNECT and require CONNACK with this code (0 by default); returns the CONNACK. */
  connect(clientId: string, o: ClientOptions = {}, code = 0): Packet {
    this.connectRaw(clientId, o);
    const ack = this.expect(CONNACK, "for " + clientId);
    assert.is(ack.returnCode, code, "CONNACK code for " + clientId);
    return ack;
  }

  subscribe(filters: string | string[], qos: number | number[] = 0, packetId = 1): Packet {
    const fs = typeof filters === "string" ? [filters] : filters;
    const qs = typeof qos === "number" ? fs.map(() => qos) : qos;
    this.send(subscribeBytes(packetId, fs, qs));
    const ack = this.expect(SUBACK, "for " + fs.join(","));
    assert.is(ack.packetId, packetId);
    return ack;
  }

  unsubscribe(filters: string | string[], packetId = 1): Packet {
    const fs = typeof filters === "string" ? [filters] : filters;
    this.send(unsubscribeBytes(packetId, fs));
    const ack = this.expect(UNSUBACK);
    assert.is(ack.packetId, packetId);
    return ack;
  }

  publish(topic: string, payload: string, qos = 0, retain = false, packetId = 0, dup = false): this {
    return this.send(publishBytes(topic, payload, qos, retain, packetId === 0 && qos > 0 ? 1 : packetId, dup));
  }

  /** QoS 1 publish and its PUBACK. */
  publish1(topic: string, payload: string, packetId = 1, retain = false): void {
    this.publish(topic, payload, 1, retain, packetId);
    const ack = this.expect(PUBACK);
    assert.is(ack.packetId, packetId);
  }

  /** The whole QoS 2 exchange from the publisher's side. */
  publish2(topic: string, payload: string, packetId = 1, retain = false): void {
    this.publish(topic, payload, 2, retain, packetId);
    assert.is(this.expect(PUBREC).packetId, packetId);
    this.send(ackBytes(PUBREL, packetId));
    assert.is(this.expect(PUBCOMP).packetId, packetId);
  }

  ack(type: number, packetId: number): this {
    return this.send(ackBytes(type, packetId));
  }

  ping(): Packet {
    const out = new Uint8Array(2);
    encodePingreq(out, 0);
    this.send(out);
    return this.expect(PINGRESP);
  }

  disconnect(): void {
    const out = new Uint8Array(2);
    encodeDisconnect(out, 0);
    this.send(out);
    this.settle();
  }

  /** Only the PUBLISH packets waiting, consumed (other packets are kept). */
  publishes(): Packet[] {
    this.poll();
    const pubs = this.queue.filter((p) => p.type === PUBLISH);
    this.queue = this.queue.filter((p) => p.type !== PUBLISH);
    return pubs;
  }

  get closed(): boolean {
    return this.sock.closedByBroker;
  }

  end(): void {
    this.sock.end();
    this.settle();
  }
}

/** A copy of the host profile with some limits changed. */
export function profileWith(over: Partial<BoardProfile> = {}): BoardProfile {
  return { ...loadProfile("host"), ...over };
}

export function configWith(over: Partial<BoardProfile> = {}): BrokerConfig {
  return defaultConfig(profileWith(over));
}

/** The network conditions every broker scenario runs under. */
export const SPLIT_MODES: { label: string; opts: SimOptions }[] = [
  { label: "byte by byte", opts: { splitBytes: true } },
  { label: "random split, seed 20240601", opts: { randomSplitSeed: 20240601 } },
];

/** Register one scenario under every split mode: `name [mode]`. */
export function inModes(t: Test, name: string, fn: (opts: SimOptions) => void): void {
  for (const mode of SPLIT_MODES) t(`${name} [${mode.label}]`, () => fn(mode.opts));
}

export function startSim(config: BrokerConfig = configWith(), opts: SimOptions = {}): SimBroker {
  return startSimBroker(config, opts);
}

/** Connected sockets and clients after everything settles: both must come back to 0. */
export function assertNoConnections(sim: SimBroker, what = ""): void {
  sim.clock.settle();
  assert.is(sim.broker.conns.length, 0, "connections left " + what);
  assert.is(sim.broker.clientCount, 0, "clients left " + what);
}

export { CONNACK, CONNECT, DISCONNECT, PINGREQ, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE };
