/**
 * The soak: hundreds of simulated clients on host-sim/sim.ts's network and
 * clock, with faults (random splits, jitter, stalls, cuts mid-packet,
 * takeovers and takeover storms, keepalive expiries, garbage and half-open
 * sockets, broker restarts from persisted state), and a model of what the
 * spec promises, checked on every run:
 *
 * - every QoS 1 message acknowledged to its publisher reaches every matching
 *   persistent subscriber at least once, and a QoS 2 one (delivered at QoS 2)
 *   exactly once; QoS 0 at most once; nothing arrives that nobody published
 *   or on a topic the subscriber did not ask for;
 * - per publisher and topic, first arrivals keep the publisher's order;
 * - wills fire exactly when the spec says: once for every connection that
 *   ended without DISCONNECT (cut, keepalive expired, taken over), never for a
 *   DISCONNECT, a refused takeover, or a broker that died;
 * - a persistent session comes back (session present) across takeovers and
 *   restarts;
 * - retained state at the end equals the last retained publish per topic;
 * - when every client has left, the broker's structures are empty again and
 *   the Node heap after GC is back within a bound of where it started.
 *
 * Everything is driven by one seed: the same seed replays the same run.
 *
 * The network is pluggable (SoakNet): the simulated one here (host-sim/sim.ts,
 * deterministic), the same through the Espruino adapter's receive path
 * (soakNetReceive: firmware/espruino/receive.ts on Node), and real TCP
 * sockets on 127.0.0.1 behind host-sim/tcp.ts (test/support/soak-tcp.ts,
 * bounded in real time, not deterministic). The run itself is a generator
 * that yields "let this many ms pass": the simulated clock advances at
 * once, real time is awaited.
 */
import * as v8 from "node:v8";
import * as vm from "node:vm";
import {
  CONNACK, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK,
} from "../../firmware/core/codec/constants";
import { Broker } from "../../firmware/core/broker/broker";
import { BrokerConfig } from "../../firmware/core/config";
import { BoardProfile } from "../../firmware/core/profile";
import { restoreState, serializeState } from "../../firmware/core/persist/snapshot";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { Transport } from "../../firmware/core/platform";
import { nodePlatform } from "../../host-sim/platform";
import { seededRandom, SimClock, SimNetwork, SimSocket } from "../../host-sim/sim";
import { receivePath, ReceiveStats } from "./espruino-receive-net";
import { retainedGet } from "../../firmware/core/retain/store";
import { allSessions } from "../../firmware/core/session/registry";
import {
  ackBytes, connectBytes, Packet, PacketDecoder, publishBytes, subscribeBytes,
} from "./sim-client";

export interface SoakOptions {
  seed: number;
  /** Virtual clients (publishers, persistent and clean subscribers, will holders). */
  clients: number;
  /** Simulated time of the faulty phase. */
  simSeconds: number;
  /** Simulated time per step. */
  stepMs?: number;
  latencyMs?: number;
  jitterMs?: number;
  /** Mean simulated seconds between broker restarts; 0 = none. */
  restartEverySeconds?: number;
  /** How far the heap after GC may end above where it started. */
  heapBoundBytes?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Log every event of this client id (to debug a replayed seed). */
  trace?: string;
  /** Called with every broker the soak starts (the first and each restart): tests break it on purpose. */
  sabotage?: (b: Broker) => void;
  /** Time constants and fault rates (defaults: the simulated network's). */
  tempo?: Partial<SoakTempo>;
  /** Profile fields over soakProfile's. */
  profile?: Partial<BoardProfile>;
}

/**
 * The soak's time constants and fault rates. The defaults suit the simulated
 * clock (minutes of simulated time in seconds of wall time); a real-time run
 * (TCP) scales them down to fit a few seconds.
 */
export interface SoakTempo {
  /** Keepalive of the persistent and clean clients, and of the will holders (whose zombies expire), in s. */
  keepaliveS: number;
  willKeepaliveS: number;
  /** A stalled reader stays stalled this long, plus up to stallSpreadMs. */
  stallMs: number;
  stallSpreadMs: number;
  /** How long the drain may take before it is a violation; then how long the last wills get. */
  drainMs: number;
  settleMs: number;
  /** Multiplies every per-step fault chance (cuts, takeovers, stalls, zombies, rogue sockets, DISCONNECTs). */
  faultScale: number;
  /** Multiplies a publisher's chance per step of a new message (0.15). */
  publishScale: number;
  /** Chance per publishing step of a burst of same-sized QoS 0 on one topic (the Espruino fast path's food). */
  qos0Burst: number;
  /** Most broker restarts in a run (-1: no limit). */
  maxRestarts: number;
}

export const SIM_TEMPO: SoakTempo = {
  keepaliveS: 30, willKeepaliveS: 4, stallMs: 2000, stallSpreadMs: 10000, drainMs: 300000, settleMs: 10000,
  faultScale: 1, publishScale: 1, qos0Burst: 0, maxRestarts: -1,
};

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

/** What the soak needs of a network: a clock, sockets, a broker on it, a crash. */
export interface SoakNet {
  readonly kind: string;
  now(): number;
  schedule(ms: number, run: () => void): void;
  /** How long a client's close takes to reach the broker (Infinity: not known, real sockets). */
  readonly closeLatency: number;
  /** Start a broker on this network, made with the transport given (the first and each restart). */
  startBroker(make: (t: Transport) => Broker): Broker;
  /** Whether another broker can be started after a crash. */
  canRestart(): boolean;
  connect(remote?: string): SoakSocket;
  /** The broker process dies: every socket gone, the broker told nothing. */
  crash(): void;
  /** Sockets the network still holds open (broker side). */
  openSockets(): number;
  /** Write splits beyond the first chunk, and deliveries delayed. */
  faultCounts(): { splits: number; delayed: number };
  /** Figures of the network itself for the report. */
  extra(): { [k: string]: number };
  /** The run is over: stop timers, close what is open. */
  stop(): void;
}

