import { Broker } from "../firmware/core/broker/broker";
import { BrokerConfig } from "../firmware/core/config";
import { Bytes, Transport } from "../firmware/core/platform";
import { nodePlatform } from "./platform";

/**
 * A deterministic network for the core: a simulated clock and simulated
 * sockets behind the same Transport the TCP adapter implements. Nothing here
 * uses real time: events run when the test advances the clock.
 *
 * Faults: split every write into single bytes (or random chunks from a
 * seeded generator), delay delivery, stall a reader (the broker's sends pile
 * up in its queue), cut a connection mid-packet.
 */
export class SimClock {
  now = 0;
  private seq = 0;
  /** A binary min-heap on (at, seq): events run in time order, ties in the order scheduled. */
  private events: { at: number; seq: number; run: () => void }[] = [];

  schedule(delayMs: number, run: () => void): void {
    this.scheduleAt(this.now + delayMs, run);
  }

  /** Schedule at an absolute time (not before now). */
  scheduleAt(at: number, run: () => void): void {
    const h = this.events;
    const e = { at: at < this.now ? this.now : at, seq: this.seq++, run };
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!SimClock.before(e, h[parent])) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = e;
  }

  /** Events waiting to run. */
  get pending(): number {
    return this.events.length;
  }

  private static before(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private pop(): { at: number; seq: number; run: () => void } {
    const h = this.events;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && SimClock.before(h[r], h[l]) ? r : l;
        if (!SimClock.before(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  /** Run everything due up to now + ms, in time order. */
  advance(ms: number): void {
    const until = this.now + ms;
    while (this.events.length > 0 && this.events[0].at <= until) {
      const e = this.pop();
      if (e.at > this.now) this.now = e.at;
      e.run();
    }
    this.now = until;
  }

  /** Run whatever is due now (zero-delay events). */
  settle(): void {
    this.advance(0);
  }
}

/** A small seeded generator (mulberry32) so random faults replay from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimOptions {
  /** Split every client write into single bytes. */
  splitBytes?: boolean;
  /** Split every client write into random chunks (seeded). */
  randomSplitSeed?: number;
  /** Delay of each delivery, both ways. */
  latencyMs?: number;
  /**
   * Extra random delay of each delivery, up to this many ms (seeded by jitterSeed): a
   * congested Wi-Fi. Each socket's bytes still arrive in order, as TCP keeps them.
   */
  jitterMs?: number;
  jitterSeed?: number;
}

export class SimSocket {
  id: number;
  net: SimNetwork;
  /** Bytes the broker sent that the client has received. */
  inbox: number[] = [];
  /** Bytes the broker sent that wait because the client is stalled. */
  pending: Uint8Array[] = [];
  /** Bytes in `pending`. */
  pendingBytes = 0;
  stalled = false;
  /** The broker closed it (after flushing what was queued). */
  closedByBroker = false;
  /** Either side closed it. */
  closed = false;

  constructor(id: number, net: SimNetwork) {
    this.id = id;
    this.net = net;
  }

  /** Client → broker. Accepts bytes or a hex string ("10 0C 00 04 ..."). */
  write(data: Uint8Array | number[] | string): void {
    if (this.closed) return;
    const bytes = typeof data === "string" ? hexToBytes(data) : Uint8Array.from(data);
    this.net.deliverToBroker(this, bytes);
  }

  /** Take everything received so far. */
  take(): Uint8Array {
    const out = Uint8Array.from(this.inbox);
    this.inbox = [];
    return out;
  }

  /** The client stops reading: the broker's sends queue up. */
  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    const p = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const chunk of p) for (let i = 0; i < chunk.length; i++) this.inbox.push(chunk[i]);
    if (this.closingAfterFlush) this.finishClose();
    // as a real socket's 'drain': the broker sends what waited for room
    else if (!this.closed && this.net.broker !== undefined) this.net.broker.drained(this.id);
  }

  /** The client closes cleanly (FIN). */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    const broker = this.net.broker;
    this.net.clock.schedule(this.net.latency, () => {
      if (this.net.sockets.get(this.id) === this) this.net.sockets.delete(this.id);
      if (broker !== undefined && this.net.broker === broker) broker.closed(this.id);
    });
  }

  /** The connection drops at once, whatever was in flight (cut mid-packet). */
  cut(): void {
    this.end();
  }

  /** Write the first `n` bytes of a packet, then drop the connection: a power cut mid-packet. */
  cutAfter(data: Uint8Array | number[], n: number): void {
    const bytes = Uint8Array.from(data);
    if (n > 0) this.write(bytes.subarray(0, Math.min(n, bytes.length)));
    this.cut();
  }

  /** The broker process died: the socket is gone, nobody is told (see SimNetwork.crash). */
  lost = false;

  /** Time the last delivery to the broker is due (jitter keeps order per socket). */
  lastToBroker = 0;
  /** Time the last delivery to this client is due. */
  lastToClient = 0;

  closingAfterFlush = false;
  finishClose(): void {
    if (this.lost) return;
    this.closedByBroker = true;
    this.closed = true;
    if (this.net.sockets.get(this.id) === this) this.net.sockets.delete(this.id);
    this.net.broker!.closed(this.id);
  }
}

