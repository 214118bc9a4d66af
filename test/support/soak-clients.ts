/**
 * The soak's virtual clients (test/support/soak.ts runs the episode): what
 * each sends (CONNECT, SUBSCRIBE, its messages with their packet ids, acks,
 * resends after a reconnect) and what it checks of what it receives (a
 * session kept, SUBACK codes, nothing it did not subscribe to or nobody
 * published, QoS, order per publisher and topic), recording every delivery
 * and will for the episode's end-of-run invariants.
 */
import {
  CONNACK, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK,
} from "../../firmware/core/codec/constants";
import {
  ackBytes, connectBytes, Packet, PacketDecoder, publishBytes, subscribeBytes,
} from "./sim-client";

/** A client's socket, as the soak uses it (SimSocket's shape). */
export interface SoakSocket {
  /** The broker's connection id for it (-1 while unknown). */
  readonly id: number;
  readonly stalled: boolean;
  /** The broker closed it (after flushing what was queued). */
  readonly closedByBroker: boolean;
  /** Either side closed it. */
  readonly closed: boolean;
  /** The broker died under it (nobody was told). */
  readonly lost: boolean;
  write(data: Uint8Array): void;
  take(): Uint8Array;
  stall(): void;
  resume(): void;
  cut(): void;
  cutAfter(data: Uint8Array, n: number): void;
}


export type Role = "pub" | "psub" | "csub" | "will";

export interface MsgRec {
  id: string;
  pub: number;
  seq: number;
  topic: string;
  qos: number;
  retain: boolean;
  payload: string;
  /** Simulated time of the first write (-1: not written yet). */
  firstSent: number;
  acked: boolean;
  pid: number;
  /** QoS 2: PUBREC seen, PUBREL owed. */
  released: boolean;
}

export interface Link {
  sock: SoakSocket;
  dec: PacketDecoder;
  state: "connecting" | "up" | "closing";
  inc: number;
  lastSent: number;
}

interface Sub {
  filter: string;
  qos: number;
  /** When its SUBACK arrived (-1: not confirmed). */
  confirmedAt: number;
}

/** Filter matching written for the checker (not the broker's code): '+' one level, '#' the rest. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export const GROUPS = 6;
export const WINDOW = 8;


export class VClient {
  idx: number;
  id: string;
  role: Role;
  link: Link | undefined = undefined;
  /** A takeover in progress: a second connection with the same id, awaiting its CONNACK. */
  next: Link | undefined = undefined;
  inc = 0;
  /** Persistent clients: a session exists on the broker (a CONNACK was seen). */
  sessionKnown = false;
  subs: Sub[] = [];
  // publisher state (survives connections: the client's half of a persistent session)
  seq = 0;
  outgoing: MsgRec[] = [];
  backlog: MsgRec[] = [];
  nextPid = 1;
  // subscriber state
  awaitingRel: { [pid: string]: boolean } = {};
  subPid = 1;
  stalledUntil = 0;
  zombie = false;
  storm = 0;
  /** Per stream "pub|topic|qos": the last seq that arrived first. */
  lastSeq: { [stream: string]: number } = {};
  constructor(idx: number, role: Role) {
    this.idx = idx;
    this.role = role;
    this.id = role.charAt(0) + role.charAt(role.length - 1) + idx;
  }
}

/**
 * The episode's clients, n of them: 3 in 10 publishers, 3 persistent and 2
 * clean subscribers (one or two filters each over the publishers' topics),
 * 2 will holders; the first persistent subscriber watches the wills.
 */
export function soakPopulation(n: number, rand: () => number): { clients: VClient[]; watcher: VClient | undefined } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const clients: VClient[] = [];
  const roles: Role[] = [];
  for (let i = 0; i < n; i++) {
    const r = i % 10;
    roles.push(r < 3 ? "pub" : r < 6 ? "psub" : r < 8 ? "csub" : "will");
  }
  for (let i = 0; i < n; i++) clients.push(new VClient(i, roles[i]));
  const pubs = clients.filter((c) => c.role === "pub");
  const pubFilters = (): string => {
    const g = Math.floor(rand() * GROUPS);
    const p = pick(pubs).id;
    return pick(["t/" + g + "/+", "t/+/" + p, "t/#", "t/" + g + "/" + p, "t/" + g + "/#"]);
  };
  // the first persistent subscriber watches the wills
  let watcher: VClient | undefined;
  for (const c of clients) {
    if (c.role === "psub" || c.role === "csub") {
      const n = 1 + Math.floor(rand() * 2);
      for (let k = 0; k < n; k++) {
        const filter = pubFilters();
        // the same filter twice in one SUBSCRIBE: the second replaces the first [MQTT-3.8.4-3]; keep them distinct
        if (c.subs.some((s) => s.filter === filter)) continue;
        c.subs.push({ filter, qos: c.role === "psub" ? 1 + Math.floor(rand() * 2) : 0, confirmedAt: -1 });
      }
    }
    if (c.role === "psub" && watcher === undefined) {
      watcher = c;
      c.subs = [{ filter: "will/#", qos: 2, confirmedAt: -1 }, { filter: "t/#", qos: 2, confirmedAt: -1 }];
    }
  }
  return { clients, watcher };
}

