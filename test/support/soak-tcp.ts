/**
 * The soak's network on real TCP: the broker behind host-sim/tcp.ts's
 * TcpTransport (its per-turn write coalescing, its queue accounting and
 * 'drain', its hard limit) on 127.0.0.1 at an ephemeral port, the soak's
 * clients on node:net sockets. Time is real: the run is bounded (few
 * clients, seconds), it is not deterministic, and it stops by itself.
 *
 * Faults, as on the simulated network where real sockets allow them:
 * - every client write is split at random byte boundaries into chunks
 *   written a millisecond or more apart, some delayed further (jitter);
 *   each socket's bytes keep their order;
 * - cuts mid-packet: part of a packet, then a FIN (end) or a reset
 *   (resetAndDestroy), at random;
 * - stalled readers: the client socket is paused (the kernel's buffers fill
 *   before TcpTransport's queue does, so a short stall mostly delays);
 * - broker restarts: the broker process "dies" (its sockets are destroyed
 *   and it is told nothing), a new broker restores the persisted state on
 *   another TcpTransport (one of a few listening from the start: listen()
 *   is asynchronous and a restart happens inside a timer callback);
 * - keepalive expiries of zombies: in real time, with a 1 s keepalive.
 * What real TCP cannot do here: the simulated clock's jumps (a zombie's
 * keepalive is waited out in real time, so keepalives are short), per-client
 * source addresses (everything is 127.0.0.1), and a latency known to the
 * model (when a client's close reaches the broker is not known: a restart
 * decides a will by whether the dead broker still held the connection).
 */
import * as net from "node:net";
import { Broker } from "../../firmware/core/broker/broker";
import { seededRandom } from "../../host-sim/sim";
import { TcpTransport } from "../../host-sim/tcp";
import { runSoakRealTime, SoakNet, SoakOptions, SoakReport, SoakSocket, SoakTempo } from "./soak";

/** Tempo for a run of a few seconds in real time. */
export const TCP_TEMPO: Partial<SoakTempo> = {
  keepaliveS: 30, willKeepaliveS: 1, stallMs: 100, stallSpreadMs: 500, drainMs: 15000, settleMs: 400, faultScale: 5, publishScale: 3, maxRestarts: 2,
};

export interface TcpSoakOptions extends SoakOptions {
  /** Extra random delay of a chunk, up to this many ms (on a share of the chunks). */
  jitterMs?: number;
}

/** One listening TcpTransport and what is known of its connections. */
class Server {
  transport = new TcpTransport();
  port = 0;
  server: net.Server | undefined;
  /** Client port -> the broker's connection id. */
  ids = new Map<number, number>();
  /** Server-side sockets not closed yet. */
  open = new Set<net.Socket>();
  private last: net.Socket | undefined;
  broker: Broker | undefined;

  async listen(): Promise<void> {
    this.server = await this.transport.listen(0, "127.0.0.1");
    this.port = (this.server.address() as net.AddressInfo).port;
    // before TcpTransport's own listener: the socket whose accept() comes next
    this.server.prependListener("connection", (sock: net.Socket) => {
      this.last = sock;
      this.open.add(sock);
      sock.once("close", () => this.open.delete(sock));
    });
  }

  attach(b: Broker): void {
    this.broker = b;
    this.transport.attach(b);
    // the connection id of each socket: accept() runs inside TcpTransport's 'connection' listener
    const accept = b.accept.bind(b);
    b.accept = (remote: string): number => {
      const id = accept(remote);
      if (this.last !== undefined && this.last.remotePort !== undefined) this.ids.set(this.last.remotePort, id);
      return id;
    };
  }
}

class TcpSoakSocket implements SoakSocket {
  private sock: net.Socket;
  private srv: Server;
  private owner: TcpSoakNet;
  private cachedId = -1;
  private inbox: Buffer[] = [];
  private queue: { at: number; bytes: Uint8Array }[] = [];
  private lastDue = 0;
  private timer: NodeJS.Timeout | undefined;
  stalled = false;
  closedByBroker = false;
  closed = false;
  lost = false;
  private selfClosed = false;

