/**
 * Replays Eclipse Mosquitto's message-sequence cases (test/conformance/
 * mosquitto-msg-sequence/*.json, format and licence in its NOTICE.md) against our broker,
 * byte for byte, over the simulated sockets or over real TCP.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { encodeConnect, encodePublishString } from "../../firmware/core/codec/encode";
import { BrokerConfig } from "../../firmware/core/config";
import { startSimBroker } from "../../host-sim/sim";
import { bytesToHex, hexToBytes } from "../../host-sim/sim";

export const DEFAULT_CORPUS = path.join(__dirname, "..", "conformance", "mosquitto-msg-sequence");

export interface Step {
  type: "send" | "recv" | "publish";
  payload?: string;
  /** For "publish": the helper client's message. */
  topic?: string;
  qos?: number;
}

export interface Case {
  file: string;
  group: string;
  name: string;
  ver: number;
  connect: boolean;
  expectDisconnect: boolean;
  msgs: Step[];
}

/** MQTT 3.1.1 and 3.1 cases: groups "v3.1.1 ...", "v3.1 ...", REGRESSIONS, BROKER CHECK. */
export function loadCases(dir: string = DEFAULT_CORPUS): Case[] {
  if (!fs.existsSync(dir)) throw new Error(`conformance corpus not found at ${dir} (pass another folder, or set CONFORMANCE_DIR)`);
  const out: Case[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith(".json")).sort()) {
    const groups = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
    for (const g of groups) {
      const name: string = g.group;
      if (!(name.startsWith("v3.1") || name === "REGRESSIONS" || name === "BROKER CHECK")) continue;
      for (const t of g.tests) {
        out.push({
          file: f,
          group: name.trim(),
          name: t.name,
          ver: t.ver ?? 4,
          connect: t.connect !== false,
          expectDisconnect: t.expect_disconnect !== false,
          msgs: t.msgs ?? [],
        });
      }
    }
  }
  return out;
}

function utf8Binary(s: string): string {
  return Buffer.from(s, "utf8").toString("latin1");
}

export function connectBytes(clientId: string, ver: number): Uint8Array {
  const out = new Uint8Array(256 + clientId.length * 4);
  const n = encodeConnect(out, 0, {
    protocolName: ver === 3 ? "MQIsdp" : "MQTT",
    protocolLevel: ver === 3 ? 3 : 4,
    clientId: utf8Binary(clientId),
    cleanSession: true,
    keepalive: 60,
    username: undefined,
    password: undefined,
    willTopic: undefined,
    willMessage: undefined,
    willQos: 0,
    willRetain: false,
  });
  return out.slice(0, n);
}

export function publishBytes(topic: string, payload: string, qos: number, packetId: number): Uint8Array {
  const out = new Uint8Array(64 + topic.length * 4 + payload.length * 4);
  const n = encodePublishString(out, 0, utf8Binary(topic), utf8Binary(payload), qos, false, false, packetId);
  return out.slice(0, n);
}

export const CONNACK_OK = "20020000";

/** Result of one case: undefined when it passed, else what went wrong. */
export type Outcome = string | undefined;

/** What a synchronous test bed gives the step runner: the tested connection and a helper client. */
export interface ReplayPeer {
  inbox: number[];
  write(data: Uint8Array | string): void;
}

export interface ReplayBed {
  sock: ReplayPeer;
  /** Let the broker run and the peers collect what it sent. */
  settle(): void;
  /** The broker has closed the tested connection. */
  closedByBroker(): boolean;
  /** The tested connection is closed, by either side. */
  closed(): boolean;
  /** A second client ("helper"), connected, its CONNACK taken. */
  helper(): ReplayPeer;
}

/**
 * The steps of one case on a synchronous bed (the simulated sockets here, the
 * Lua VM's simulated net in lua-vm.ts): CONNECT, the sends, receives and
 * helper publishes, then the close or the PINGREQ the case expects.
 */
export function runCaseOn(c: Case, bed: ReplayBed): Outcome {
  const sock = bed.sock;
  const expect = (hex: string, what: string): Outcome => {
    const want = hexToBytes(hex);
    const have = sock.inbox.slice(0, want.length);
    if (have.length < want.length || bytesToHex(have) !== bytesToHex(want)) {
      return `${what}: expected ${bytesToHex(want)}, got ${bytesToHex(sock.inbox)}${bed.closed() ? " (closed)" : ""}`;
    }
    sock.inbox.splice(0, want.length);
    return undefined;
  };
  if (c.connect) {
    sock.write(connectBytes(c.name, c.ver));
    bed.settle();
    const e = expect(CONNACK_OK, "CONNACK");
    if (e) return e;
  }
  let helper: ReplayPeer | undefined;
  for (const m of c.msgs) {
    if (m.type === "send") {
      sock.write(m.payload!);
      bed.settle();
    } else if (m.type === "recv") {
      bed.settle();
      const e = expect(m.payload!, "recv");
      if (e) return e;
    } else {
      const msg = { topic: m.topic!, payload: m.payload ?? "", qos: m.qos ?? 0 };
      if (helper === undefined) helper = bed.helper();
      helper.write(publishBytes(msg.topic, msg.payload, msg.qos, 1));
      bed.settle();
      if (msg.qos === 2) {
        helper.write("62 02 00 01");
        bed.settle();
      }
      helper.inbox = [];
    }
  }
  bed.settle();
  if (c.expectDisconnect) {
    if (!bed.closedByBroker()) return `expected the broker to close the connection; it is open (inbox ${bytesToHex(sock.inbox)})`;
    if (sock.inbox.length > 0) return `unexpected bytes before close: ${bytesToHex(sock.inbox)}`;
  } else {
    if (bed.closed()) return "the broker closed a connection that should stay open";
    sock.write("C0 00");
    bed.settle();
    const e = expect("D000", "PINGRESP");
    if (e) return e;
    if (sock.inbox.length > 0) return `unexpected bytes: ${bytesToHex(sock.inbox)}`;
  }
  return undefined;
}

