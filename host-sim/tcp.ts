import { readFileSync } from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { Broker } from "../firmware/core/broker/broker";
import { Bytes, Transport } from "../firmware/core/platform";
import { sendQueueHardLimit } from "../firmware/core/profile";
import type { TlsOptions } from "./config";
import { guardedCall, Outbox, Outboxes } from "./outbox";

/** How long a closing socket may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

/** One socket and the bytes the core sent it during this event-loop turn. */
class Link extends Outbox {
  sock: net.Socket;
  constructor(id: number, sock: net.Socket) {
    super(id);
    this.sock = sock;
  }
}

/**
 * The real TCP adapter: node:net sockets behind the core's Transport.
 * Everything the core sends to one connection during an event-loop turn goes
 * out in a single write at the end of the turn (outbox.ts).
 */
export class TcpTransport implements Transport {
  broker: Broker | undefined;
  private links = new Map<number, Link>();
  private out = new Outboxes<Link>((link, bytes) => this.writeTurn(link, bytes));
  private servers: net.Server[] = [];

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

  /** Run a broker call for one socket: whatever it throws ends that connection, never the process. */
  private guarded(id: number, sock: net.Socket, call: () => void): void {
    guardedCall(this.broker as Broker, id, call, () => {
      this.links.delete(id);
      sock.destroy();
    });
  }

  send(id: number, buf: Bytes, off: number, len: number): boolean {
    const link = this.links.get(id);
    if (link === undefined) return false;
    const sock = link.sock;
    if (sock.destroyed || !sock.writable) return false;
    // the core keeps a connection near maxSendQueueBytes; one that gets far past it does not
    // read, and is closed rather than let its buffer grow without bound
    if (link.pendingLen + sock.writableLength + len > this.hardLimit) {
      this.overflow(link);
      return false;
    }
    this.out.append(link, buf as Uint8Array, off, len);
    return true;
  }

  /** A connection that stopped reading: drop what it has pending and close it; 'close' reports it. */
  private overflow(link: Link): void {
    this.out.take(link);
    (this.broker as Broker).guard.slowClosed++;
    link.sock.destroy();
  }

  /** One turn's bytes to the socket. */
  private writeTurn(link: Link, bytes: Buffer): void {
    const sock = link.sock;
    if (sock.destroyed || !sock.writable) return;
    // the core held sends back for room when the turn went past the bound; a write the kernel
    // takes whole emits no 'drain', so what waited goes on now
    const over = bytes.length + sock.writableLength > this.bound;
    if (sock.write(bytes) && over) this.guarded(link.id, sock, () => (this.broker as Broker).drained(link.id));
  }

  close(id: number): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    const sock = link.sock;
    const last = this.out.take(link);
    if (last !== undefined && !sock.destroyed && sock.writable) sock.write(last);
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
    this.out.clear();
    await Promise.all(closing);
  }
}