/** Checks made and what they found wrong, for the whole episode. */
export class Findings {
  checks = 0;
  violations: string[] = [];
  violate = (what: string): void => {
    if (this.violations.length < 50) this.violations.push(what);
    else if (this.violations.length === 50) this.violations.push("... more violations not listed");
  };
}

/** What the clients need of the episode's network. */
export interface ClientNet {
  now(): number;
  connect(remote?: string): SoakSocket;
  readonly closeLatency: number;
}

/** The clients' times (SoakTempo's keepalives). */
export interface ClientTempo {
  keepaliveS: number;
  willKeepaliveS: number;
}

/** The virtual clients' side of the protocol, and the record of what reached them. */
export class SoakClients {
  clients: VClient[];
  pubs: VClient[];
  messages: MsgRec[] = [];
  /** Deliveries per subscriber: message id -> count (retained copies not counted). */
  delivered: Map<string, number>[];
  /** Wills expected (payload -> when the broker handles the close), and received. */
  willsExpected = new Map<string, number>();
  /** The connection (socket id) whose close each expected will waits for. */
  willConn = new Map<string, number>();
  willsReceived = new Map<string, number>();
  deliveredCount = 0;

  constructor(
    readonly net: ClientNet,
    readonly tempo: ClientTempo,
    readonly rand: () => number,
    readonly findings: Findings,
    readonly faults: { [kind: string]: number },
    clients: VClient[],
    readonly traceId: string | undefined,
    readonly log: (line: string) => void,
  ) {
    this.clients = clients;
    this.pubs = clients.filter((c) => c.role === "pub");
    this.delivered = clients.map(() => new Map());
  }

  chance(p: number): boolean {
    return this.rand() < p;
  }

  pick<T>(xs: T[]): T {
    return xs[Math.floor(this.rand() * xs.length)];
  }

  trace(c: VClient, what: string): void {
    if (this.traceId === c.id) this.log(`t=${this.net.now()} ${c.id}: ${what}`);
  }
  write(l: Link, bytes: Uint8Array): void {
    l.sock.write(bytes);
    l.lastSent = this.net.now();
  }

  openLink(c: VClient): Link {
    c.inc++;
    const l: Link = { sock: this.net.connect("10.0.0." + (1 + (c.idx % 250))), dec: new PacketDecoder(), state: "connecting", inc: c.inc, lastSent: this.net.now() };
    this.trace(c, `opens incarnation ${c.inc} on sock ${l.sock.id}`);
    const persistent = c.role === "pub" || c.role === "psub";
    this.write(l, connectBytes(c.id, {
      clean: !persistent,
      keepalive: c.role === "will" ? this.tempo.willKeepaliveS : this.tempo.keepaliveS,
      will: c.role === "will" ? { topic: "will/" + c.id, message: "w|" + c.id + "|" + c.inc, qos: 2 } : undefined,
    }));
    return l;
  }

  sendPublish(c: VClient, l: Link, m: MsgRec, dup: boolean): void {
    if (m.firstSent < 0) m.firstSent = this.net.now();
    this.write(l, publishBytes(m.topic, m.payload, m.qos, m.retain, m.pid, dup && m.qos > 0));
  }

  allocPid(c: VClient): number {
    for (;;) {
      const id = c.nextPid;
      c.nextPid = id >= 65535 ? 1 : id + 1;
      if (!c.outgoing.some((m) => m.pid === id)) return id;
    }
  }

  pumpBacklog(c: VClient, l: Link): void {
    while (c.backlog.length > 0 && c.outgoing.length < WINDOW) {
      const m = c.backlog.shift()!;
      if (m.qos > 0) {
        m.pid = this.allocPid(c);
        c.outgoing.push(m);
      }
      this.sendPublish(c, l, m, false);
    }
  }

  expectWill(c: VClient, l: Link, dueAt: number): void {
    if (c.role !== "will") return;
    this.trace(c, `will of incarnation ${l.inc} expected at ${dueAt}`);
    this.willsExpected.set("w|" + c.id + "|" + l.inc, dueAt);
    this.willConn.set("w|" + c.id + "|" + l.inc, l.sock.id);
  }

