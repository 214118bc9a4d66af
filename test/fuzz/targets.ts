/**
 * Fuzz targets, in Jazzer.js's shape (`(data: Uint8Array) => void`, throwing
 * on a finding): test/cli/fuzz.ts drives them with coverage feedback, and
 * test/unit/fuzz-corpus.test.ts replays test/fuzz/corpus through them.
 *
 * - parser: the framing reader and the decoder of every packet type, fed the
 *   input whole and split at a point the input chooses; both ways must give
 *   the same packets, never throw, never hold more than the packet limit.
 * - connection: the whole broker state machine. A well-behaved subscriber
 *   and publisher are connected; the input then drives one or two hostile
 *   connections (bytes, splits, clock jumps, closes); afterwards the
 *   broker's structures must be consistent and bounded, and well-behaved
 *   clients must still get their messages (no input may break another client).
 */
import { CONNACK, ERR_NONE, PUBACK, PUBLISH } from "../../firmware/core/codec/constants";
import { Decoded, decodePacket } from "../../firmware/core/codec/decode";
import { PacketReader, PacketSink } from "../../firmware/core/codec/reader";
import { CONNECTED } from "../../firmware/core/broker/connection";
import { Bytes } from "../../firmware/core/platform";
import { BoardProfile } from "../../firmware/core/profile";
import { defaultConfig } from "../../host-sim/config";
import { startSimBroker } from "../../host-sim/sim";
import { Broker } from "../../firmware/core/broker/broker";
import { BrokerConfig } from "../../firmware/core/config";
import { SimClock, SimNetwork } from "../../host-sim/sim";
import { nodePlatform } from "../../host-sim/platform";
import { receivePath } from "../support/espruino-receive-net";
import { compileAcl } from "../../firmware/core/auth/acl";
import { allSessions, findSession } from "../../firmware/core/session/registry";

/** A small board's limits, so limits are reached with small inputs. */
export const FUZZ_PROFILE: BoardProfile = {
  name: "fuzz", maxClients: 6, maxPacketSize: 512, maxPayloadSize: 0, maxTopicLength: 64, maxTopicLevels: 6,
  maxClientIdLength: 32, maxSubscriptionsPerClient: 4, maxSubscriptions: 12, maxInflight: 2, maxQueued: 4,
  maxSessions: 4, maxRetained: 4, maxRetainedBytes: 256, maxIncomingQos2: 2, readerKeepBytes: 64, maxSendQueueBytes: 512,
  maxConnectingBytes: 1024, maxRoutes: 3,
  connectTimeoutMs: 3000, tickMs: 100, persistIntervalMs: 1000, sysIntervalMs: 0, memoryBudget: 0,
  stallTimeoutMs: 2000, maxTakeovers: 3, takeoverWindowMs: 5000, maxAuthFailures: 3, authFailureWindowMs: 5000,
  authBackoffMs: 5000,
};

class Finding extends Error {
  constructor(what: string) {
    super(what);
    this.name = "Finding";
  }
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Finding(what);
}

const alloc = { bytes: (n: number) => new Uint8Array(n) };

/** What the parser target frames with: PacketReader's surface (tests hand it broken ones). */
export interface Framer {
  readonly buf: Bytes | undefined;
  feed(src: Bytes, off: number, len: number, sink: PacketSink): number;
  awaiting(): number;
}

export type FramerFactory = (maxPacket: number) => Framer;

/** The core's reader, as the broker makes it for a connection (small initial and kept buffers). */
export const coreReader: FramerFactory = (maxPacket) => new PacketReader(alloc, maxPacket, 16, 16);