/** The simulated network (host-sim/sim.ts), deterministic from the seed. */
export function soakNetSim(opts: SoakOptions): SoakNet & { clock: SimClock; net: SimNetwork } {
  const clock = new SimClock();
  const net = new SimNetwork(clock, {
    randomSplitSeed: opts.seed + 1, latencyMs: opts.latencyMs ?? 2, jitterMs: opts.jitterMs ?? 20, jitterSeed: opts.seed + 2,
  });
  return {
    kind: "sim",
    clock,
    net,
    now: () => clock.now,
    schedule: (ms, run) => clock.schedule(ms, run),
    get closeLatency() {
      return net.latency;
    },
    startBroker(make) {
      const b = make(net);
      net.attach(b);
      return b;
    },
    canRestart: () => true,
    connect: (remote) => net.connect(remote),
    crash: () => net.crash(),
    openSockets: () => net.sockets.size,
    faultCounts: () => ({ splits: net.faults.splits, delayed: net.faults.delayed }),
    extra: () => ({}),
    stop: () => {},
  };
}

/**
 * The simulated network with every chunk going through the Espruino
 * adapter's receive path (test/support/espruino-receive-net.ts): the fast
 * path for repeated QoS 0 and the shared receive buffer into the parser.
 */
export function soakNetReceive(opts: SoakOptions, rawFilter?: (s: string) => string): SoakNet {
  const sim = soakNetSim(opts);
  const stats: ReceiveStats = { calls: 0, congested: 0, rawWrites: 0, rawBytes: 0 };
  let restarts = 0;
  return {
    ...sim,
    kind: "espruino-receive",
    startBroker(make) {
      const path = receivePath(sim.net, opts.seed + 3 + restarts++, 0.1, stats, rawFilter);
      const b = make(path.transport);
      path.attach(b);
      return b;
    },
    extra: () => ({ receiveCalls: stats.calls, receiveCongested: stats.congested, fastPathWrites: stats.rawWrites, fastPathBytes: stats.rawBytes }),
  };
}

export interface SoakReport {
  seed: number;
  clients: number;
  simulatedMs: number;
  messages: { published: number; qos0: number; qos1: number; qos2: number; retained: number; acked: number; delivered: number; wills: number };
  faults: { [kind: string]: number };
  faultTotal: number;
  checks: number;
  violations: string[];
  memory: {
    peakConnections: number; peakSessions: number; peakSubscriptions: number; peakRetainedBytes: number;
    end: { connections: number; clients: number; sessions: number; offline: number; subscriptions: number; retained: number; retainedBytes: number; guardRecords: number; sockets: number };
    heapBaseline: number; heapEnd: number; heapBound: number;
  };
  /** Which network ran it, its own figures, and the wall time. */
  network: string;
  networkFigures: { [k: string]: number };
  wallMs: number;
}

type Role = "pub" | "psub" | "csub" | "will";