  /** The link is over (from the client's side); `abnormal` when the broker will publish the will. */
  linkDown(c: VClient): void {
    c.link = undefined;
    c.zombie = false;
    c.stalledUntil = 0;
  }

  onUp(c: VClient, l: Link, sessionPresent: boolean): void {
    l.state = "up";
    if (c.role === "pub" || c.role === "psub") {
      this.findings.checks++;
      if (c.sessionKnown && !sessionPresent) this.findings.violate(`${c.id}: persistent session lost (CONNACK session present 0, incarnation ${l.inc})`);
      c.sessionKnown = true;
    }
    if (c.role === "pub") {
      // resend what the broker has not acknowledged, in order [MQTT-4.4.0-1]
      for (const m of c.outgoing) {
        if (m.released) this.write(l, ackBytes(PUBREL, m.pid));
        else this.sendPublish(c, l, m, true);
      }
      this.pumpBacklog(c, l);
    }
    if (c.role === "csub" || (c.role === "psub" && c.subs.some((s) => s.confirmedAt < 0))) {
      if (c.role === "csub") for (const s of c.subs) s.confirmedAt = -1;
      this.write(l, subscribeBytes(c.subPid, c.subs.map((s) => s.filter), c.subs.map((s) => s.qos)));
      c.subPid = c.subPid >= 65535 ? 1 : c.subPid + 1;
    }
  }

  onPublish(c: VClient, l: Link, p: Packet): void {
    const payload = p.payload ?? "";
    const topic = p.topic ?? "";
    if (p.qos === 1) this.write(l, ackBytes(PUBACK, p.packetId));
    let fresh = true;
    if (p.qos === 2) {
      const key = "p" + p.packetId;
      if (c.awaitingRel[key] === true) fresh = false;
      c.awaitingRel[key] = true;
      this.write(l, ackBytes(PUBREC, p.packetId));
    }
    if (!fresh) return;
    this.findings.checks++;
    if (!c.subs.some((s) => topicMatches(s.filter, topic))) this.findings.violate(`${c.id}: got ${topic} which matches none of its filters`);
    if (p.retain) return; // a retained copy on (re)subscribe: not a live delivery
    const parts = payload.split("|");
    if (parts[0] === "w") {
      this.willsReceived.set(payload, (this.willsReceived.get(payload) ?? 0) + 1);
      return;
    }
    const m = this.messages[Number(parts[2])];
    if (parts[0] !== "m" || m === undefined || m.id !== parts[1] + "|" + parts[2] || m.topic !== topic) {
      this.findings.violate(`${c.id}: got a message nobody published: ${topic} "${payload}"`);
      return;
    }
    if (p.qos > m.qos) this.findings.violate(`${c.id}: ${m.id} delivered at QoS ${p.qos} above its publish QoS ${m.qos}`);
    const d = this.delivered[c.idx];
    const n = (d.get(m.id) ?? 0) + 1;
    d.set(m.id, n);
    this.deliveredCount++;
    if (n === 1) {
      const stream = m.pub + "|" + m.topic + "|" + p.qos;
      const last = c.lastSeq[stream] ?? -1;
      this.findings.checks++;
      if (m.seq < last) this.findings.violate(`${c.id}: order broken on ${m.topic} from ${this.pubs[m.pub].id} at QoS ${p.qos}: seq ${m.seq} after ${last}`);
      else c.lastSeq[stream] = m.seq;
    }
  }

