/**
 * Load and backpressure scenarios on the simulated network, each returning
 * the figures it measured (the tests bound them, test/cli/soak.ts prints
 * them): a connection flood with half-open sockets, a stalled subscriber
 * under a fast publisher, a takeover storm, a password brute force.
 */
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { CONNACK, CONNACK_NOT_AUTHORIZED, CONNACK_SERVER_UNAVAILABLE } from "../../firmware/core/codec/constants";
import { BrokerConfig } from "../../firmware/core/config";
import { BoardProfile } from "../../firmware/core/profile";
import { defaultConfig, loadProfile } from "../../host-sim/config";
import { hashPassword } from "../../host-sim/password-file";
import { startSimBroker } from "../../host-sim/sim";
import { connectBytes, decodeAll, publishBytes, subscribeBytes } from "./sim-client";
import { findSession } from "../../firmware/core/session/registry";

let gcFn: (() => void) | undefined;
export function gc(): void {
  if (gcFn === undefined) {
    v8.setFlagsFromString("--expose-gc");
    gcFn = vm.runInNewContext("gc") as () => void;
  }
  gcFn();
  gcFn();
}

function heap(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

export interface FloodFigures {
  board: string;
  maxClients: number;
  attempted: number;
  accepted: number;
  refused: number;
  refusedClosed: number;
  halfOpen: number;
  halfOpenClosedAfterMs: number;
  peakConnections: number;
  heapPeakDelta: number;
  heapAfterDelta: number;
}

/** `clients` CONNECTs (beyond maxClients: CONNACK 3 and a close) and `halfOpen` sockets that never send CONNECT. */
export function connectionFlood(profile: BoardProfile, clients: number, halfOpen: number): FloodFigures {
  const sim = startSimBroker(defaultConfig(profile));
  const base = heap();
  const socks = [];
  const idle = [];
  for (let i = 0; i < halfOpen; i++) {
    const s = sim.net.connect();
    // some send a few bytes of a CONNECT (slowloris), some nothing
    if (i % 2 === 0) s.write(connectBytes("slow" + i).subarray(0, 5));
    idle.push(s);
  }
  for (let i = 0; i < clients; i++) {
    const s = sim.net.connect();
    s.write(connectBytes("flood" + i, { keepalive: 0 }));
    socks.push(s);
  }
  sim.clock.settle();
  const peakConnections = sim.broker.conns.length;
  const heapPeak = heap();
  let accepted = 0;
  let refused = 0;
  let refusedClosed = 0;
  for (const s of socks) {
    const ps = decodeAll(s.take());
    const ack = ps.find((p) => p.type === CONNACK);
    if (ack !== undefined && ack.returnCode === 0) accepted++;
    else if (ack !== undefined && ack.returnCode === CONNACK_SERVER_UNAVAILABLE) {
      refused++;
      if (s.closedByBroker) refusedClosed++;
    }
  }
  // the half-open ones: closed by the CONNECT timeout
  const start = sim.clock.now;
  let closedAfter = -1;
  for (let t = 0; t <= profile.connectTimeoutMs + 2 * profile.tickMs; t += profile.tickMs) {
    sim.clock.advance(profile.tickMs);
    if (closedAfter < 0 && idle.every((s) => s.closedByBroker)) closedAfter = sim.clock.now - start;
  }
  for (const s of socks) if (!s.closed) s.end();
  sim.clock.settle();
  return {
    board: profile.name,
    maxClients: profile.maxClients,
    attempted: clients,
    accepted,
    refused,
    refusedClosed,
    halfOpen,
    halfOpenClosedAfterMs: closedAfter,
    peakConnections,
    heapPeakDelta: heapPeak - base,
    heapAfterDelta: heap() - base,
  };
}

export interface SlowConsumerFigures {
  board: string;
  published: number;
  payloadBytes: number;
  maxSendQueueBytes: number;
  peakQueuedBytes: number;
  qos0Dropped: number;
  qos1Queued: number;
  qos1Dropped: number;
  slowClosedAfterMs: number;
  willPublished: boolean;
  fastSubscriberGot: number;
  heapPeakDelta: number;
}

/** A subscriber stops reading while a publisher floods it at QoS 0 and QoS 1; a second subscriber keeps up. */
export function slowConsumer(profile: BoardProfile, messages: number, payloadBytes: number): SlowConsumerFigures {
  const config: BrokerConfig = defaultConfig(profile);
  const sim = startSimBroker(config);
  const base = heap();
  const slow = sim.net.connect();
  slow.write(connectBytes("slow", { clean: false, will: { topic: "gone/slow", message: "slow consumer dropped" } }));
  slow.write(subscribeBytes(1, ["load/0", "load/1"], [0, 1]));
  const fast = sim.net.connect();
  fast.write(connectBytes("fast"));
  fast.write(subscribeBytes(1, ["load/0", "gone/#"], [0, 0]));
  const pub = sim.net.connect();
  pub.write(connectBytes("pub"));
  sim.clock.settle();
  slow.take();
  fast.take();
  pub.take();
  slow.stall();
  const payload = "x".repeat(payloadBytes);
  let peakQueued = 0;
  let fastGot = 0;
  const sess = findSession(sim.broker.sessions, "slow")!;
  let peakHeap = 0;
  for (let i = 0; i < messages; i++) {
    pub.write(publishBytes("load/" + (i % 2), payload, i % 2, false, i % 2 === 1 ? 1 + (i % 60000) : 0));
    if (i % 50 === 0) {
      sim.clock.advance(10);
      fastGot += decodeAll(fast.take()).filter((p) => p.topic === "load/0").length;
      pub.take();
      const q = sim.net.queued(slow.id);
      if (q > peakQueued) peakQueued = q;
    }
    if (i % 2000 === 0) {
      const h = heap() - base;
      if (h > peakHeap) peakHeap = h;
    }
  }
  sim.clock.settle();
  fastGot += decodeAll(fast.take()).filter((p) => p.topic === "load/0").length;
  const qos0Dropped = sim.broker.stats.publishDropped - sess.dropped;
  const qos1Queued = sess.queue.length + sess.inflight.length;
  const qos1Dropped = sess.dropped;
  // the stall timer: the client never reads again
  const start = sim.clock.now;
  let closedAfter = -1;
  for (let t = 0; t < profile.stallTimeoutMs + 4 * profile.tickMs; t += profile.tickMs) {
    sim.clock.advance(profile.tickMs);
    if (closedAfter < 0 && findSession(sim.broker.sessions, "slow")!.connId < 0) closedAfter = sim.clock.now - start;
  }
  const will = decodeAll(fast.take()).some((p) => p.topic === "gone/slow");
  slow.resume();
  sim.clock.settle();
  return {
    board: profile.name,
    published: messages,
    payloadBytes,
    maxSendQueueBytes: profile.maxSendQueueBytes,
    peakQueuedBytes: peakQueued,
    qos0Dropped,
    qos1Queued,
    qos1Dropped,
    slowClosedAfterMs: closedAfter,
    willPublished: will,
    fastSubscriberGot: fastGot,
    heapPeakDelta: peakHeap,
  };
}

export interface StormFigures {
  attempts: number;
  accepted: number;
  refused: number;
  maxTakeovers: number;
  windowMs: number;
}

/** One client id reconnecting `attempts` times in a burst, each a takeover of the last. */
export function takeoverStorm(profile: BoardProfile, attempts: number): StormFigures {
  const sim = startSimBroker(defaultConfig(profile));
  const first = sim.net.connect();
  first.write(connectBytes("twin"));
  sim.clock.settle();
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < attempts; i++) {
    const s = sim.net.connect();
    s.write(connectBytes("twin"));
    sim.clock.advance(10);
    const ack = decodeAll(s.take()).find((p) => p.type === CONNACK);
    if (ack !== undefined && ack.returnCode === 0) accepted++;
    else if (ack !== undefined && ack.returnCode === CONNACK_SERVER_UNAVAILABLE) refused++;
  }
  return { attempts, accepted, refused, maxTakeovers: profile.maxTakeovers, windowMs: profile.takeoverWindowMs };
}

