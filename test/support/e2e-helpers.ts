/**
 * Shared pieces of the end-to-end suites (test/e2e): a broker on real TCP
 * (port 0, optional fake clock), MQTT.js clients that record every message
 * from the moment they connect, a raw socket client speaking hand-encoded
 * packets, and event-driven waits bounded by a failure guard. Nothing here
 * sleeps for a fixed time: every wait ends on an event, or fails at its
 * timeout.
 */
import * as net from "node:net";
import { connect as mqttConnect, IClientOptions, IConnackPacket, IPublishPacket, MqttClient } from "mqtt";
import { ConnectOptions, encodeConnect } from "../../firmware/core/codec/encode";
import { BrokerConfig } from "../../firmware/core/config";
import { BoardProfile } from "../../firmware/core/profile";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { RunningBroker, startBroker } from "../../host-sim/server";

/** The failure guard of every wait: long enough never to fire on a working broker. */
export const TIMEOUT = 3000;

/** `p`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(p: Promise<T>, what: string, ms: number = TIMEOUT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out after " + ms + " ms waiting for " + what)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** The next `event` of an emitter, bounded. */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, what?: string, ms: number = TIMEOUT): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args[0] as T))),
    what !== undefined ? what : "'" + event + "'",
    ms,
  );
}

/**
 * Wait until `cond()` holds, checking once per event-loop turn (for broker
 * state that changes on an event the test cannot subscribe to, such as the
 * server side accepting a socket). Bounded like every other wait.
 */
export async function waitUntil(cond: () => boolean, what: string, ms: number = TIMEOUT): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out after " + ms + " ms waiting for " + what);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

// ---- broker log lines, awaitable ----

/** Every line the broker logs, with waits for a line matching a pattern. */
export class LogWatch {
  lines: string[] = [];
  private waiters: { re: RegExp; since: number; resolve: (line: string) => void }[] = [];

