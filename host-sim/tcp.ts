import * as net from "node:net";
import { Broker } from "../firmware/broker/broker";
import { Bytes, Transport } from "../firmware/platform";

/** How long a closing socket may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

/**
 * The real TCP adapter: node:net sockets behind the core's Transport.
 * Writes made while handling one chunk are corked and flushed together at the
 * end of the event-loop turn (one syscall for a burst, like mosquitto's
 * packet queue).
 */
export class TcpTransport implements Transport {
  broker: Broker | undefined;
  private sockets = new Map<number, net.Socket>();
  private corked: net.Socket[] = [];
  private flushScheduled = false;
  private servers: net.Server[] = [];

  attach(broker: Broker): void {
    this.broker = broker;
  }

  listen(port: number, address: string | undefined): Promise<net.Server> {
    const server = net.createServer((sock) => this.onConnection(sock));
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
    this.sockets.set(id, sock);
    sock.on("data", (chunk: Buffer) => broker.data(id, chunk, 0, chunk.length));
    sock.on("error", () => { /* 'close' follows and reports it */ });
    sock.on("close", () => {
      this.sockets.delete(id);
      broker.closed(id);
    });
  }

  send(id: number, buf: Bytes, off: number, len: number): boolean {
    const sock = this.sockets.get(id);
    if (sock === undefined || sock.destroyed || !sock.writable) return false;
    const copy = Buffer.allocUnsafe(len);
    copy.set((buf as Uint8Array).subarray(off, off + len));
    if (sock.writableCorked === 0) {
      sock.cork();
      this.corked.push(sock);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }
    sock.write(copy);
    return true;
  }

  private flush(): void {
    this.flushScheduled = false;
    const list = this.corked;
    this.corked = [];
    for (const s of list) while (s.writableCorked > 0) s.uncork();
  }

  close(id: number): void {
    const sock = this.sockets.get(id);
    if (sock === undefined) return;
    while (sock.writableCorked > 0) sock.uncork();
    sock.end();
    setTimeout(() => sock.destroy(), CLOSE_GRACE_MS).unref();
  }

  queued(id: number): number {
    const sock = this.sockets.get(id);
    return sock === undefined ? 0 : sock.writableLength;
  }

  /** Stop listening and drop every socket. */
  async shutdown(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const sock of this.sockets.values()) sock.destroy();
    this.sockets.clear();
  }
}
