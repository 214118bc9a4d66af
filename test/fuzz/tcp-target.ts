/**
 * The connection fuzz target (targets.ts's connectionProgram: the same
 * hostile program, the same checks) over real TCP: the broker behind
 * host-sim/tcp.ts's TcpTransport on 127.0.0.1 at an ephemeral port, every
 * client a node:net socket. Each write of the program is its own TCP write,
 * and the program waits between steps until the bytes have arrived both
 * ways (an I/O barrier), so the broker sees the chunks the input chose, in
 * the order it chose, through tcp.ts's write coalescing, queue accounting
 * and close handling. The broker's clock is the program's (its jumps are
 * jumps of platform.now() with the ticks in between): only the bytes are
 * real. Checked beyond the program's own checks: no exception caught by
 * tcp.ts's guard (it logs "error on connection"), and no socket or server
 * left open after an input.
 */
import * as net from "node:net";
import { Broker } from "../../firmware/core/broker/broker";
import { BrokerConfig } from "../../firmware/core/config";
import { Bytes } from "../../firmware/core/platform";
import { nodePlatform } from "../../host-sim/platform";
import { TcpTransport } from "../../host-sim/tcp";
import { connectionProgram, FuzzNet, FuzzSocket } from "./targets";

class TcpFinding extends Error {
  constructor(what: string) {
    super(what);
    this.name = "Finding";
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

class Client implements FuzzSocket {
  sock: net.Socket;
  owner: TcpFuzzNet;
  written = 0;
  recvd = 0;
  inbox: Buffer[] = [];
  connected = false;
  paused = false;
  closed = false;
  /** Closed from this side (cut or end). */
  selfClosed = false;
  /** 'close' seen. */
  gone = false;
  private cachedId = -1;

  constructor(owner: TcpFuzzNet) {
    this.owner = owner;
    this.sock = net.connect(owner.port, "127.0.0.1");
    this.sock.setNoDelay(true);
    this.sock.on("connect", () => { this.connected = true; });
    this.sock.on("data", (d: Buffer) => {
      this.recvd += d.length;
      this.inbox.push(d);
    });
    this.sock.on("error", () => { /* 'close' follows */ });
    this.sock.on("end", () => { this.closed = true; });
    this.sock.on("close", () => {
      this.closed = true;
      this.gone = true;
      this.connected = true; // a refused or reset connect is settled too
    });
  }

  get id(): number {
    if (this.cachedId < 0 && this.sock.localPort !== undefined) {
      const id = this.owner.ids.get(this.sock.localPort);
      if (id !== undefined) this.cachedId = id;
    }
    return this.cachedId;
  }

  write(data: Uint8Array): void {
    if (this.closed) return;
    this.written += data.length;
    this.sock.write(Uint8Array.from(data));
  }

  take(): Uint8Array {
    const out = Buffer.concat(this.inbox);
    this.inbox = [];
    return out;
  }

  cut(): void {
    if (this.closed) return;
    this.closed = true;
    this.selfClosed = true;
    this.sock.destroy();
  }

  stall(): void {
    this.paused = true;
    this.sock.pause();
  }

  resume(): void {
    this.paused = false;
    this.sock.resume();
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.selfClosed = true;
    this.sock.end();
  }
}

/** A listening TcpTransport for one input; the broker comes when the program starts. */
export class TcpFuzzNet implements FuzzNet {
  transport = new TcpTransport();
  server: net.Server | undefined;
  port = 0;
  broker!: Broker;
  now = 0;
  tickMs = 100;
  /** Client port -> the broker's connection id; the server-side socket of each client port. */
  ids = new Map<number, number>();
  serverSocks = new Map<number, net.Socket>();
  clients: Client[] = [];
  /** Bytes the broker received and was sent (transport.send accepted), per connection id. */
  got = new Map<number, number>();
  sent = new Map<number, number>();
  errors: string[] = [];
  private last: net.Socket | undefined;

  async listen(): Promise<void> {
    this.server = await this.transport.listen(0, "127.0.0.1");
    this.port = (this.server.address() as net.AddressInfo).port;
    this.server.prependListener("connection", (sock: net.Socket) => {
      this.last = sock;
      if (sock.remotePort !== undefined) this.serverSocks.set(sock.remotePort, sock);
    });
  }

  start(config: BrokerConfig): TcpFuzzNet {
    this.tickMs = config.profile.tickMs;
    const b = new Broker(config, nodePlatform((line) => {
      if (line.indexOf("error on connection") === 0) this.errors.push(line);
    }, () => this.now), this.transport);
    const accept = b.accept.bind(b);
    b.accept = (remote: string): number => {
      const id = accept(remote);
      if (this.last !== undefined && this.last.remotePort !== undefined) this.ids.set(this.last.remotePort, id);
      return id;
    };
    const data = b.data.bind(b);
    b.data = (id: number, buf: Bytes, off: number, len: number): void => {
      this.got.set(id, (this.got.get(id) ?? 0) + len);
      data(id, buf, off, len);
    };
    const send = this.transport.send.bind(this.transport);
    this.transport.send = (id: number, buf: Bytes, off: number, len: number): boolean => {
      const ok = send(id, buf, off, len);
      if (ok) this.sent.set(id, (this.sent.get(id) ?? 0) + len);
      return ok;
    };
    this.transport.attach(b);
    this.broker = b;
    return this;
  }

  connect(): FuzzSocket {
    const c = new Client(this);
    this.clients.push(c);
    return c;
  }

  queued(s: FuzzSocket): number {
    return this.transport.queued(s.id);
  }

  openSockets(): number {
    let n = 0;
    for (const s of this.serverSocks.values()) if (!s.destroyed) n++;
    return n;
  }

  /** Every byte written has reached the broker, every byte it sent has reached its client, every close both ends. */
  private settled(): boolean {
    const b = this.broker;
    for (const c of this.clients) {
      if (!c.connected) return false;
      if (c.gone) continue;
      const id = c.id;
      if (id < 0) return false;
      const alive = b.connection(id) !== undefined;
      if (c.selfClosed) {
        // our close must reach the broker: its socket closes, the connection goes
        const s = this.serverSocks.get(c.sock.localPort ?? -1);
        if (alive || (s !== undefined && !s.destroyed)) return false;
        continue;
      }
      if (alive && (this.got.get(id) ?? 0) < c.written) return false;
      if (c.paused) continue;
      if (c.recvd < (this.sent.get(id) ?? 0)) return false;
      // the broker closed it: the FIN reaches the client, which closes too
      if (!alive && !c.closed) return false;
    }
    return true;
  }

  /** Wait until the bytes in flight have arrived (at most `ms`: a reset may lose some for good). */
  async barrier(ms = 200): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      await tick();
      if (this.settled()) {
        // TcpTransport flushes in setImmediate: one more turn for what a last packet caused
        await tick();
        if (this.settled()) return;
      }
      if (Date.now() > deadline) return;
      if (Date.now() + 50 > deadline) await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** The broker's clock moves on by `ms`, ticking every tickMs as the simulated one does. */
  async advance(ms: number): Promise<void> {
    await this.barrier();
    const until = this.now + ms;
    for (let next = (Math.floor(this.now / this.tickMs) + 1) * this.tickMs; next <= until; next += this.tickMs) {
      this.now = next;
      this.broker.tick();
      await this.barrier();
    }
    this.now = until;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.sock.destroy();
    for (const s of this.serverSocks.values()) s.destroy();
    await new Promise<void>((r) => (this.server !== undefined ? this.server.close(() => r()) : r()));
  }
}

/** TCP sockets and servers this process holds (Node's own count). */
export function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap" || r === "TCPServerWrap").length;
}

/** One input of the connection target over real TCP; rejects with a Finding when an invariant breaks. */
export async function fuzzConnectionTcp(data: Uint8Array): Promise<void> {
  const n = new TcpFuzzNet();
  await n.listen();
  try {
    const program = connectionProgram(data, (config) => n.start(config));
    for (;;) {
      const r = program.next();
      if (r.done === true) break;
      if (r.value < 0) await n.barrier();
      else await n.advance(r.value);
    }
    if (n.errors.length > 0) throw new TcpFinding("tcp.ts caught a throw: " + n.errors[0].split("\n").slice(0, 3).join(" | "));
  } finally {
    await n.close();
  }
}