  push = (line: string): void => {
    this.lines.push(line);
    const idx = this.lines.length - 1;
    for (const w of this.waiters.slice()) {
      if (idx >= w.since && w.re.test(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };

  /** Position to wait from: take it before the action that logs. */
  mark(): number {
    return this.lines.length;
  }

  /** The first line from `since` on matching `re` (already logged or still to come). */
  waitFor(re: RegExp, since: number = 0, ms: number = TIMEOUT): Promise<string> {
    for (let i = since; i < this.lines.length; i++) if (re.test(this.lines[i])) return Promise.resolve(this.lines[i]);
    return withTimeout(new Promise<string>((resolve) => this.waiters.push({ re, since, resolve })), "broker log " + re, ms);
  }
}

// ---- the broker ----

export interface TestBroker {
  running: RunningBroker;
  port: number;
  config: BrokerConfig;
  logs: LogWatch;
  /** The fake clock (ms) when started with fakeClock: advance it, then call tick(). */
  clock: { now: number };
  /** broker.tick() (with fakeClock: the only ticks there are). */
  tick(): void;
  close(): Promise<void>;
}

export interface BrokerOptions {
  /** The configuration (default: defaultConfig of the host profile). Its listeners are replaced. */
  config?: BrokerConfig;
  /** Overrides applied to the configuration's profile. */
  profile?: Partial<BoardProfile>;
  /** A fake clock and no tick timer: the test advances `clock.now` and calls tick(). */
  fakeClock?: boolean;
}

/** The host profile with overrides, as a fresh object. */
export function hostProfile(overrides: Partial<BoardProfile> = {}): BoardProfile {
  return Object.assign({}, loadProfile("host"), overrides);
}

/** startBroker on 127.0.0.1, port 0; the port actually bound is `port`. */
export async function startTestBroker(opts: BrokerOptions = {}): Promise<TestBroker> {
  const config = opts.config !== undefined ? opts.config : defaultConfig(loadProfile("host"));
  if (opts.profile !== undefined) Object.assign(config.profile, opts.profile);
  config.listeners = [{ port: 0, address: "127.0.0.1" }];
  const logs = new LogWatch();
  const clock = { now: 1000000 };
  const running = await startBroker(
    config,
    logs.push,
    opts.fakeClock === true ? { now: () => clock.now, manualTick: true } : {},
  );
  let closed = false;
  return {
    running,
    port: running.ports[0],
    config,
    logs,
    clock,
    tick: () => running.broker.tick(),
    close: async () => {
      if (closed) return;
      closed = true;
      await running.close();
    },
  };
}

// ---- MQTT.js clients ----

export interface Msg {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  dup: boolean;
  messageId: number | undefined;
}

/** Every message a client received, in order, with waits on what comes next. */
export class Inbox {
  all: Msg[] = [];
  /** Index of the next message next()/until() hand out. */
  cursor = 0;
  private wake: (() => void)[] = [];

  push(m: Msg): void {
    this.all.push(m);
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  private async arrival(what: string, ms: number, deadline: number): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error("timed out after " + ms + " ms waiting for " + what);
    await withTimeout(new Promise<void>((resolve) => this.wake.push(resolve)), what, left);
  }

  /** The next message not handed out yet. */
  async next(what: string = "a message", ms: number = TIMEOUT): Promise<Msg> {
    const deadline = Date.now() + ms;
    while (this.cursor >= this.all.length) await this.arrival(what, ms, deadline);
    return this.all[this.cursor++];
  }

  /** The next `n` messages. */
  async take(n: number, what: string = n + " messages", ms: number = TIMEOUT): Promise<Msg[]> {
    const out: Msg[] = [];
    const deadline = Date.now() + ms;
    while (out.length < n) {
      while (this.cursor >= this.all.length) await this.arrival(what + " (got " + out.length + ")", ms, deadline);
      out.push(this.all[this.cursor++]);
    }
    return out;
  }

  /** Messages up to the first one `stop` accepts; returns those before it (the stop message is consumed). */
  async until(stop: (m: Msg) => boolean, what: string, ms: number = TIMEOUT): Promise<Msg[]> {
    const out: Msg[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      while (this.cursor >= this.all.length) await this.arrival(what, ms, deadline);
      const m = this.all[this.cursor++];
      if (stop(m)) return out;
      out.push(m);
    }
  }
}

export interface Conn {
  client: MqttClient;
  connack: IConnackPacket;
  inbox: Inbox;
  /** Errors the client emitted after connecting (a broken pipe when the broker closes, ...). */
  errors: Error[];
  /** Resolves when the client's connection closes. */
  closed: Promise<void>;
  isClosed(): boolean;
}

/** Everything a test opened, closed in an after hook whatever the test did. */
export class Tracker {
  private clients: MqttClient[] = [];
  private sockets: net.Socket[] = [];
  private brokers: TestBroker[] = [];

  client(c: MqttClient): MqttClient {
    this.clients.push(c);
    return c;
  }
  socket(s: net.Socket): net.Socket {
    this.sockets.push(s);
    return s;
  }
  broker(b: TestBroker): TestBroker {
    this.brokers.push(b);
    return b;
  }

  async closeAll(): Promise<void> {
    const clients = this.clients;
    const sockets = this.sockets;
    const brokers = this.brokers;
    this.clients = [];
    this.sockets = [];
    this.brokers = [];
    for (const c of clients) {
      c.removeAllListeners("error");
      c.on("error", () => {});
      c.end(true);
    }
    for (const s of sockets) s.destroy();
    for (const b of brokers) await b.close();
  }
}

/** Wait until the broker has seen every connection close (between tests on a shared broker). */
export function idle(b: TestBroker): Promise<void> {
  return waitUntil(() => b.running.broker.conns.length === 0, "the broker to see every connection close");
}

/** A default tracker for suites that need only one. */
export const tracked = new Tracker();

function clientOptions(port: number, opts: IClientOptions): IClientOptions {
  return Object.assign(
    {
      host: "127.0.0.1",
      port,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: TIMEOUT,
      keepalive: 60,
    } as IClientOptions,
    opts,
  );
}

/** Connect an MQTT.js client (MQTT 3.1.1, no reconnects); rejects on a refusal or a close before CONNACK. */
export function connect(port: number, opts: IClientOptions = {}, tracker: Tracker = tracked): Promise<Conn> {
  const client = tracker.client(mqttConnect(clientOptions(port, opts)));
  const inbox = new Inbox();
  const errors: Error[] = [];
  let isClosed = false;
  const closed = new Promise<void>((resolve) => client.once("close", () => {
    isClosed = true;
    resolve();
  }));
  // attached before CONNACK: messages that follow it at once (a resumed session) are not missed
  client.on("message", (topic: string, payload: Buffer, packet: IPublishPacket) => {
    inbox.push({
      topic,
      payload: payload.toString("utf8"),
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
      messageId: packet.messageId,
    });
  });
  return withTimeout(
    new Promise<Conn>((resolve, reject) => {
      const onError = (e: Error) => {
        client.off("connect", onConnect);
        reject(e);
      };
      const onConnect = (connack: IConnackPacket) => {
        client.off("error", onError);
        client.on("error", (e: Error) => errors.push(e));
        resolve({ client, connack, inbox, errors, closed, isClosed: () => isClosed });
      };
      client.once("error", onError);
      client.once("connect", onConnect);
      client.once("close", () => reject(new Error("connection closed before CONNACK")));
    }),
    "CONNACK for " + String(opts.clientId),
  );
}

/**
 * Connect expecting a refusal: resolves with the CONNACK return code MQTT.js
 * reports (error.code), rejects if the client is accepted.
 */
export function connectRefused(port: number, opts: IClientOptions = {}, tracker: Tracker = tracked): Promise<number> {
  const client = tracker.client(mqttConnect(clientOptions(port, opts)));
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      client.once("connect", () => reject(new Error("connection was accepted, a refusal was expected")));
      client.once("error", (e: Error & { code?: number | string }) => {
        client.on("error", () => { /* a reset after the refusal: already decided */ });
        if (typeof e.code === "number") resolve(e.code);
        else reject(e);
      });
    }),
    "a refused CONNACK",
  );
}