export interface BruteForceFigures {
  attempts: number;
  checked: number;
  refusedUnchecked: number;
  maxAuthFailures: number;
  backoffMs: number;
  otherAddressAccepted: boolean;
  /** Another user behind the same address got in during the backoff. */
  otherUserAccepted: boolean;
  afterBackoffAccepted: boolean;
}

/** Wrong passwords from one address, then the right one from it and from another address. */
export function bruteForce(profile: BoardProfile, attempts: number): BruteForceFigures {
  const config = defaultConfig(profile);
  config.auth.allowAnonymous = false;
  config.auth.passwords = { ualice: hashPassword("right-password"), ubob: hashPassword("bobs-password") };
  const sim = startSimBroker(config);
  let checks = 0;
  const hashes = sim.broker.platform.hashes;
  const sha = hashes.sha256;
  hashes.sha256 = (d: string) => {
    checks++;
    return sha(d);
  };
  let unchecked = 0;
  try {
  for (let i = 0; i < attempts; i++) {
    const before = checks;
    const s = sim.net.connect("192.0.2.66");
    s.write(connectBytes("bf" + i, { username: "alice", password: "guess" + i }));
    sim.clock.advance(10);
    const ack = decodeAll(s.take()).find((p) => p.type === CONNACK);
    if (ack !== undefined && ack.returnCode === CONNACK_NOT_AUTHORIZED && checks === before) unchecked++;
  }
  const tryRight = (remote: string, user = "alice", password = "right-password"): boolean => {
    const s = sim.net.connect(remote);
    s.write(connectBytes("ok-" + user + "-" + remote, { username: user, password }));
    sim.clock.advance(10);
    const ack = decodeAll(s.take()).find((p) => p.type === CONNACK);
    return ack !== undefined && ack.returnCode === 0;
  };
  const other = tryRight("192.0.2.77");
  // behind the same address (a house's NAT), another user is not locked out by alice's guesser
  const otherUser = tryRight("192.0.2.66", "bob", "bobs-password");
  const blockedStill = !tryRight("192.0.2.66");
  sim.clock.advance(profile.authBackoffMs + profile.tickMs);
  const after = tryRight("192.0.2.66");
  return {
    attempts,
    checked: attempts - unchecked,
    refusedUnchecked: unchecked,
    maxAuthFailures: profile.maxAuthFailures,
    backoffMs: profile.authBackoffMs,
    otherAddressAccepted: other,
    otherUserAccepted: otherUser,
    afterBackoffAccepted: after && blockedStill,
  };
  } finally {
    // nodePlatform's hashes are shared: put sha256 back whatever happened
    hashes.sha256 = sha;
  }
}