interface MsgRec {
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

interface Link {
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

const GROUPS = 6;
const WINDOW = 8;

/** The profile the soak runs under: limits that no fault-free run reaches, short stall and CONNECT timeouts. */
export function soakProfile(clients: number): BoardProfile {
  return {
    ...loadProfile("host"),
    maxClients: clients * 4 + 100,
    maxSessions: clients * 4 + 100,
    maxInflight: 10,
    maxQueued: 1000000,
    maxIncomingQos2: WINDOW * 2,
    maxSendQueueBytes: 4096,
    stallTimeoutMs: 4000,
    connectTimeoutMs: 5000,
    maxTakeovers: 4,
    takeoverWindowMs: 10000,
    tickMs: 250,
    sysIntervalMs: 0,
    // routes kept as on a board (route_cache.ts), few enough that the table fills and starts again
    maxRoutes: 8,
  };
}

function gcNow(): () => void {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  return () => {
    gc();
    gc();
  };
}

class VClient {
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

/** Run one soak episode on the simulated network. */
export function runSoak(opts: SoakOptions): SoakReport {
  return runSoakOn(opts, soakNetSim(opts));
}

/** Run one soak episode on a network whose clock advances when told (simulated). */
export function runSoakOn(opts: SoakOptions, net: SoakNet & { clock?: SimClock }): SoakReport {
  const run = soakRun(opts, net);
  for (;;) {
    const r = run.next();
    if (r.done === true) return r.value;
    if (net.clock === undefined) throw new Error("runSoakOn: " + net.kind + " has no simulated clock; use its async runner");
    net.clock.advance(r.value);
  }
}

/** Run one soak episode in real time (real sockets): every yielded step is awaited. */
export async function runSoakRealTime(opts: SoakOptions, net: SoakNet): Promise<SoakReport> {
  const run = soakRun(opts, net);
  for (;;) {
    const r = run.next();
    if (r.done === true) return r.value;
    await new Promise((resolve) => setTimeout(resolve, r.value));
  }
}

/**
 * One soak episode as a generator: it yields how many ms should pass
 * (the caller advances a simulated clock, or waits), and returns the report.
 */
export function* soakRun(opts: SoakOptions, net: SoakNet): Generator<number, SoakReport, void> {
  const wallStart = Date.now();
  const log = opts.log ?? (() => {});
  const stepMs = opts.stepMs ?? 100;
  const tempo: SoakTempo = { ...SIM_TEMPO, ...(opts.tempo ?? {}) };
  const KEEPALIVE_S = tempo.keepaliveS;
  const WILL_KEEPALIVE_S = tempo.willKeepaliveS;
  const fs = tempo.faultScale;
  const rand = seededRandom(opts.seed);
  const chance = (p: number): boolean => rand() < p;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const gc = gcNow();
  const violations: string[] = [];
  const violate = (what: string): void => {
    if (violations.length < 50) violations.push(what);
    else if (violations.length === 50) violations.push("... more violations not listed");
  };
  let checks = 0;
  const faults: { [kind: string]: number } = {
    cuts: 0, cutsMidPacket: 0, takeovers: 0, takeoversRefused: 0, stalls: 0, slowDisconnects: 0,
    keepaliveExpiries: 0, restarts: 0, garbage: 0, halfOpen: 0, randomSplits: 0, delays: 0,
  };

  // ---- the broker, its network, restarts ----
  const config: BrokerConfig = defaultConfig({ ...soakProfile(opts.clients), ...(opts.profile ?? {}) });
  // clients come from many addresses (10.0.0.x), not only loopback
  config.auth.anonymousLoopbackOnly = false;
  const makeBroker = (): Broker => net.startBroker((t) => {
    // a throw the transport caught (tcp.ts's guarded) is logged as "error on connection ...": a finding
    const b = new Broker(config, nodePlatform((line) => {
      if (line.indexOf("error on connection") === 0) violate("broker threw: " + line.split("\n").slice(0, 3).join(" | "));
    }, () => net.now()), t);
    if (opts.sabotage !== undefined) opts.sabotage(b);
    return b;
  });
  let broker = makeBroker();
  let slowBefore = 0;
  const tick = (): void => {
    broker.tick();
    net.schedule(config.profile.tickMs, tick);
  };
  net.schedule(config.profile.tickMs, tick);

  // ---- clients ----
  const clients: VClient[] = [];
  const roles: Role[] = [];
  for (let i = 0; i < opts.clients; i++) {
    const r = i % 10;
    roles.push(r < 3 ? "pub" : r < 6 ? "psub" : r < 8 ? "csub" : "will");
  }
  for (let i = 0; i < opts.clients; i++) clients.push(new VClient(i, roles[i]));
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

  const messages: MsgRec[] = [];
  /** Deliveries per subscriber: message id -> count (retained copies not counted). */
  const delivered: Map<string, number>[] = clients.map(() => new Map());
  /** Wills expected (payload -> when the broker handles the close), and received. */
  const willsExpected = new Map<string, number>();
  /** The connection (socket id) whose close each expected will waits for. */
  const willConn = new Map<string, number>();
  const willsReceived = new Map<string, number>();
  let deliveredCount = 0;
  const peak = { conns: 0, sessions: 0, subs: 0, retainedBytes: 0 };

  const trace = (c: VClient, what: string): void => {
    if (opts.trace === c.id) log(`t=${net.now()} ${c.id}: ${what}`);
  };
  const write = (l: Link, bytes: Uint8Array): void => {
    l.sock.write(bytes);
    l.lastSent = net.now();
  };

  const openLink = (c: VClient): Link => {
    c.inc++;
    const l: Link = { sock: net.connect("10.0.0." + (1 + (c.idx % 250))), dec: new PacketDecoder(), state: "connecting", inc: c.inc, lastSent: net.now() };
    trace(c, `opens incarnation ${c.inc} on sock ${l.sock.id}`);
    const persistent = c.role === "pub" || c.role === "psub";
    write(l, connectBytes(c.id, {
      clean: !persistent,
      keepalive: c.role === "will" ? WILL_KEEPALIVE_S : KEEPALIVE_S,
      will: c.role === "will" ? { topic: "will/" + c.id, message: "w|" + c.id + "|" + c.inc, qos: 2 } : undefined,
    }));
    return l;
  };

  const sendPublish = (c: VClient, l: Link, m: MsgRec, dup: boolean): void => {
    if (m.firstSent < 0) m.firstSent = net.now();
    write(l, publishBytes(m.topic, m.payload, m.qos, m.retain, m.pid, dup && m.qos > 0));
  };

  const allocPid = (c: VClient): number => {
    for (;;) {
      const id = c.nextPid;
      c.nextPid = id >= 65535 ? 1 : id + 1;
      if (!c.outgoing.some((m) => m.pid === id)) return id;
    }
  };

  const pumpBacklog = (c: VClient, l: Link): void => {
    while (c.backlog.length > 0 && c.outgoing.length < WINDOW) {
      const m = c.backlog.shift()!;
      if (m.qos > 0) {
        m.pid = allocPid(c);
        c.outgoing.push(m);
      }
      sendPublish(c, l, m, false);
    }
  };

  const expectWill = (c: VClient, l: Link, dueAt: number): void => {
    if (c.role !== "will") return;
    trace(c, `will of incarnation ${l.inc} expected at ${dueAt}`);
    willsExpected.set("w|" + c.id + "|" + l.inc, dueAt);
    willConn.set("w|" + c.id + "|" + l.inc, l.sock.id);
  };

  /** The link is over (from the client's side); `abnormal` when the broker will publish the will. */
  const linkDown = (c: VClient): void => {
    c.link = undefined;
    c.zombie = false;
    c.stalledUntil = 0;
  };

  const onUp = (c: VClient, l: Link, sessionPresent: boolean): void => {
    l.state = "up";
    if (c.role === "pub" || c.role === "psub") {
      checks++;
      if (c.sessionKnown && !sessionPresent) violate(`${c.id}: persistent session lost (CONNACK session present 0, incarnation ${l.inc})`);
      c.sessionKnown = true;
    }
    if (c.role === "pub") {
      // resend what the broker has not acknowledged, in order [MQTT-4.4.0-1]
      for (const m of c.outgoing) {
        if (m.released) write(l, ackBytes(PUBREL, m.pid));
        else sendPublish(c, l, m, true);
      }
      pumpBacklog(c, l);
    }
    if (c.role === "csub" || (c.role === "psub" && c.subs.some((s) => s.confirmedAt < 0))) {
      if (c.role === "csub") for (const s of c.subs) s.confirmedAt = -1;
      write(l, subscribeBytes(c.subPid, c.subs.map((s) => s.filter), c.subs.map((s) => s.qos)));
      c.subPid = c.subPid >= 65535 ? 1 : c.subPid + 1;
    }
  };

  const onPublish = (c: VClient, l: Link, p: Packet): void => {
    const payload = p.payload ?? "";
    const topic = p.topic ?? "";
    if (p.qos === 1) write(l, ackBytes(PUBACK, p.packetId));
    let fresh = true;
    if (p.qos === 2) {
      const key = "p" + p.packetId;
      if (c.awaitingRel[key] === true) fresh = false;
      c.awaitingRel[key] = true;
      write(l, ackBytes(PUBREC, p.packetId));
    }
    if (!fresh) return;
    checks++;
    if (!c.subs.some((s) => topicMatches(s.filter, topic))) violate(`${c.id}: got ${topic} which matches none of its filters`);
    if (p.retain) return; // a retained copy on (re)subscribe: not a live delivery
    const parts = payload.split("|");
    if (parts[0] === "w") {
      willsReceived.set(payload, (willsReceived.get(payload) ?? 0) + 1);
      return;
    }
    const m = messages[Number(parts[2])];
    if (parts[0] !== "m" || m === undefined || m.id !== parts[1] + "|" + parts[2] || m.topic !== topic) {
      violate(`${c.id}: got a message nobody published: ${topic} "${payload}"`);
      return;
    }
    if (p.qos > m.qos) violate(`${c.id}: ${m.id} delivered at QoS ${p.qos} above its publish QoS ${m.qos}`);
    const d = delivered[c.idx];
    const n = (d.get(m.id) ?? 0) + 1;
    d.set(m.id, n);
    deliveredCount++;
    if (n === 1) {
      const stream = m.pub + "|" + m.topic + "|" + p.qos;
      const last = c.lastSeq[stream] ?? -1;
      checks++;
      if (m.seq < last) violate(`${c.id}: order broken on ${m.topic} from ${pubs[m.pub].id} at QoS ${p.qos}: seq ${m.seq} after ${last}`);
      else c.lastSeq[stream] = m.seq;
    }
  };

  const onPacket = (c: VClient, l: Link, p: Packet): void => {
    if (p.type !== PUBLISH) trace(c, `inc ${l.inc} (${l === c.link ? "link" : l === c.next ? "next" : "old"}, sock ${l.sock.id}) got ${p.name} ${p.returnCode}`);
    if (p.type === CONNACK) {
      if (p.returnCode === 0) {
        if (l === c.next) {
          // takeover accepted: the old connection ends, its will goes out (clean session)
          const old = c.link!;
          expectWill(c, old, net.now());
          c.link = l;
          c.next = undefined;
        }
        onUp(c, l, p.sessionPresent);
      } else {
        if (l === c.next) {
          checks++;
          if (p.returnCode !== 3) violate(`${c.id}: takeover refused with CONNACK ${p.returnCode}, expected 3`);
          faults.takeoversRefused++;
          c.next = undefined;
          c.storm = 0;
        } else {
          violate(`${c.id}: CONNECT refused with ${p.returnCode}`);
          linkDown(c);
        }
      }
      return;
    }
    if (p.type === SUBACK) {
      for (let i = 0; i < c.subs.length; i++) {
        checks++;
        if (p.codes[i] !== c.subs[i].qos) violate(`${c.id}: SUBACK ${p.codes[i]} for ${c.subs[i].filter} qos ${c.subs[i].qos}`);
        else if (c.subs[i].confirmedAt < 0) c.subs[i].confirmedAt = net.now();
      }
      return;
    }
    if (p.type === PUBLISH) {
      onPublish(c, l, p);
      return;
    }
    if (p.type === PUBREL) {
      delete c.awaitingRel["p" + p.packetId];
      write(l, ackBytes(PUBCOMP, p.packetId));
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
        write(l, ackBytes(PUBREL, m.pid));
      } else if (p.type === PUBCOMP && m.qos === 2 && m.released) {
        c.outgoing.splice(i, 1);
      } else {
        violate(`${c.id}: ${p.name} for packet ${p.packetId} at QoS ${m.qos}`);
      }
      pumpBacklog(c, l);
      return;
    }
    if (p.type === PINGRESP) return;
    violate(`${c.id}: unexpected ${p.name} from the broker`);
  };