/** SUBSCRIBE and the granted QoS list of the SUBACK, failures (128) included. */
export function subscribe(client: MqttClient, filters: { [filter: string]: number }): Promise<number[]> {
  return withTimeout(
    new Promise<number[]>((resolve, reject) => {
      const map: { [filter: string]: { qos: 0 | 1 | 2 } } = {};
      for (const f of Object.keys(filters)) map[f] = { qos: filters[f] as 0 | 1 | 2 };
      client.subscribe(map, (err, _granted, packet) => {
        if (packet !== undefined && Array.isArray(packet.granted)) {
          resolve((packet.granted as (number | { qos: number })[]).map((g) => (typeof g === "number" ? g : g.qos)));
        } else {
          reject(err !== null ? err : new Error("SUBACK without granted list"));
        }
      });
    }),
    "SUBACK",
  );
}

/** UNSUBSCRIBE, resolved on UNSUBACK. */
export function unsubscribe(client: MqttClient, filter: string): Promise<void> {
  return withTimeout(client.unsubscribeAsync(filter).then(() => undefined), "UNSUBACK");
}

/** DISCONNECT and close (MQTT.js end), bounded. */
export function end(client: MqttClient): Promise<void> {
  return withTimeout(client.endAsync(), "the client to end");
}

/** PUBLISH, resolved when the broker acknowledged it (at once for QoS 0). */
export function publish(client: MqttClient, topic: string, payload: string | Buffer, qos: 0 | 1 | 2 = 0, retain: boolean = false): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      client.publish(topic, payload, { qos, retain }, (err) => (err ? reject(err) : resolve()));
    }),
    "publish " + topic + " acknowledged",
  );
}

let markerSeq = 0;

/**
 * Prove what did NOT arrive without sleeping: `from` publishes a marker on
 * `topic` (which `to` must be subscribed to) after everything before it;
 * the broker handles one connection's packets in order and writes one
 * subscriber's packets in order, so anything the broker was going to send
 * `to` for earlier publishes arrives before the marker (the marker's delivery
 * QoS must be at least that of the messages it fences: QoS 0 is not queued
 * behind a full in-flight window). Returns the messages
 * `to` received before the marker (from its inbox cursor on).
 */
export async function barrier(from: MqttClient, to: Conn, topic: string, qos: 0 | 1 | 2 = 1): Promise<Msg[]> {
  const marker = "marker-" + ++markerSeq;
  const before = to.inbox.until((m) => m.topic === topic && m.payload === marker, "barrier marker on " + topic);
  await publish(from, topic, marker, qos);
  return before;
}

export function unique(prefix: string): string {
  return prefix + "-" + process.pid + "-" + ++markerSeq;
}

// ---- raw sockets with hand-encoded packets ----

export interface Packet {
  type: number;
  flags: number;
  body: Buffer;
}

export interface ParsedPublish {
  topic: string;
  payload: string;
  qos: number;
  dup: boolean;
  retain: boolean;
  packetId: number;
}