  constructor(owner: TcpSoakNet, srv: Server) {
    this.owner = owner;
    this.srv = srv;
    this.sock = net.connect(srv.port, "127.0.0.1");
    this.sock.setNoDelay(true);
    this.sock.on("data", (d: Buffer) => {
      this.inbox.push(d);
      this.resolveId();
    });
    this.sock.on("error", () => { /* 'close' follows */ });
    const gone = () => {
      if (!this.selfClosed && !this.lost) this.closedByBroker = true;
      this.closed = true;
    };
    this.sock.on("end", gone);
    this.sock.on("close", () => {
      gone();
      this.owner.sockets.delete(this);
      if (this.timer !== undefined) clearTimeout(this.timer);
    });
  }

  private resolveId(): void {
    if (this.cachedId < 0 && this.sock.localPort !== undefined) {
      const id = this.srv.ids.get(this.sock.localPort);
      if (id !== undefined) this.cachedId = id;
    }
  }

  get id(): number {
    this.resolveId();
    return this.cachedId;
  }

  write(data: Uint8Array): void {
    if (this.closed) return;
    const o = this.owner;
    const bytes = Uint8Array.from(data);
    let i = 0;
    let first = true;
    while (i < bytes.length) {
      const n = 1 + Math.floor(o.rand() * Math.min(64, bytes.length - i));
      let at = o.now() + (first ? 0 : 1);
      if (o.jitterMs > 0 && o.rand() < 0.2) {
        at += Math.floor(o.rand() * (o.jitterMs + 1));
        o.delayed++;
      }
      if (!first) o.splits++;
      if (at < this.lastDue) at = this.lastDue;
      this.lastDue = at;
      this.queue.push({ at, bytes: bytes.subarray(i, i + n) });
      i += n;
      first = false;
    }
    this.pump();
  }

  private pump(): void {
    this.timer = undefined;
    const now = this.owner.now();
    while (this.queue.length > 0 && this.queue[0].at <= now) {
      const c = this.queue.shift()!;
      if (!this.closed) this.sock.write(c.bytes);
    }
    if (this.queue.length > 0 && !this.closed) this.timer = setTimeout(() => this.pump(), this.queue[0].at - now);
  }

  take(): Uint8Array {
    if (this.inbox.length === 0) return new Uint8Array(0);
    const out = Buffer.concat(this.inbox);
    this.inbox = [];
    return out;
  }

  stall(): void {
    this.stalled = true;
    this.sock.pause();
  }

  resume(): void {
    this.stalled = false;
    this.sock.resume();
  }

  /** Bytes in flight are dropped (as the simulated cut drops undelivered ones). */
  private drop(): void {
    this.queue = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  cut(): void {
    if (this.closed) return;
    this.drop();
    this.selfClosed = true;
    this.closed = true;
    this.sock.destroy();
  }

  cutAfter(data: Uint8Array, n: number): void {
    if (this.closed) return;
    this.drop();
    this.selfClosed = true;
    this.closed = true;
    const part = Uint8Array.from(data).subarray(0, Math.min(n, data.length));
    if (this.owner.rand() < 0.5) {
      // a FIN after the partial packet
      this.sock.end(part);
      this.owner.cutsFin++;
    } else {
      // a reset: what the kernel has not delivered may be gone with it
      if (part.length > 0) this.sock.write(part);
      this.sock.resetAndDestroy();
      this.owner.cutsReset++;
    }
  }

  /** The broker died: the client notices nothing in the model; the socket is dropped. */
  lose(): void {
    this.lost = true;
    this.closed = true;
    this.drop();
    this.sock.destroy();
  }

  destroy(): void {
    this.drop();
    this.selfClosed = true;
    this.sock.destroy();
  }
}

export class TcpSoakNet implements SoakNet {
  readonly kind = "tcp";
  readonly closeLatency = Infinity;
  rand: () => number;
  jitterMs: number;
  splits = 0;
  delayed = 0;
  cutsFin = 0;
  cutsReset = 0;
  peakQueued = 0;
  sockets = new Set<TcpSoakSocket>();
  private servers: Server[] = [];
  private current = -1;
  private timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private t0 = performance.now();