  const readLink = (c: VClient, l: Link): void => {
    if (l.sock.stalled) return;
    const bytes = l.sock.take();
    if (bytes.length > 0) {
      let packets: Packet[];
      try {
        packets = l.dec.feed(bytes);
      } catch (e) {
        violate(`${c.id}: the broker sent a malformed stream: ${(e as Error).message}`);
        l.sock.cut();
        return;
      }
      for (const p of packets) onPacket(c, l, p);
    }
  };

  /** Read what arrived; notice closes. */
  const service = (c: VClient): void => {
    const l = c.link;
    // the old connection first: what it got was sent before the takeover, what the new one gets after
    if (l !== undefined) readLink(c, l);
    if (c.next !== undefined) {
      const n = c.next;
      readLink(c, n);
      if (c.next === n && n.sock.closed) {
        // refused (or lost) takeover: its socket is gone
        c.next = undefined;
      }
    }
    if (l === undefined) return;
    if (c.link === l && l.sock.closedByBroker) {
      trace(c, `inc ${l.inc} closed by the broker in state ${l.state}${l.sock.lost ? " (lost)" : ""}`);
      if (l.state === "up" && !l.sock.lost) {
        // closed by the broker while up, without DISCONNECT: keepalive, slow consumer, ... -> will
        expectWill(c, l, net.now());
        if (c.zombie) faults.keepaliveExpiries++;
      }
      if (c.next !== undefined) {
        c.link = c.next;
        c.next = undefined;
      } else {
        linkDown(c);
      }
    }
  };