export function parsePublish(p: Packet): ParsedPublish {
  if (p.type !== 3) throw new Error("not a PUBLISH: type " + p.type);
  const qos = Math.floor(p.flags / 2) % 4;
  const topicLen = p.body.readUInt16BE(0);
  const topic = p.body.subarray(2, 2 + topicLen).toString("utf8");
  let at = 2 + topicLen;
  let packetId = 0;
  if (qos > 0) {
    packetId = p.body.readUInt16BE(at);
    at += 2;
  }
  return { topic, payload: p.body.subarray(at).toString("utf8"), qos, dup: p.flags >= 8, retain: p.flags % 2 === 1, packetId };
}

export const CONNECT_DEFAULTS: ConnectOptions = {
  protocolName: "MQTT",
  protocolLevel: 4,
  clientId: "",
  cleanSession: true,
  keepalive: 60,
  username: undefined,
  password: undefined,
  willTopic: undefined,
  willMessage: undefined,
  willQos: 0,
  willRetain: false,
};

/** A TCP client that frames what the broker sends into packets; the test writes bytes itself. */
export class RawClient {
  sock: net.Socket;
  private pending = Buffer.alloc(0);
  private packets: Packet[] = [];
  private wake: (() => void)[] = [];
  ended = false;
  closed: Promise<void>;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    this.closed = new Promise<void>((resolve) => sock.once("close", () => {
      this.ended = true;
      this.notify();
      resolve();
    }));
    sock.on("error", () => { /* 'close' follows */ });
    sock.on("data", (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      this.frame();
      this.notify();
    });
  }

  static open(port: number, tracker: Tracker = tracked): Promise<RawClient> {
    const sock = tracker.socket(net.connect(port, "127.0.0.1"));
    sock.setNoDelay(true);
    return withTimeout(
      new Promise<RawClient>((resolve, reject) => {
        sock.once("connect", () => resolve(new RawClient(sock)));
        sock.once("error", reject);
      }),
      "TCP connect",
    );
  }

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  private frame(): void {
    for (;;) {
      const buf = this.pending;
      if (buf.length < 2) return;
      let remaining = 0;
      let mult = 1;
      let i = 1;
      for (;;) {
        if (i >= buf.length) return;
        const b = buf[i++];
        remaining += (b % 128) * mult;
        mult *= 128;
        if (b < 128) break;
      }
      if (buf.length < i + remaining) return;
      this.packets.push({ type: buf[0] >> 4, flags: buf[0] & 15, body: Buffer.from(buf.subarray(i, i + remaining)) });
      this.pending = buf.subarray(i + remaining);
    }
  }

  /** Packets received and not taken with next() yet. */
  unread(): Packet[] {
    return this.packets.slice();
  }

  send(bytes: Uint8Array | number[]): void {
    this.sock.write(Buffer.from(bytes as Uint8Array));
  }

  /** Encode a packet with one of firmware/core/codec/encode.ts's encoders and send it. */
  sendEncoded(encode: (out: Uint8Array, off: number) => number): void {
    const out = new Uint8Array(4096);
    const len = encode(out, 0);
    this.send(out.subarray(0, len));
  }

  /** The next packet the broker sent; rejects if the connection closes first. */
  async next(what: string = "a packet", ms: number = TIMEOUT): Promise<Packet> {
    const deadline = Date.now() + ms;
    while (this.packets.length === 0) {
      if (this.ended) throw new Error("connection closed while waiting for " + what);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out after " + ms + " ms waiting for " + what);
      await withTimeout(new Promise<void>((resolve) => this.wake.push(resolve)), what, left);
    }
    return this.packets.shift() as Packet;
  }

  /** The next packet, which must be of `type`. */
  async expect(type: number, what: string): Promise<Packet> {
    const p = await this.next(what);
    if (p.type !== type) throw new Error("expected " + what + " (type " + type + "), got type " + p.type + " flags " + p.flags);
    return p;
  }

  /** Send CONNECT and return the CONNACK's [session present, return code]. */
  async connect(opts: Partial<ConnectOptions>): Promise<[number, number]> {
    const o = Object.assign({}, CONNECT_DEFAULTS, opts);
    this.sendEncoded((out, off) => encodeConnect(out, off, o));
    const ack = await this.expect(2, "CONNACK");
    return [ack.body[0], ack.body[1]];
  }

  waitClosed(what: string = "the broker to close the connection"): Promise<void> {
    return withTimeout(this.closed, what);
  }

  destroy(): void {
    this.sock.destroy();
  }
}