/** Frame and decode; returns "type:len:err" per packet and the stream's end state. */
function frame(data: Uint8Array, cuts: number[], maxPacket: number, makeReader: FramerFactory): string[] {
  const out: string[] = [];
  const d = new Decoded();
  const reader = makeReader(maxPacket);
  const sink = {
    onPacket(first: number, buf: Bytes, off: number, len: number): number {
      check(off >= 0 && off + len <= buf.length, "packet outside its buffer");
      check(len <= maxPacket, "packet over the limit handed over");
      const e = decodePacket(first, buf, off, len, d);
      out.push(first + ":" + len + ":" + e + ":" + d.packetId + ":" + d.topicLen + ":" + d.payloadLen + ":" + d.count);
      return ERR_NONE;
    },
  };
  let at = 0;
  let err = ERR_NONE;
  for (const cut of [...cuts, data.length]) {
    if (cut < at) continue;
    err = reader.feed(data, at, cut - at, sink);
    check(reader.buf === undefined || reader.buf.length <= maxPacket, "reader buffer past the packet limit");
    at = cut;
    if (err !== ERR_NONE) break;
  }
  out.push("end:" + err + ":" + (err === ERR_NONE ? (reader.awaiting() !== 0) : "-"));
  return out;
}

/** Where the parser target splits `data` (the input chooses: its last byte). */
export function parserCut(data: Uint8Array): number {
  return data.length > 1 ? (data[data.length - 1] * 7) % data.length : 0;
}

export function fuzzParser(data: Uint8Array, makeReader: FramerFactory = coreReader): void {
  const maxPacket = data.length > 0 && data[0] % 2 === 1 ? 64 : 4096;
  const whole = frame(data, [], maxPacket, makeReader);
  const cut = parserCut(data);
  const split = frame(data, [cut], maxPacket, makeReader);
  const bytes: number[] = [];
  for (let i = 1; i < data.length; i++) bytes.push(i);
  const single = data.length < 600 ? frame(data, bytes, maxPacket, makeReader) : whole;
  check(whole.join() === split.join(), "split at " + cut + " frames differently: " + whole.join() + " / " + split.join());
  check(whole.join() === single.join(), "byte by byte frames differently");
}

// ---- the connection state machine ----

function connectPacket(id: string, clean: boolean, user?: string, pass?: string): Uint8Array {
  const idB = Buffer.from(id, "latin1");
  const parts: number[] = [0, 4, 77, 81, 84, 84, 4, (clean ? 2 : 0) + (user !== undefined ? 128 : 0) + (pass !== undefined ? 64 : 0), 0, 0];
  const str = (s: string) => {
    const b = Buffer.from(s, "latin1");
    parts.push(b.length >> 8, b.length & 255, ...b);
  };
  parts.push(idB.length >> 8, idB.length & 255, ...idB);
  if (user !== undefined) str(user);
  if (pass !== undefined) str(pass);
  return Uint8Array.from([0x10, parts.length, ...parts]);
}

function publishPacket(topic: string, payload: string, qos: number, pid: number): Uint8Array {
  const t = Buffer.from(topic, "latin1");
  const body = [t.length >> 8, t.length & 255, ...t, ...(qos > 0 ? [pid >> 8, pid & 255] : []), ...Buffer.from(payload, "latin1")];
  return Uint8Array.from([0x30 + qos * 2, body.length, ...body]);
}

function subscribePacket(pid: number, filter: string, qos: number): Uint8Array {
  const f = Buffer.from(filter, "latin1");
  const body = [pid >> 8, pid & 255, f.length >> 8, f.length & 255, ...f, qos];
  return Uint8Array.from([0x82, body.length, ...body]);
}

/** Packets a well-behaved client received (just enough framing for small packets). */
function packetsOf(sock: FuzzSocket): { type: number; qos: number; body: Uint8Array }[] {
  const bytes = sock.take();
  const out: { type: number; qos: number; body: Uint8Array }[] = [];
  const reader = new PacketReader(alloc, 1 << 20, 64, 64);
  reader.feed(bytes, 0, bytes.length, {
    onPacket(first: number, buf: Bytes, off: number, len: number): number {
      out.push({ type: first >> 4, qos: (first >> 1) & 3, body: (buf as Uint8Array).slice(off, off + len) });
      return ERR_NONE;
    },
  });
  return out;
}