/** One case on a fresh broker over the simulated network, every write split into single bytes when `split`. */
export function runCaseSim(c: Case, config: BrokerConfig, split = false): Outcome {
  const sim = startSimBroker(config, { splitBytes: split });
  const sock = sim.net.connect();
  return runCaseOn(c, {
    sock,
    settle: () => sim.clock.advance(1),
    closedByBroker: () => sock.closedByBroker,
    closed: () => sock.closed,
    helper: () => {
      const h = sim.net.connect();
      h.write(connectBytes("helper", 4));
      sim.clock.advance(1);
      h.take();
      return h;
    },
  });
}

/** A TCP client that reads exact byte counts with a deadline. */
class TcpPeer {
  sock: net.Socket;
  buf = Buffer.alloc(0);
  closed = false;
  private waiters: (() => void)[] = [];
  constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wake();
    });
    sock.on("error", () => {});
  }
  static open(port: number): Promise<TcpPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(new TcpPeer(s)));
      s.once("error", reject);
    });
  }
  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  write(data: Uint8Array | string) {
    if (!this.closed) this.sock.write(typeof data === "string" ? hexToBytes(data) : data);
  }
  /** Wait until n bytes are buffered, the socket closes, or the deadline passes. */
  async read(n: number, ms: number): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.buf.length < n && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }
  async waitClose(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.closed;
  }
  end() {
    this.sock.destroy();
  }
}

/** Client ids of the CONNECT packets a case sends (after its own). */
export function connectIds(c: Case): string[] {
  const ids: string[] = [];
  for (const m of c.msgs) {
    if (m.type !== "send" || m.payload === undefined) continue;
    const b = hexToBytes(m.payload);
    if (b.length < 12 || b[0] !== 0x10) continue;
    const nameLen = b[2] * 256 + b[3];
    const p = 4 + nameLen + 4;
    if (p + 2 > b.length) continue;
    const idLen = b[p] * 256 + b[p + 1];
    if (p + 2 + idLen <= b.length) ids.push(Buffer.from(b.subarray(p + 2, p + 2 + idLen)).toString("latin1"));
  }
  return ids;
}

/**
 * Wipe what a case may leave on a long-lived broker (a persistent session
 * under a client id its CONNECT chose): connect each id with a clean session,
 * then disconnect. Cases on a fresh broker need none of this.
 */
export async function cleanUpAfter(c: Case, port: number, timeoutMs = 2000): Promise<void> {
  for (const id of connectIds(c)) {
    const peer = await TcpPeer.open(port);
    try {
      peer.write(connectBytes(Buffer.from(id, "latin1").toString("utf8"), 4));
      await peer.read(4, timeoutMs);
      peer.write("E0 00");
      await peer.waitClose(timeoutMs);
    } finally {
      peer.end();
    }
  }
}

/** One case against a broker already listening on `port` over real TCP. */
export async function runCaseTcp(c: Case, port: number, timeoutMs = 2000): Promise<Outcome> {
  const peer = await TcpPeer.open(port);
  let helper: TcpPeer | undefined;
  try {
    const expect = async (hex: string, what: string): Promise<Outcome> => {
      const want = hexToBytes(hex);
      const have = await peer.read(want.length, timeoutMs);
      if (bytesToHex(have) !== bytesToHex(want)) {
        return `${what}: expected ${bytesToHex(want)}, got ${bytesToHex(have)}${peer.closed ? " (closed)" : ""}`;
      }
      return undefined;
    };
    if (c.connect) {
      peer.write(connectBytes(c.name, c.ver));
      const e = await expect(CONNACK_OK, "CONNACK");
      if (e) return e;
    }
    for (const m of c.msgs) {
      if (m.type === "send") peer.write(m.payload!);
      else if (m.type === "recv") {
        const e = await expect(m.payload!, "recv");
        if (e) return e;
      } else {
        const msg = { topic: m.topic!, payload: m.payload ?? "", qos: m.qos };
        if (helper === undefined) {
          helper = await TcpPeer.open(port);
          helper.write(connectBytes("helper", 4));
          await helper.read(4, timeoutMs);
        }
        const qos = msg.qos ?? 0;
        helper.write(publishBytes(msg.topic, msg.payload, qos, 1));
        if (qos === 1) await helper.read(4, timeoutMs);
        if (qos === 2) {
          await helper.read(4, timeoutMs);
          helper.write("62 02 00 01");
          await helper.read(4, timeoutMs);
        }
      }
    }
    if (c.expectDisconnect) {
      const closed = await peer.waitClose(timeoutMs);
      if (!closed) return "expected the broker to close the connection; it is open";
      if (peer.buf.length > 0) return `unexpected bytes before close: ${bytesToHex(peer.buf)}`;
    } else {
      if (peer.closed) return "the broker closed a connection that should stay open";
      peer.write("C0 00");
      const e = await expect("D000", "PINGRESP");
      if (e) return e;
    }
    return undefined;
  } finally {
    peer.end();
    if (helper) helper.end();
  }
}

/**
 * Cases where this broker deliberately answers otherwise than mosquitto, each
 * with its reason. Empty: every MQTT 3.1.1 and 3.1 case is expected to pass.
 */
export const DEVIATIONS: { [name: string]: string } = {};