export function loadFigures(boardNames: string[] = ["host", "esp32"]): string[] {
  const lines: string[] = [];
  for (const name of boardNames) {
    const p = loadProfile(name);
    const flood = connectionFlood(p, p.maxClients + Math.max(16, Math.floor(p.maxClients / 5)), Math.min(p.maxClients * 2, 2000));
    lines.push(`flood [${name}]: ${flood.attempted} CONNECTs and ${flood.halfOpen} half-open sockets against maxClients ${flood.maxClients}: ` +
      `${flood.accepted} accepted, ${flood.refused} refused with CONNACK 3 (${flood.refusedClosed} closed), half-open closed after ${flood.halfOpenClosedAfterMs} ms; ` +
      `peak ${flood.peakConnections} connections, heap +${kb(flood.heapPeakDelta)} at peak, +${kb(flood.heapAfterDelta)} after`);
    // enough to pass the send-queue limit twice over
    const payload = Math.min(400, p.maxPacketSize - 20);
    const slow = slowConsumer(p, Math.max(20000, Math.ceil((4 * p.maxSendQueueBytes) / (payload + 10))), payload);
    lines.push(`slow consumer [${name}]: ${slow.published} publishes of ${slow.payloadBytes} B (half QoS 0, half QoS 1) to a stalled subscriber: ` +
      `send queue peak ${slow.peakQueuedBytes} B (limit ${slow.maxSendQueueBytes}), QoS 0 dropped ${slow.qos0Dropped}, QoS 1 held ${slow.qos1Queued} (in flight + queue), refused ${slow.qos1Dropped}; ` +
      `disconnected ${slow.slowClosedAfterMs} ms into the stall (will ${slow.willPublished ? "published" : "NOT published"}); heap +${kb(slow.heapPeakDelta)} at most; a fast subscriber got ${slow.fastSubscriberGot}`);
    const storm = takeoverStorm(p, 50);
    lines.push(`takeover storm [${name}]: ${storm.attempts} takeovers of one client id in a burst: ${storm.accepted} accepted, ${storm.refused} refused with CONNACK 3 (limit ${storm.maxTakeovers} per ${storm.windowMs} ms)`);
    const bf = bruteForce(p, 200);
    lines.push(`brute force [${name}]: ${bf.attempts} wrong passwords from one address: ${bf.checked} checked, ${bf.refusedUnchecked} refused unchecked (limit ${bf.maxAuthFailures}, backoff ${bf.backoffMs} ms); ` +
      `another address ${bf.otherAddressAccepted ? "still gets in" : "was refused"}; the address gets in after its backoff: ${bf.afterBackoffAccepted}`);
  }
  return lines;
}

function kb(n: number): string {
  return (n / 1024).toFixed(0) + " KB";
}