export class SimNetwork implements Transport {
  clock: SimClock;
  broker: Broker | undefined;
  sockets = new Map<number, SimSocket>();
  latency: number;
  private splitBytes: boolean;
  private rand: (() => number) | undefined;
  private jitter: number;
  private jitterRand: () => number;
  /** Faults counted as they happen: chunks a write was split into beyond the first, deliveries delayed by jitter. */
  faults = { splits: 0, delayed: 0, crashes: 0 };

  constructor(clock: SimClock, opts: SimOptions = {}) {
    this.clock = clock;
    this.latency = opts.latencyMs ?? 0;
    this.splitBytes = opts.splitBytes ?? false;
    this.rand = opts.randomSplitSeed !== undefined ? seededRandom(opts.randomSplitSeed) : undefined;
    this.jitter = opts.jitterMs ?? 0;
    this.jitterRand = seededRandom(opts.jitterSeed ?? 1);
  }

  attach(broker: Broker): void {
    this.broker = broker;
  }

  /**
   * The broker process dies (power cut, crash): every socket is gone at once,
   * and the dead broker is told nothing (it publishes no will, saves nothing).
   * Bytes in flight are lost both ways. attach() a new broker to go on.
   */
  crash(): void {
    this.faults.crashes++;
    for (const s of this.sockets.values()) {
      s.closed = true;
      s.lost = true;
      s.pending = [];
      s.pendingBytes = 0;
    }
    this.sockets.clear();
    this.broker = undefined;
  }

  /** When a delivery sent now is due, with latency and jitter, never before the previous one on that path. */
  private dueAt(s: SimSocket, toBroker: boolean): number {
    let at = this.clock.now + this.latency;
    if (this.jitter > 0) {
      const extra = Math.floor(this.jitterRand() * (this.jitter + 1));
      if (extra > 0) this.faults.delayed++;
      at += extra;
    }
    const last = toBroker ? s.lastToBroker : s.lastToClient;
    if (at < last) at = last;
    if (toBroker) s.lastToBroker = at;
    else s.lastToClient = at;
    return at;
  }

  /** A client opens a connection. */
  connect(remote = "127.0.0.1"): SimSocket {
    const id = this.broker!.accept(remote);
    const s = new SimSocket(id, this);
    this.sockets.set(id, s);
    return s;
  }

  deliverToBroker(s: SimSocket, bytes: Uint8Array): void {
    const chunks: Uint8Array[] = [];
    if (this.splitBytes) {
      for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
    } else if (this.rand !== undefined) {
      let i = 0;
      while (i < bytes.length) {
        const n = 1 + Math.floor(this.rand() * Math.min(64, bytes.length - i));
        chunks.push(bytes.subarray(i, i + n));
        i += n;
      }
    } else {
      chunks.push(bytes);
    }
    if (chunks.length > 1) this.faults.splits += chunks.length - 1;
    const broker = this.broker;
    for (const c of chunks) {
      const copy = Uint8Array.from(c);
      const run = () => {
        if (!s.closed && this.broker === broker) this.broker!.data(s.id, copy, 0, copy.length);
      };
      if (this.latency > 0 || this.jitter > 0) this.clock.scheduleAt(this.dueAt(s, true), run);
      else run();
    }
  }

  // ---- Transport ----

  send(id: number, buf: Bytes, off: number, len: number): boolean {
    const s = this.sockets.get(id);
    if (s === undefined || s.closed || s.closingAfterFlush) return false;
    const bytes = new Uint8Array(len);
    for (let i = 0; i < len; i++) bytes[i] = buf[off + i];
    const land = () => {
      if (s.lost) return;
      if (s.stalled) {
        s.pending.push(bytes);
        s.pendingBytes += len;
      } else {
        for (let i = 0; i < len; i++) s.inbox.push(bytes[i]);
      }
    };
    if (this.latency > 0 || this.jitter > 0) this.clock.scheduleAt(this.dueAt(s, false), land);
    else land();
    return true;
  }

  close(id: number): void {
    const s = this.sockets.get(id);
    if (s === undefined || s.closingAfterFlush || s.closed) return;
    s.closingAfterFlush = true;
    // like end(): queued bytes are still delivered, then the socket closes
    const run = () => {
      if (!s.stalled) s.finishClose();
    };
    if (this.jitter > 0) this.clock.scheduleAt(this.dueAt(s, false), run);
    else this.clock.schedule(this.latency, run);
  }

  queued(id: number): number {
    const s = this.sockets.get(id);
    return s === undefined ? 0 : s.pendingBytes;
  }
}

export function hexToBytes(hex: string): Uint8Array {
  const clean = hex.replace(/[^0-9a-fA-F]/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array | number[]): string {
  let s = "";
  for (const b of bytes) s += (b < 16 ? "0" : "") + b.toString(16).toUpperCase();
  return s;
}

export interface SimBroker {
  broker: Broker;
  net: SimNetwork;
  clock: SimClock;
  logs: string[];
}

/** The broker on the simulated network and clock: ticks run as the test advances time. */
export function startSimBroker(config: BrokerConfig, opts: SimOptions = {}): SimBroker {
  const clock = new SimClock();
  const net = new SimNetwork(clock, opts);
  const logs: string[] = [];
  const broker = new Broker(config, nodePlatform((l) => logs.push(l), () => clock.now), net);
  net.attach(broker);
  const tick = () => {
    broker.tick();
    clock.schedule(config.profile.tickMs, tick);
  };
  clock.schedule(config.profile.tickMs, tick);
  return { broker, net, clock, logs };
}