  /** A new message; `burstTopic`: a QoS 0 of a burst, on that topic, of a fixed size. */
  const newMessage = (c: VClient, burstTopic?: string): void => {
    const pubIdx = pubs.indexOf(c);
    const retain = burstTopic === undefined && chance(0.08);
    const qos = burstTopic !== undefined ? 0 : retain ? 1 + Math.floor(rand() * 2) : pick([0, 1, 1, 2, 2]);
    const topic = burstTopic !== undefined ? burstTopic : retain ? "r/" + c.id : "t/" + Math.floor(rand() * GROUPS) + "/" + c.id;
    const seq = messages.length;
    const id = pubIdx + "|" + seq;
    const head = "m|" + id + "|";
    const payload = burstTopic !== undefined ? head + "x".repeat(Math.max(0, 32 - head.length))
      : retain && chance(0.15) ? "" : head + "x".repeat(Math.floor(rand() * 40));
    const m: MsgRec = { id, pub: pubIdx, seq, topic, qos, retain, payload, firstSent: -1, acked: qos === 0, pid: 0, released: false };
    messages.push(m);
    c.seq++;
    if (qos === 0) {
      if (c.link !== undefined && c.link.state === "up") sendPublish(c, c.link, m, false);
      else m.firstSent = -2; // never sent: not counted
      return;
    }
    c.backlog.push(m);
    if (c.link !== undefined && c.link.state === "up" && c.next === undefined) pumpBacklog(c, c.link);
  };

  const junk = (): Uint8Array => publishBytes("junk/" + Math.floor(rand() * 1000), "j".repeat(Math.floor(rand() * 30)), pick([0, 1, 2]), false, 1 + Math.floor(rand() * 1000));

  const restart = (): void => {
    if (!net.canRestart() || (tempo.maxRestarts >= 0 && faults.restarts >= tempo.maxRestarts)) return;
    faults.restarts++;
    if (opts.trace !== undefined) log(`t=${net.now()} broker restart`);
    slowBefore += broker.guard.slowClosed;
    const state = serializeState(broker);
    const at = net.now();
    // connections the broker already ended while their client still thinks them up (a keepalive
    // expiry, a takeover whose CONNACK has not arrived): their wills went out before the crash
    for (const c of clients) {
      if (c.link !== undefined && c.link.state === "up" && broker.connection(c.link.sock.id) === undefined) expectWill(c, c.link, at);
    }
    net.crash();
    // wills of closes the dead broker never saw do not fire
    // (exactly: the dead broker still holds the connection, its close event had not run yet)
    // A will that survives this is settled (it fired before the crash): its due time moves before
    // this restart, so that no later one looks at it again, when the next broker's connection ids
    // start again from 1 and its old id may be another client's
    for (const [w, due] of willsExpected) {
      if (due < at) continue;
      if (broker.connection(willConn.get(w)!) !== undefined) willsExpected.delete(w);
      else willsExpected.set(w, at - 1);
    }
    for (const c of clients) {
      c.link = undefined;
      c.next = undefined;
      c.zombie = false;
      c.stalledUntil = 0;
      c.storm = 0;
    }
    broker = makeBroker();
    checks++;
    if (!restoreState(broker, state)) violate("restart: the persisted state did not load");
  };