  private constructor(seed: number, jitterMs: number) {
    this.rand = seededRandom(seed);
    this.jitterMs = jitterMs;
  }

  /** A network with `brokers` listening transports: the first broker and up to brokers - 1 restarts. */
  static async open(seed: number, brokers: number, jitterMs = 5): Promise<TcpSoakNet> {
    const n = new TcpSoakNet(seed, jitterMs);
    for (let i = 0; i < brokers; i++) {
      const s = new Server();
      await s.listen();
      n.servers.push(s);
    }
    return n;
  }

  now(): number {
    return Math.floor(performance.now() - this.t0);
  }

  schedule(ms: number, run: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) run();
    }, ms);
    this.timers.add(t);
  }

  startBroker(make: (t: TcpTransport) => Broker): Broker {
    const s = this.servers[++this.current];
    if (s === undefined) throw new Error("no listening transport left for another broker");
    const b = make(s.transport);
    s.attach(b);
    return b;
  }

  canRestart(): boolean {
    return this.current + 1 < this.servers.length;
  }

  connect(): SoakSocket {
    const s = new TcpSoakSocket(this, this.servers[this.current]);
    this.sockets.add(s);
    return s;
  }

  crash(): void {
    const s = this.servers[this.current];
    const dead = s.broker!;
    // the process is gone: nothing reaches this broker any more
    dead.data = () => {};
    dead.closed = () => {};
    (dead as unknown as { drained: (id: number) => void }).drained = () => {};
    dead.tick = () => {};
    for (const sock of s.open) sock.destroy();
    s.server!.close();
    for (const c of [...this.sockets]) c.lose();
  }

  /** Server-side sockets still open, on every transport. */
  openSockets(): number {
    let n = 0;
    for (const s of this.servers) n += s.open.size;
    return n;
  }

  /** The current transport's accounting: the most any connection had queued. */
  sampleQueues(): void {
    const s = this.servers[this.current];
    if (s === undefined || s.broker === undefined) return;
    for (const c of s.broker.conns) {
      const q = s.transport.queued(c.id);
      if (q > this.peakQueued) this.peakQueued = q;
    }
  }

  faultCounts(): { splits: number; delayed: number } {
    return { splits: this.splits, delayed: this.delayed };
  }

  extra(): { [k: string]: number } {
    return { cutsFin: this.cutsFin, cutsReset: this.cutsReset, brokers: this.current + 1, peakQueuedBytes: this.peakQueued };
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of [...this.sockets]) c.destroy();
    for (const s of this.servers) {
      for (const sock of s.open) sock.destroy();
      if (s.server !== undefined && s.server.listening) s.server.close();
    }
  }
}

/** The soak on real TCP, bounded: `simSeconds` is real seconds here. */
export async function runSoakTcp(opts: TcpSoakOptions): Promise<SoakReport> {
  const tempo = { ...TCP_TEMPO, ...(opts.tempo ?? {}) };
  const n = await TcpSoakNet.open(opts.seed + 1, (tempo.maxRestarts ?? 2) + 1, opts.jitterMs ?? 5);
  const timer = setInterval(() => n.sampleQueues(), 20);
  try {
    return await runSoakRealTime({
      stepMs: 25,
      ...opts,
      tempo,
      // a short CONNECT timeout: the half-open sockets time out in real time before the end
      profile: { connectTimeoutMs: 1000, tickMs: 100, ...(opts.profile ?? {}) },
    }, n);
  } finally {
    clearInterval(timer);
    n.stop();
  }
}