/** A well-behaved client reads what arrived and acknowledges it (PUBACK, PUBREC, PUBCOMP); returns the packets. */
function* serviceGood(sock: FuzzSocket): Generator<number, { type: number; body: Uint8Array }[], void> {
  const all: { type: number; body: Uint8Array }[] = [];
  for (let round = 0; round < 20; round++) {
    const ps = packetsOf(sock);
    if (ps.length === 0) break;
    for (const p of ps) {
      all.push(p);
      if (p.type === PUBLISH && p.qos > 0) {
        const tl = p.body[0] * 256 + p.body[1];
        const pid = [p.body[2 + tl], p.body[3 + tl]];
        sock.write(Uint8Array.from([p.qos === 1 ? 0x40 : 0x50, 2, ...pid]));
      } else if (p.type === 6) {
        sock.write(Uint8Array.from([0x70, 2, p.body[0], p.body[1]]));
      }
    }
    yield 0;
  }
  return all;
}

let execs = 0;

/** A client socket as the connection program uses it (SimSocket's shape; real sockets in tcp-target.ts). */
export interface FuzzSocket {
  readonly id: number;
  readonly closed: boolean;
  write(data: Uint8Array): void;
  take(): Uint8Array;
  cut(): void;
  stall(): void;
  resume(): void;
  end(): void;
}

/** A broker on some network, as the connection program needs it. */
export interface FuzzNet {
  broker: Broker;
  connect(remote?: string): FuzzSocket;
  /** What the broker's transport has queued for this client. */
  queued(s: FuzzSocket): number;
  /** Sockets the network holds open. */
  openSockets(): number;
}

/** The simulated network (host-sim/sim.ts) for the connection program. */
function simNet(broker: Broker, net: SimNetwork): FuzzNet {
  return {
    broker,
    connect: (remote) => net.connect(remote),
    queued: (s) => net.queued(s.id),
    openSockets: () => net.sockets.size,
  };
}

/**
 * Run the connection program on a simulated network whose broker `start`
 * makes: each yielded step advances its clock (-1, an I/O barrier, is
 * nothing here: simulated bytes arrive as they are written).
 */
function runSim(data: Uint8Array, start: (config: BrokerConfig) => { net: FuzzNet; clock: SimClock }): void {
  let clock: SimClock | undefined;
  const program = connectionProgram(data, (config) => {
    const s = start(config);
    clock = s.clock;
    return s.net;
  });
  for (;;) {
    const r = program.next();
    if (r.done === true) return;
    if (r.value >= 0) clock!.advance(r.value);
  }
}

export function fuzzConnection(data: Uint8Array): void {
  runSim(data, (config) => {
    const sim = startSimBroker(config);
    return { net: simNet(sim.broker, sim.net), clock: sim.clock };
  });
}

/**
 * The connection target with every chunk going through the Espruino
 * adapter's receive path (firmware/espruino/receive.ts, as main.ts calls
 * it: test/support/espruino-receive-net.ts), on the simulated network.
 */
export function fuzzConnectionReceive(data: Uint8Array): void {
  runSim(data, (config) => {
    const clock = new SimClock();
    const net = new SimNetwork(clock);
    const path = receivePath(net, data.length * 31 + 7, 0.2);
    const broker = new Broker(config, nodePlatform(() => {}, () => clock.now), path.transport);
    path.attach(broker);
    const tick = () => {
      broker.tick();
      clock.schedule(config.profile.tickMs, tick);
    };
    clock.schedule(config.profile.tickMs, tick);
    return { net: simNet(broker, net), clock };
  });
}

/**
 * The connection target as a program over any network: it yields the time
 * to let pass between its steps (ms to advance the broker's clock, 0 to
 * settle, -1 for an I/O barrier: real sockets let the bytes arrive) and
 * throws a Finding when an invariant breaks.
 */