  const act = (c: VClient, faultsOn: boolean): void => {
    const l = c.link;
    if (l === undefined) {
      if (c.next === undefined && chance(faultsOn ? 0.05 : 1)) c.link = openLink(c);
      return;
    }
    if (l.state !== "up" || c.next !== undefined) return;
    if (c.stalledUntil > 0) {
      if (net.now() >= c.stalledUntil) {
        c.stalledUntil = 0;
        l.sock.resume();
      }
      return;
    }
    // keepalive: a ping when idle for half the period (zombies stop)
    const ka = (c.role === "will" ? WILL_KEEPALIVE_S : KEEPALIVE_S) * 1000;
    if (!c.zombie && net.now() - l.lastSent >= ka / 2) write(l, Uint8Array.from([0xc0, 0]));
    if (c.zombie) return;
    if (c.role === "pub" && chance(0.15 * tempo.publishScale)) newMessage(c);
    if (c.role === "pub" && tempo.qos0Burst > 0 && chance(tempo.qos0Burst)) {
      const topic = "t/" + Math.floor(rand() * GROUPS) + "/" + c.id;
      const n = 2 + Math.floor(rand() * 10);
      for (let k = 0; k < n; k++) newMessage(c, topic);
    }
    if (!faultsOn) return;
    if (c.storm > 0) {
      c.storm--;
      faults.takeovers++;
      c.next = openLink(c);
      return;
    }
    const r = rand();
    if (r < 0.002 * fs) {
      // clean DISCONNECT
      write(l, Uint8Array.from([0xe0, 0]));
      l.state = "closing";
    } else if (r < 0.004 * fs) {
      faults.cuts++;
      const bytes = junk();
      const n = Math.floor(rand() * bytes.length);
      if (n > 0) faults.cutsMidPacket++;
      // at a random moment of the step: with packets and their acknowledgements in flight
      const cutAt = Math.floor(rand() * stepMs);
      linkDown(c);
      net.schedule(cutAt, () => {
        trace(c, `cuts inc ${l.inc} (sock ${l.sock.id}, closed ${l.sock.closed}, state ${l.state})`);
        if (l.sock.closed) return;
        // the close reaches the broker after the latency: that is when the will goes out
        if (l.state === "up") expectWill(c, l, net.now() + net.closeLatency);
        l.sock.cutAfter(bytes, n);
      });
    } else if (r < 0.005 * fs) {
      faults.takeovers++;
      if (chance(0.2)) c.storm = 6;
      c.next = openLink(c);
    } else if (r < 0.007 * fs && (c.role === "psub" || c.role === "csub")) {
      faults.stalls++;
      c.stalledUntil = net.now() + tempo.stallMs + Math.floor(rand() * tempo.stallSpreadMs);
      l.sock.stall();
    } else if (r < 0.008 * fs && c.role === "will") {
      c.zombie = true;
    }
  };

  const rogue = (): void => {
    const s = net.connect("10.9.9." + Math.floor(rand() * 250));
    const r = rand();
    if (r < 0.4) {
      faults.garbage++;
      const n = 1 + Math.floor(rand() * 40);
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = Math.floor(rand() * 256);
      s.write(bytes);
    } else if (r < 0.7) {
      faults.garbage++;
      s.write(connectBytes("rogue" + Math.floor(rand() * 1e6)));
      s.write(Uint8Array.from([0x30 + Math.floor(rand() * 16), 0xff, 0xff, 0xff, 0xff, 0x7f]));
    } else {
      faults.halfOpen++;
      const c = connectBytes("slowloris");
      s.write(c.subarray(0, Math.floor(rand() * c.length)));
    }
  };

  const sample = (): void => {
    if (broker.conns.length > peak.conns) peak.conns = broker.conns.length;
    if (broker.sessions.count > peak.sessions) peak.sessions = broker.sessions.count;
    if (broker.topics.count > peak.subs) peak.subs = broker.topics.count;
    if (broker.retained.bytes > peak.retainedBytes) peak.retainedBytes = broker.retained.bytes;
  };

  // ---- setup: the will watcher subscribes before anything else happens ----
  gc();
  const heapBaseline = process.memoryUsage().heapUsed;
  if (watcher !== undefined) {
    watcher.link = openLink(watcher);
    for (let i = 0; i < 50 && watcher.subs.some((s) => s.confirmedAt < 0); i++) {
      yield (stepMs);
      service(watcher);
    }
  }

  // ---- the faulty phase ----
  const steps = Math.floor((opts.simSeconds * 1000) / stepMs);
  const restartP = opts.restartEverySeconds !== undefined && opts.restartEverySeconds > 0 ? stepMs / (opts.restartEverySeconds * 1000) : 0;
  for (let step = 0; step < steps; step++) {
    for (const c of clients) service(c);
    for (const c of clients) act(c, true);
    if (chance(0.02 * fs)) rogue();
    if (restartP > 0 && chance(restartP)) net.schedule(Math.floor(rand() * stepMs), restart);
    yield (stepMs);
    sample();
    if (step % 1000 === 999) log(`  t=${Math.round(net.now() / 1000)}s messages=${messages.length} conns=${broker.conns.length} sessions=${broker.sessions.count} violations=${violations.length}`);
  }

  // ---- drain: no more faults or publishes; everyone back, everything acknowledged ----
  for (const c of clients) {
    c.zombie = false;
    c.storm = 0;
    if (c.stalledUntil > 0 && c.link !== undefined) {
      c.stalledUntil = 0;
      c.link.sock.resume();
    }
  }
  const quiet = (): boolean => {
    for (const c of clients) {
      if (c.role === "pub" && (c.outgoing.length > 0 || c.backlog.length > 0)) return false;
      if ((c.role === "pub" || c.role === "psub") && (c.link === undefined || c.link.state !== "up")) return false;
      if (c.role === "psub" && c.subs.some((s) => s.confirmedAt < 0)) return false;
    }
    for (const s of allSessions(broker.sessions)) if (s.inflight.length > 0 || s.queue.length > 0) return false;
    return true;
  };
  let drainSteps = 0;
  while (!quiet() && drainSteps < tempo.drainMs / stepMs) {
    for (const c of clients) service(c);
    for (const c of clients) {
      if (c.link === undefined && c.next === undefined && c.role !== "csub" && c.role !== "will") c.link = openLink(c);
      else if (c.link !== undefined && c.link.state === "up" && c.role === "pub") pumpBacklog(c, c.link);
      const ka = (c.role === "will" ? WILL_KEEPALIVE_S : KEEPALIVE_S) * 1000;
      if (c.link !== undefined && c.link.state === "up" && net.now() - c.link.lastSent >= ka / 2) write(c.link, Uint8Array.from([0xc0, 0]));
    }
    yield (stepMs);
    drainSteps++;
  }
  // the last wills (of connections closed just before the drain) and their deliveries
  for (let i = 0; i < tempo.settleMs / stepMs; i++) {
    for (const c of clients) {
      service(c);
      const ka = (c.role === "will" ? WILL_KEEPALIVE_S : KEEPALIVE_S) * 1000;
      if (c.link !== undefined && c.link.state === "up" && net.now() - c.link.lastSent >= ka / 2) write(c.link, Uint8Array.from([0xc0, 0]));
    }
    yield (stepMs);
  }
  checks++;
  if (!quiet()) violate("drain: the broker and the clients did not settle within " + (drainSteps * stepMs) / 1000 + " s");

