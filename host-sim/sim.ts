import { Broker } from "../firmware/broker/broker";
import { Bytes, Transport } from "../firmware/platform";

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
  private events: { at: number; seq: number; run: () => void }[] = [];

  schedule(delayMs: number, run: () => void): void {
    this.events.push({ at: this.now + delayMs, seq: this.seq++, run });
    this.events.sort((a, b) => (a.at - b.at) || (a.seq - b.seq));
  }

  /** Run everything due up to now + ms, in time order. */
  advance(ms: number): void {
    const until = this.now + ms;
    while (this.events.length > 0 && this.events[0].at <= until) {
      const e = this.events.shift()!;
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
}

export class SimSocket {
  id: number;
  net: SimNetwork;
  /** Bytes the broker sent that the client has received. */
  inbox: number[] = [];
  /** Bytes the broker sent that wait because the client is stalled. */
  pending: number[] = [];
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
    for (const b of p) this.inbox.push(b);
    if (this.closingAfterFlush) this.finishClose();
  }

  /** The client closes cleanly (FIN). */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.net.clock.schedule(this.net.latency, () => this.net.broker!.closed(this.id));
  }

  /** The connection drops at once, whatever was in flight (cut mid-packet). */
  cut(): void {
    this.end();
  }

  closingAfterFlush = false;
  finishClose(): void {
    this.closedByBroker = true;
    this.closed = true;
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

  constructor(clock: SimClock, opts: SimOptions = {}) {
    this.clock = clock;
    this.latency = opts.latencyMs ?? 0;
    this.splitBytes = opts.splitBytes ?? false;
    this.rand = opts.randomSplitSeed !== undefined ? seededRandom(opts.randomSplitSeed) : undefined;
  }

  attach(broker: Broker): void {
    this.broker = broker;
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
    for (const c of chunks) {
      const copy = Uint8Array.from(c);
      const run = () => {
        if (!s.closed) this.broker!.data(s.id, copy, 0, copy.length);
      };
      if (this.latency > 0) this.clock.schedule(this.latency, run);
      else run();
    }
  }

  // ---- Transport ----

  send(id: number, buf: Bytes, off: number, len: number): boolean {
    const s = this.sockets.get(id);
    if (s === undefined || s.closed || s.closingAfterFlush) return false;
    const bytes: number[] = new Array(len);
    for (let i = 0; i < len; i++) bytes[i] = buf[off + i];
    const land = () => {
      if (s.stalled) for (const b of bytes) s.pending.push(b);
      else for (const b of bytes) s.inbox.push(b);
    };
    if (this.latency > 0) this.clock.schedule(this.latency, land);
    else land();
    return true;
  }

  close(id: number): void {
    const s = this.sockets.get(id);
    if (s === undefined || s.closingAfterFlush || s.closed) return;
    s.closingAfterFlush = true;
    // like end(): queued bytes are still delivered, then the socket closes
    this.clock.schedule(this.latency, () => {
      if (!s.stalled) s.finishClose();
    });
  }

  queued(id: number): number {
    const s = this.sockets.get(id);
    return s === undefined ? 0 : s.pending.length;
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