export function* connectionProgram(data: Uint8Array, start: (config: BrokerConfig) => FuzzNet): Generator<number, void, void> {
  execs++;
  const config = defaultConfig({ ...FUZZ_PROFILE });
  // the first byte picks the security setup: open, passwords, an ACL
  const mode = data.length > 0 ? data[0] % 4 : 0;
  if (mode >= 2) {
    config.auth.passwords = {
      // "secret" for user "u" ($5$, as esp-mqtt-broker passwd writes it)
      uu: { algo: "sha256", salt: "salt", hash: require("node:crypto").createHash("sha256").update("secretsalt").digest("latin1"), iterations: 0 },
    };
  }
  if (mode === 3) {
    config.auth.acl = {
      anonymous: [{ access: 3, filter: "ok/#" }, { access: 1, filter: "pub/#" }],
      users: { uu: [{ access: 3, filter: "#" }, { access: 0, filter: "ok/secret" }] },
      patterns: [{ access: 3, filter: "c/%c/#" }, { access: 3, filter: "u/%u/#" }],
    };
  }
  const net = start(config);
  const broker = net.broker;
  // the well-behaved subscriber, there before the hostile input
  const good = net.connect();
  good.write(connectPacket("good-subscriber-7f3a", false));
  good.write(subscribePacket(1, "ok/#", 1));
  yield 0;
  packetsOf(good);

  // the hostile part: the input is a little program
  const hostile: FuzzSocket[] = [net.connect("10.6.6.6")];
  let i = 1;
  while (i < data.length) {
    const op = data[i++];
    const kind = op % 8;
    const s = hostile[hostile.length - 1];
    if (kind < 5) {
      // write the next (op / 8 + 1) bytes, or up to 255 with a length byte
      let n = Math.floor(op / 8) + 1;
      if (n === 32 && i < data.length) n = data[i++];
      s.write(data.subarray(i, Math.min(i + n, data.length)));
      i += n;
    } else if (kind === 5) {
      yield Math.floor(op / 8) * 250;
    } else if (kind === 6) {
      if (op >= 128) s.cut();
      else if (op >= 64) s.stall();
      else s.resume();
    } else if (hostile.length < 3) {
      hostile.push(net.connect(op >= 128 ? "127.0.0.1" : "10.6.6." + (op % 4)));
    }
    if (hostile.length > 0 && net.openSockets() > 20) break;
    yield -1;
  }
  yield 0;

  // structures consistent and bounded
  let connected = 0;
  for (const c of broker.conns) {
    if (c.state === CONNECTED) connected++;
    check(c.reader.buf === undefined || c.reader.buf.length <= FUZZ_PROFILE.maxPacketSize, "reader buffer past the limit");
  }
  check(connected === broker.clientCount, "clientCount " + broker.clientCount + " but " + connected + " connected");
  check(broker.clientCount <= FUZZ_PROFILE.maxClients, "clients past maxClients");
  let filters = 0;
  for (const s of allSessions(broker.sessions)) {
    filters += s.filters.length;
    check(s.filters.length <= FUZZ_PROFILE.maxSubscriptionsPerClient, "subscriptions past the per-client limit");
    check(s.inflight.length <= FUZZ_PROFILE.maxInflight, "in-flight past maxInflight");
    check(s.queue.length <= FUZZ_PROFILE.maxQueued, "queue past maxQueued");
    check(s.incomingQos2.length <= FUZZ_PROFILE.maxIncomingQos2, "incoming QoS 2 past its limit");
  }
  check(filters === broker.topics.count, "topic table holds " + broker.topics.count + ", sessions " + filters);
  check(broker.topics.count <= FUZZ_PROFILE.maxSubscriptions, "subscriptions past maxSubscriptions");
  check(broker.retained.bytes <= FUZZ_PROFILE.maxRetainedBytes && broker.retained.list.length <= FUZZ_PROFILE.maxRetained, "retained past its limits");
  check(broker.sessions.offline.length <= FUZZ_PROFILE.maxSessions, "offline sessions past maxSessions");
  for (const s of hostile) check(net.queued(s) <= FUZZ_PROFILE.maxSendQueueBytes + FUZZ_PROFILE.maxPacketSize * 8, "send queue unbounded");
  for (const s of hostile) s.resume();
  // the well-behaved subscriber acknowledges whatever the input sent it (a full window is its own doing otherwise)
  if (!good.closed) yield* serviceGood(good);

  // another client is not broken: a fresh pair exchanges a QoS 1 message, the old subscriber gets it too
  const sub2 = net.connect();
  sub2.write(connectPacket("fresh-sub-" + execs, true));
  sub2.write(subscribePacket(2, "ok/#", 1));
  const pub = net.connect();
  pub.write(connectPacket("fresh-pub-" + execs, true));
  yield 0;
  // well-behaved: they acknowledge what they get (retained messages the input left, at QoS 1 or 2)
  yield* serviceGood(pub);
  yield* serviceGood(sub2);
  pub.write(publishPacket("ok/check", "still-working", 1, 77));
  yield 0;
  const acks = yield* serviceGood(pub);
  check(acks.some((p) => p.type === PUBACK), "the fresh publisher got no PUBACK: " + JSON.stringify(acks.map((p) => p.type)));
  const got = (yield* serviceGood(sub2)).filter((p) => p.type === PUBLISH && Buffer.from(p.body).toString("latin1").indexOf("still-working") >= 0);
  check(got.length === 1, "the fresh subscriber got " + got.length + " copies");
  if (!good.closed) {
    const old = yield* serviceGood(good);
    const g = old.filter((p) => p.type === PUBLISH && Buffer.from(p.body).toString("latin1").indexOf("still-working") >= 0);
    // only a CONNECT with its client id (a legitimate takeover) may have ended its session
    const s = findSession(broker.sessions, "good-subscriber-7f3a");
    if (s !== undefined && s.connId === good.id) check(g.length === 1, "the subscriber connected before the input got " + g.length + " copies");
    check(!old.some((p) => p.type === CONNACK), "a second CONNACK on a connection");
  }
  // everyone leaves: nothing is left but offline persistent sessions
  for (const s of [...hostile, good, sub2, pub]) s.end();
  yield FUZZ_PROFILE.connectTimeoutMs + 2 * FUZZ_PROFILE.tickMs;
  check(broker.conns.length === 0 && broker.clientCount === 0, "connections left after every socket closed: " + broker.conns.length);
  check(Object.keys(broker.guard.stalled).length === 0, "stall tracking left behind");
  // the ACL compiler on names from the input cannot produce rules outside the client's own subtree
  if (data.length > 2) {
    const name = Buffer.from(data.subarray(1, Math.min(data.length, 12))).toString("latin1");
    const rules = compileAcl({ anonymous: [], users: {}, patterns: [{ access: 3, filter: "c/%c/x" }] }, name, undefined);
    for (const r of rules) check(r.filter.split("/").length === 3 && r.filter.indexOf("+") < 0 && r.filter.indexOf("#") < 0, "pattern widened by client id " + JSON.stringify(name) + ": " + r.filter);
  }
}

export const TARGETS: { [name: string]: (data: Uint8Array) => void } = {
  parser: fuzzParser,
  connection: fuzzConnection,
};

/** Targets that replay another target's corpus over another network (not in the coverage engine's list). */
export const NETWORK_TARGETS: { [name: string]: { corpus: string; run: (data: Uint8Array) => void } } = {
  "connection-receive": { corpus: "connection", run: fuzzConnectionReceive },
};

/** Jazzer.js entry point: `npx jazzer test/fuzz/targets.ts` where its native addon loads. */
export function fuzz(data: Buffer): void {
  if (data.length > 0 && data[0] % 2 === 0) fuzzConnection(data.subarray(1));
  else fuzzParser(data.subarray(1));
}
