import { readFileSync } from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { Broker } from "../firmware/broker/broker";
import { Bytes, Transport } from "../firmware/platform";
import { sendQueueHardLimit } from "../firmware/profile";
import type { TlsOptions } from "./config";

/** How long a closing socket may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 2000;
/** First outgoing buffer of a turn when the connection sent nothing last turn. */
const MIN_PENDING = 256;
/** Largest outgoing buffer kept as the size hint for the next turn. */
const MAX_HINT = 64 * 1024;
/** Below this many bytes a plain loop copies faster than TypedArray.set. */
const SMALL_COPY = 32;

/** One socket and the bytes the core sent it during this event-loop turn. */
class Link {
  id: number;
  sock: net.Socket;
  /** Bytes queued this turn, pending[0, pendingLen), written in one piece at the end of the turn. */
  pending: Buffer | undefined = undefined;
  pendingLen = 0;
  /** What the last turn wrote: the next turn's first buffer is this big, so a busy link rarely grows. */
  hint = MIN_PENDING;
  dirty = false;
  constructor(id: number, sock: net.Socket) {
    this.id = id;
    this.sock = sock;
  }
}

/**
 * The real TCP adapter: node:net sockets behind the core's Transport.
 * Everything the core sends to one connection during an event-loop turn is
 * copied into one buffer and written with a single write at the end of the
 * turn (setImmediate): one syscall and one stream request per connection per
 * burst, however many packets (mosquitto's packet queue, without a write per
 * packet). The buffer is sized from the previous turn, so a busy connection
 * allocates one buffer per turn and an idle one holds none.
 */
export class TcpTransport implements Transport {
  broker: Broker | undefined;
  private links = new Map<number, Link>();
  private dirty: Link[] = [];
  private flushScheduled = false;
  private servers: net.Server[] = [];
  private flushBound = () => this.flush();

  /** What one connection may hold here before it is closed (profile.ts sendQueueHardLimit). */
  private hardLimit = Number.MAX_SAFE_INTEGER;
  /** The profile's maxSendQueueBytes: past it the core holds sends back until a drain. */
  private bound = Number.MAX_SAFE_INTEGER;

  attach(broker: Broker): void {
    this.broker = broker;
    this.hardLimit = sendQueueHardLimit(broker.profile);
    this.bound = broker.profile.maxSendQueueBytes;
  }

  /** Listen on a port; with `tlsOptions`, TLS (node:tls) and the broker sees only sockets past the handshake. */
  listen(port: number, address: string | undefined, tlsOptions?: TlsOptions): Promise<net.Server> {
    let server: net.Server;
    if (tlsOptions !== undefined) {
      const t = tls.createServer({
        cert: readFileSync(tlsOptions.certfile),
        key: readFileSync(tlsOptions.keyfile),
        ca: tlsOptions.cafile !== undefined ? readFileSync(tlsOptions.cafile) : undefined,
        requestCert: tlsOptions.requireCertificate,
        rejectUnauthorized: tlsOptions.requireCertificate,
        // a handshake that never ends is a half-open socket too: the CONNECT timeout bounds it
        handshakeTimeout: this.broker !== undefined ? this.broker.profile.connectTimeoutMs : 10000,
      }, (sock) => this.onConnection(sock));
      // a failed handshake (no certificate, plain MQTT on the TLS port) only ends that socket
      t.on("tlsClientError", () => {});
      server = t;
    } else {
      server = net.createServer((sock) => this.onConnection(sock));
    }
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, address, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }

  private onConnection(sock: net.Socket): void {
    const broker = this.broker as Broker;
    sock.setNoDelay(true);
    const id = broker.accept(sock.remoteAddress || "");
    this.links.set(id, new Link(id, sock));
    sock.on("data", (chunk: Buffer) => this.guarded(id, sock, () => broker.data(id, chunk, 0, chunk.length)));
    // what waited for room in the send queue (QoS 1/2, a retained replay) goes on
    sock.on("drain", () => this.guarded(id, sock, () => broker.drained(id)));
    sock.on("error", () => { /* 'close' follows and reports it */ });
    sock.on("close", () => {
      this.links.delete(id);
      this.guarded(id, sock, () => broker.closed(id));
    });
  }

