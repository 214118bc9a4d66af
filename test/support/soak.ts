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
import { connectBytes, publishBytes } from "./sim-client";
import { Findings, GROUPS, MsgRec, SoakClients, soakPopulation, SoakSocket, topicMatches, VClient, WINDOW } from "./soak-clients";

export type { SoakSocket } from "./soak-clients";
export { topicMatches } from "./soak-clients";

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
  const findings = new Findings();
  const violate = findings.violate;
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
  const { clients, watcher } = soakPopulation(opts.clients, rand);
  const cl = new SoakClients(net, tempo, rand, findings, faults, clients, opts.trace, log);
  const { messages, delivered, willsExpected, willConn, willsReceived } = cl;
  const peak = { conns: 0, sessions: 0, subs: 0, retainedBytes: 0 };

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
      if (c.link !== undefined && c.link.state === "up" && broker.connection(c.link.sock.id) === undefined) cl.expectWill(c, c.link, at);
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
    findings.checks++;
    if (!restoreState(broker, state)) violate("restart: the persisted state did not load");
  };

  const act = (c: VClient, faultsOn: boolean): void => {
    const l = c.link;
    if (l === undefined) {
      if (c.next === undefined && chance(faultsOn ? 0.05 : 1)) c.link = cl.openLink(c);
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
    if (!c.zombie && net.now() - l.lastSent >= ka / 2) cl.write(l, Uint8Array.from([0xc0, 0]));
    if (c.zombie) return;
    if (c.role === "pub" && chance(0.15 * tempo.publishScale)) cl.newMessage(c);
    if (c.role === "pub" && tempo.qos0Burst > 0 && chance(tempo.qos0Burst)) {
      const topic = "t/" + Math.floor(rand() * GROUPS) + "/" + c.id;
      const n = 2 + Math.floor(rand() * 10);
      for (let k = 0; k < n; k++) cl.newMessage(c, topic);
    }
    if (!faultsOn) return;
    if (c.storm > 0) {
      c.storm--;
      faults.takeovers++;
      c.next = cl.openLink(c);
      return;
    }
    const r = rand();
    if (r < 0.002 * fs) {
      // clean DISCONNECT
      cl.write(l, Uint8Array.from([0xe0, 0]));
      l.state = "closing";
    } else if (r < 0.004 * fs) {
      faults.cuts++;
      const bytes = junk();
      const n = Math.floor(rand() * bytes.length);
      if (n > 0) faults.cutsMidPacket++;
      // at a random moment of the step: with packets and their acknowledgements in flight
      const cutAt = Math.floor(rand() * stepMs);
      cl.linkDown(c);
      net.schedule(cutAt, () => {
        cl.trace(c, `cuts inc ${l.inc} (sock ${l.sock.id}, closed ${l.sock.closed}, state ${l.state})`);
        if (l.sock.closed) return;
        // the close reaches the broker after the latency: that is when the will goes out
        if (l.state === "up") cl.expectWill(c, l, net.now() + net.closeLatency);
        l.sock.cutAfter(bytes, n);
      });
    } else if (r < 0.005 * fs) {
      faults.takeovers++;
      if (chance(0.2)) c.storm = 6;
      c.next = cl.openLink(c);
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
    watcher.link = cl.openLink(watcher);
    for (let i = 0; i < 50 && watcher.subs.some((s) => s.confirmedAt < 0); i++) {
      yield (stepMs);
      cl.service(watcher);
    }
  }

  // ---- the faulty phase ----
  const steps = Math.floor((opts.simSeconds * 1000) / stepMs);
  const restartP = opts.restartEverySeconds !== undefined && opts.restartEverySeconds > 0 ? stepMs / (opts.restartEverySeconds * 1000) : 0;
  for (let step = 0; step < steps; step++) {
    for (const c of clients) cl.service(c);
    for (const c of clients) act(c, true);
    if (chance(0.02 * fs)) rogue();
    if (restartP > 0 && chance(restartP)) net.schedule(Math.floor(rand() * stepMs), restart);
    yield (stepMs);
    sample();
    if (step % 1000 === 999) log(`  t=${Math.round(net.now() / 1000)}s messages=${messages.length} conns=${broker.conns.length} sessions=${broker.sessions.count} violations=${findings.violations.length}`);
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
    for (const c of clients) cl.service(c);
    for (const c of clients) {
      if (c.link === undefined && c.next === undefined && c.role !== "csub" && c.role !== "will") c.link = cl.openLink(c);
      else if (c.link !== undefined && c.link.state === "up" && c.role === "pub") cl.pumpBacklog(c, c.link);
      const ka = (c.role === "will" ? WILL_KEEPALIVE_S : KEEPALIVE_S) * 1000;
      if (c.link !== undefined && c.link.state === "up" && net.now() - c.link.lastSent >= ka / 2) cl.write(c.link, Uint8Array.from([0xc0, 0]));
    }
    yield (stepMs);
    drainSteps++;
  }
  // the last wills (of connections closed just before the drain) and their deliveries
  for (let i = 0; i < tempo.settleMs / stepMs; i++) {
    for (const c of clients) {
      cl.service(c);
      const ka = (c.role === "will" ? WILL_KEEPALIVE_S : KEEPALIVE_S) * 1000;
      if (c.link !== undefined && c.link.state === "up" && net.now() - c.link.lastSent >= ka / 2) cl.write(c.link, Uint8Array.from([0xc0, 0]));
    }
    yield (stepMs);
  }
  findings.checks++;
  if (!quiet()) violate("drain: the broker and the clients did not settle within " + (drainSteps * stepMs) / 1000 + " s");

  // ---- the delivery invariants ----
  const check = { count: () => { findings.checks++; }, violate };
  const counts = checkDeliveries(check, messages, clients, delivered, willsExpected, willsReceived);
  const { acked, published, byQos, retainedCount } = counts;
  const lastRetained = checkRetained(check, broker, messages);

  // ---- everyone leaves: sessions discarded, retained cleared ----
  for (const c of clients) {
    if (c.link !== undefined && c.link.state === "up") {
      c.link.sock.resume();
      cl.write(c.link, Uint8Array.from([0xe0, 0]));
      c.link.state = "closing";
    }
  }
  for (let i = 0; i < 20; i++) {
    for (const c of clients) cl.service(c);
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
  for (const c of clients) cl.service(c);
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
    messages: { published, qos0: byQos[0], qos1: byQos[1], qos2: byQos[2], retained: retainedCount, acked, delivered: cl.deliveredCount, wills: willsExpected.size },
    faults,
    faultTotal,
    checks: findings.checks,
    violations: findings.violations,
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
    findings.violations.push(`memory: heap ${report.memory.heapEnd} after GC, ${report.memory.heapEnd - heapBaseline} above the baseline ${heapBaseline} (bound ${report.memory.heapBound})`);
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