  onPacket(c: VClient, l: Link, p: Packet): void {
    if (p.type !== PUBLISH) this.trace(c, `inc ${l.inc} (${l === c.link ? "link" : l === c.next ? "next" : "old"}, sock ${l.sock.id}) got ${p.name} ${p.returnCode}`);
    if (p.type === CONNACK) {
      if (p.returnCode === 0) {
        if (l === c.next) {
          // takeover accepted: the old connection ends, its will goes out (clean session)
          const old = c.link!;
          this.expectWill(c, old, this.net.now());
          c.link = l;
          c.next = undefined;
        }
        this.onUp(c, l, p.sessionPresent);
      } else {
        if (l === c.next) {
          this.findings.checks++;
          if (p.returnCode !== 3) this.findings.violate(`${c.id}: takeover refused with CONNACK ${p.returnCode}, expected 3`);
          this.faults.takeoversRefused++;
          c.next = undefined;
          c.storm = 0;
        } else {
          this.findings.violate(`${c.id}: CONNECT refused with ${p.returnCode}`);
          this.linkDown(c);
        }
      }
      return;
    }
    if (p.type === SUBACK) {
      for (let i = 0; i < c.subs.length; i++) {
        this.findings.checks++;
        if (p.codes[i] !== c.subs[i].qos) this.findings.violate(`${c.id}: SUBACK ${p.codes[i]} for ${c.subs[i].filter} qos ${c.subs[i].qos}`);
        else if (c.subs[i].confirmedAt < 0) c.subs[i].confirmedAt = this.net.now();
      }
      return;
    }
    if (p.type === PUBLISH) {
      this.onPublish(c, l, p);
      return;
    }
    if (p.type === PUBREL) {
      delete c.awaitingRel["p" + p.packetId];
      this.write(l, ackBytes(PUBCOMP, p.packetId));
      return;
    }
    if (p.type === PUBACK || p.type === PUBREC || p.type === PUBCOMP) {
      const i = c.outgoing.findIndex((m) => m.pid === p.packetId);
      if (i < 0) return;
      const m = c.outgoing[i];
      if (p.type === PUBACK && m.qos === 1) {
        m.acked = true;
        c.outgoing.splice(i, 1);
      } else if (p.type === PUBREC && m.qos === 2) {
        m.acked = true;
        m.released = true;
        this.write(l, ackBytes(PUBREL, m.pid));
      } else if (p.type === PUBCOMP && m.qos === 2 && m.released) {
        c.outgoing.splice(i, 1);
      } else {
        this.findings.violate(`${c.id}: ${p.name} for packet ${p.packetId} at QoS ${m.qos}`);
      }
      this.pumpBacklog(c, l);
      return;
    }
    if (p.type === PINGRESP) return;
    this.findings.violate(`${c.id}: unexpected ${p.name} from the broker`);
  }

  readLink(c: VClient, l: Link): void {
    if (l.sock.stalled) return;
    const bytes = l.sock.take();
    if (bytes.length > 0) {
      let packets: Packet[];
      try {
        packets = l.dec.feed(bytes);
      } catch (e) {
        this.findings.violate(`${c.id}: the broker sent a malformed stream: ${(e as Error).message}`);
        l.sock.cut();
        return;
      }
      for (const p of packets) this.onPacket(c, l, p);
    }
  }

  /** Read what arrived; notice closes. */
  service(c: VClient): void {
    const l = c.link;
    // the old connection first: what it got was sent before the takeover, what the new one gets after
    if (l !== undefined) this.readLink(c, l);
    if (c.next !== undefined) {
      const n = c.next;
      this.readLink(c, n);
      if (c.next === n && n.sock.closed) {
        // refused (or lost) takeover: its socket is gone
        c.next = undefined;
      }
    }
    if (l === undefined) return;
    if (c.link === l && l.sock.closedByBroker) {
      this.trace(c, `inc ${l.inc} closed by the broker in state ${l.state}${l.sock.lost ? " (lost)" : ""}`);
      if (l.state === "up" && !l.sock.lost) {
        // closed by the broker while up, without DISCONNECT: keepalive, slow consumer, ... -> will
        this.expectWill(c, l, this.net.now());
        if (c.zombie) this.faults.keepaliveExpiries++;
      }
      if (c.next !== undefined) {
        c.link = c.next;
        c.next = undefined;
      } else {
        this.linkDown(c);
      }
    }
  }

  /** A new message; `burstTopic`: a QoS 0 of a burst, on that topic, of a fixed size. */
  newMessage(c: VClient, burstTopic?: string): void {
    const pubIdx = this.pubs.indexOf(c);
    const retain = burstTopic === undefined && this.chance(0.08);
    const qos = burstTopic !== undefined ? 0 : retain ? 1 + Math.floor(this.rand() * 2) : this.pick([0, 1, 1, 2, 2]);
    const topic = burstTopic !== undefined ? burstTopic : retain ? "r/" + c.id : "t/" + Math.floor(this.rand() * GROUPS) + "/" + c.id;
    const seq = this.messages.length;
    const id = pubIdx + "|" + seq;
    const head = "m|" + id + "|";
    const payload = burstTopic !== undefined ? head + "x".repeat(Math.max(0, 32 - head.length))
      : retain && this.chance(0.15) ? "" : head + "x".repeat(Math.floor(this.rand() * 40));
    const m: MsgRec = { id, pub: pubIdx, seq, topic, qos, retain, payload, firstSent: -1, acked: qos === 0, pid: 0, released: false };
    this.messages.push(m);
    c.seq++;
    if (qos === 0) {
      if (c.link !== undefined && c.link.state === "up") this.sendPublish(c, c.link, m, false);
      else m.firstSent = -2; // never sent: not counted
      return;
    }
    c.backlog.push(m);
    if (c.link !== undefined && c.link.state === "up" && c.next === undefined) this.pumpBacklog(c, c.link);
  }
}