  // ---- the delivery invariants ----
  const check = { count: () => { checks++; }, violate };
  const counts = checkDeliveries(check, messages, clients, delivered, willsExpected, willsReceived);
  const { acked, published, byQos, retainedCount } = counts;
  const lastRetained = checkRetained(check, broker, messages);

  // ---- everyone leaves: sessions discarded, retained cleared ----
  for (const c of clients) {
    if (c.link !== undefined && c.link.state === "up") {
      c.link.sock.resume();
      write(c.link, Uint8Array.from([0xe0, 0]));
      c.link.state = "closing";
    }
  }
  for (let i = 0; i < 20; i++) {
    for (const c of clients) service(c);
    yield (stepMs);
  }
  const cleaner = net.connect();
  cleaner.write(connectBytes("cleaner"));
  for (const c of clients) {
    if (c.role === "pub" || c.role === "psub") {
      const s = net.connect();
      s.write(connectBytes(c.id, { clean: true }));
      s.write(Uint8Array.from([0xe0, 0]));
    }
  }
  for (const topic of lastRetained.keys()) cleaner.write(publishBytes(topic, "", 0, true));
  cleaner.write(Uint8Array.from([0xe0, 0]));
  // rogue sockets left half-open time out
  yield (config.profile.connectTimeoutMs + 2 * config.profile.tickMs);
  for (const c of clients) service(c);
  sample();

  const end = checkEmpty(check, broker, net, config);

  faults.slowDisconnects = slowBefore + broker.guard.slowClosed;
  const fc = net.faultCounts();
  faults.randomSplits = fc.splits;
  faults.delays = fc.delayed;
  // discrete faults; random splits and jittered deliveries are counted apart (every write has some)
  let faultTotal = 0;
  for (const k of Object.keys(faults)) if (k !== "takeoversRefused" && k !== "cutsMidPacket" && k !== "randomSplits" && k !== "delays") faultTotal += faults[k];