  /**
   * Run a broker call for one socket: whatever it throws ends that
   * connection, never the process (the broker's own checks should make this
   * unreachable; it is the last line, logged so it gets fixed).
   */
  private guarded(id: number, sock: net.Socket, call: () => void): void {
    try {
      call();
    } catch (err) {
      const broker = this.broker as Broker;
      broker.log("error on connection " + id + ", closed: " + (err instanceof Error ? err.stack || err.message : String(err)));
      this.links.delete(id);
      sock.destroy();
      try {
        broker.closed(id);
      } catch (again) {
        // the broker could not even forget it: the socket is gone all the same
      }
    }
  }

  send(id: number, buf: Bytes, off: number, len: number): boolean {
    const link = this.links.get(id);
    if (link === undefined) return false;
    const sock = link.sock;
    if (sock.destroyed || !sock.writable) return false;
    let out = link.pending;
    let at = link.pendingLen;
    // the core keeps a connection near maxSendQueueBytes; one that gets far past it does not
    // read, and is closed rather than let its buffer grow without bound
    if (at + sock.writableLength + len > this.hardLimit) {
      this.overflow(link);
      return false;
    }
    if (out === undefined || at + len > out.length) out = this.grow(link, len);
    const src = buf as Uint8Array;
    if (len <= SMALL_COPY) {
      for (let i = 0; i < len; i++) out[at + i] = src[off + i];
    } else {
      out.set(src.subarray(off, off + len), at);
    }
    link.pendingLen = at + len;
    if (!link.dirty) {
      link.dirty = true;
      this.dirty.push(link);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushBound);
      }
    }
    return true;
  }

  /** A connection that stopped reading: drop what it has pending and close it; 'close' reports it. */
  private overflow(link: Link): void {
    link.pending = undefined;
    link.pendingLen = 0;
    (this.broker as Broker).guard.slowClosed++;
    link.sock.destroy();
  }

  /** A buffer with room for `len` more bytes: the old one's contents carried over. */
  private grow(link: Link, len: number): Buffer {
    const old = link.pending;
    const used = link.pendingLen;
    let size = old === undefined ? link.hint : old.length * 2;
    while (size < used + len) size *= 2;
    const next = Buffer.allocUnsafe(size);
    if (old !== undefined && used > 0) old.copy(next, 0, 0, used);
    link.pending = next;
    return next;
  }

  /** Write each connection's bytes of this turn, one write per connection. */
  private flush(): void {
    this.flushScheduled = false;
    const list = this.dirty;
    this.dirty = [];
    for (let i = 0; i < list.length; i++) {
      const link = list[i];
      // a write the kernel took whole emits no 'drain': what waited for room goes on now
      if (this.writePending(link)) this.guarded(link.id, link.sock, () => (this.broker as Broker).drained(link.id));
    }
  }

  /** Returns true when the core held sends back for room (the turn went past the bound) and the kernel took them all. */
  private writePending(link: Link): boolean {
    const out = link.pending;
    const n = link.pendingLen;
    link.dirty = false;
    link.pending = undefined;
    link.pendingLen = 0;
    if (out === undefined || n === 0) return false;
    link.hint = n < MIN_PENDING ? MIN_PENDING : n > MAX_HINT ? MAX_HINT : n;
    const sock = link.sock;
    if (sock.destroyed || !sock.writable) return false;
    const over = n + sock.writableLength > this.bound;
    // the buffer is handed to the stream and never touched again
    return sock.write(n === out.length ? out : out.subarray(0, n)) && over;
  }

  close(id: number): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    this.writePending(link);
    const sock = link.sock;
    sock.end();
    setTimeout(() => sock.destroy(), CLOSE_GRACE_MS).unref();
  }

  queued(id: number): number {
    const link = this.links.get(id);
    return link === undefined ? 0 : link.pendingLen + link.sock.writableLength;
  }

  /** Stop listening and drop every socket. */
  async shutdown(): Promise<void> {
    // server.close() waits for every open socket to end: drop them first, or it may never return
    const closing = this.servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const link of this.links.values()) link.sock.destroy();
    this.links.clear();
    this.dirty = [];
    await Promise.all(closing);
  }
}