  const report: SoakReport = {
    seed: opts.seed,
    clients: opts.clients,
    simulatedMs: net.now(),
    messages: { published, qos0: byQos[0], qos1: byQos[1], qos2: byQos[2], retained: retainedCount, acked, delivered: deliveredCount, wills: willsExpected.size },
    faults,
    faultTotal,
    checks,
    violations,
    memory: {
      peakConnections: peak.conns, peakSessions: peak.sessions, peakSubscriptions: peak.subs, peakRetainedBytes: peak.retainedBytes,
      end, heapBaseline, heapEnd: 0, heapBound: opts.heapBoundBytes ?? 16 * 1024 * 1024,
    },
    network: net.kind,
    networkFigures: net.extra(),
    wallMs: 0,
  };
  net.stop();
  // drop the model, keep the broker: what is left on the heap is the broker's
  messages.length = 0;
  for (const d of delivered) d.clear();
  clients.length = 0;
  willsExpected.clear();
  willsReceived.clear();
  gc();
  report.memory.heapEnd = process.memoryUsage().heapUsed;
  report.checks++;
  if (report.memory.heapEnd - heapBaseline > report.memory.heapBound) {
    violations.push(`memory: heap ${report.memory.heapEnd} after GC, ${report.memory.heapEnd - heapBaseline} above the baseline ${heapBaseline} (bound ${report.memory.heapBound})`);
  }
  // keep the broker reachable until here so the heap figure includes it
  if (broker.conns.length < 0) log("");
  report.wallMs = Date.now() - wallStart;
  return report;
}

/** Counts a check, and records what it found wrong. */
interface Checker {
  count(): void;
  violate(what: string): void;
}

/**
 * Every QoS 1/2 message acknowledged to its publisher; a QoS 0 one at most once to each subscriber;
 * each acknowledged QoS 1/2 message at each persistent subscriber whose subscription covered it
 * (QoS 2 exactly once); every will expected exactly once, and no other.
 */
function checkDeliveries(
  check: Checker, messages: MsgRec[], clients: VClient[], delivered: Map<string, number>[],
  willsExpected: Map<string, number>, willsReceived: Map<string, number>,
): { acked: number; published: number; byQos: number[]; retainedCount: number } {
  const violate = check.violate;
  let acked = 0;
  let published = 0;
  const byQos = [0, 0, 0];
  let retainedCount = 0;
  for (const m of messages) {
    if (m.firstSent === -2) continue;
    published++;
    byQos[m.qos]++;
    if (m.retain) retainedCount++;
    if (m.qos > 0 && m.acked) acked++;
    if (m.qos > 0 && !m.acked) {
      check.count();
      violate(`${m.id}: QoS ${m.qos} message never acknowledged to its publisher`);
    }
  }
  for (const c of clients) {
    const d = delivered[c.idx];
    for (const [id, n] of d) {
      const m = messages[Number(id.split("|")[1])];
      check.count();
      if (m.qos === 0 && n > 1) violate(`${c.id}: QoS 0 ${id} arrived ${n} times`);
    }
    if (c.role !== "psub") continue;
    for (const m of messages) {
      if (m.qos === 0 || !m.acked || m.retain || m.firstSent < 0) continue;
      let granted = -1;
      for (const s of c.subs) {
        if (s.confirmedAt >= 0 && s.confirmedAt <= m.firstSent && topicMatches(s.filter, m.topic) && s.qos > granted) granted = s.qos;
      }
      if (granted < 1) continue;
      const q = granted < m.qos ? granted : m.qos;
      const n = d.get(m.id) ?? 0;
      check.count();
      if (n === 0) violate(`${c.id}: QoS ${m.qos} ${m.id} on ${m.topic}, acknowledged, never arrived`);
      else if (q === 2 && n !== 1) violate(`${c.id}: QoS 2 ${m.id} arrived ${n} times`);
    }
  }
  // wills: exactly the expected ones, each once (QoS 2 to a QoS 2 subscription)
  for (const w of willsExpected.keys()) {
    check.count();
    const n = willsReceived.get(w) ?? 0;
    if (n !== 1) violate(`will ${w}: expected once, arrived ${n} times`);
  }
  for (const [w, n] of willsReceived) {
    check.count();
    if (!willsExpected.has(w)) violate(`will ${w}: arrived ${n} times, but its connection ended with DISCONNECT or never ended`);
  }
  return { acked, published, byQos, retainedCount };
}

/** The broker holds the last retained publish of each topic, and nothing else; returns those last publishes. */
function checkRetained(check: Checker, broker: Broker, messages: MsgRec[]): Map<string, string> {
  const violate = check.violate;
  const lastRetained = new Map<string, string>();
  for (const m of messages) if (m.retain && m.firstSent >= 0) lastRetained.set(m.topic, m.payload);
  let expectedRetained = 0;
  for (const [topic, payload] of lastRetained) {
    check.count();
    const got = retainedGet(broker.retained, topic);
    const text = got === undefined ? undefined : Buffer.from(got.data as Uint8Array).subarray(got.topicLen).toString("latin1");
    if (payload === "") {
      if (got !== undefined) violate(`retained ${topic}: cleared last, still holds "${text}"`);
    } else {
      expectedRetained++;
      if (text !== payload) violate(`retained ${topic}: expected "${payload}", holds ${text === undefined ? "nothing" : '"' + text + '"'}`);
    }
  }
  check.count();
  if (broker.retained.list.length !== expectedRetained) violate(`retained: ${broker.retained.list.length} topics held, ${expectedRetained} expected`);
  return lastRetained;
}

/** After every client left and the retained messages were cleared: nothing is held (the guard's records bounded). */
function checkEmpty(check: Checker, broker: Broker, net: SoakNet, config: BrokerConfig): SoakReport["memory"]["end"] {
  const violate = check.violate;
  const end = {
    connections: broker.conns.length,
    clients: broker.clientCount,
    sessions: broker.sessions.count,
    offline: broker.sessions.offline.length,
    subscriptions: broker.topics.count,
    retained: broker.retained.list.length,
    retainedBytes: broker.retained.bytes,
    guardRecords: broker.guard.records.length,
    sockets: net.openSockets(),
  };
  for (const [k, v] of Object.entries(end)) {
    check.count();
    if (k !== "guardRecords" && v !== 0) violate(`memory: ${k} is ${v} after every client left, expected 0`);
  }
  check.count();
  if (Object.keys(broker.guard.stalled).length !== 0) violate("memory: stalled connections still tracked");
  check.count();
  if (broker.guard.records.length > config.profile.maxClients) violate("memory: guard records past maxClients");
  return end;
}

export function formatReport(r: SoakReport): string {
  const m = r.messages;
  const f = Object.entries(r.faults).map(([k, v]) => `${k} ${v}`).join(", ");
  return [
    `soak seed ${r.seed} on ${r.network}: ${r.clients} clients, ${(r.simulatedMs / 1000).toFixed(r.network === "tcp" ? 1 : 0)} s ${r.network === "tcp" ? "real" : "simulated"}, wall ${(r.wallMs / 1000).toFixed(1)} s` +
      (Object.keys(r.networkFigures).length > 0 ? " (" + Object.entries(r.networkFigures).map(([k, v]) => `${k} ${v}`).join(", ") + ")" : ""),
    `  messages: ${m.published} published (QoS 0 ${m.qos0}, QoS 1 ${m.qos1}, QoS 2 ${m.qos2}, retained ${m.retained}), ${m.acked} acknowledged, ${m.delivered} deliveries, ${m.wills} wills`,
    `  faults injected: ${r.faultTotal} (${f}; splits and delays are network chunks and deliveries, not in the total)`,
    `  memory: peak ${r.memory.peakConnections} connections, ${r.memory.peakSessions} sessions, ${r.memory.peakSubscriptions} subscriptions, ${r.memory.peakRetainedBytes} retained bytes; at the end ${JSON.stringify(r.memory.end)}; heap ${(r.memory.heapBaseline / 1048576).toFixed(1)} MB -> ${(r.memory.heapEnd / 1048576).toFixed(1)} MB after GC`,
    `  checks: ${r.checks}, violations: ${r.violations.length}`,
    ...r.violations.map((v) => "  VIOLATION " + v),
  ].join("\n");
}
