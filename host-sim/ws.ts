import { readFileSync, realpathSync, statSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type * as net from "node:net";
import * as path from "node:path";
import { WebSocket, WebSocketServer } from "ws";
import { Broker } from "../firmware/core/broker/broker";
import { Bytes, Transport } from "../firmware/core/platform";
import { sendQueueHardLimit } from "../firmware/core/profile";
import type { TlsOptions } from "./config";
import { guardedCall, Outbox, Outboxes } from "./outbox";
import { STATUS_PAGE } from "./status/page";

/** How long a closing WebSocket may take to finish its closing handshake before it is dropped. */
const CLOSE_GRACE_MS = 2000;
/** The largest WebSocket message taken (ws's own default); an MQTT packet may span several. */
const MAX_WS_MESSAGE = 100 * 1024 * 1024;
/** The subprotocols an MQTT 3.1.1 client asks for (mosquitto accepts both). */
const SUBPROTOCOLS = ["mqtt", "mqttv3.1"];

const CONTENT_TYPES: { [ext: string]: string } = {
  ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".json": "application/json",
  ".txt": "text/plain; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg", ".gif": "image/gif", ".ico": "image/x-icon", ".wasm": "application/wasm",
};

/** One WebSocket and the bytes the core sent it during this event-loop turn. */
class WsLink extends Outbox {
  ws: WebSocket;
  constructor(id: number, ws: WebSocket) {
    super(id);
    this.ws = ws;
  }
}

/** The subprotocol to answer with, from a Sec-WebSocket-Protocol header; undefined: none of ours. */
export function chooseSubprotocol(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const offered = header.split(",").map((p) => p.trim());
  for (const p of SUBPROTOCOLS) if (offered.indexOf(p) >= 0) return p;
  return undefined;
}

/**
 * The file under `root` that a request path names, or a status code: 403
 * for a path that tries to leave the folder (`..`, NUL, a symbolic link out
 * of it), 404 for one that is not there, 400 for bad percent-encoding.
 */
export function resolveHttpPath(root: string, urlPath: string): string | number {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch (e) {
    return 400;
  }
  if (decoded.indexOf("\0") >= 0) return 403;
  const parts = decoded.split(/[\\/]+/);
  if (parts.indexOf("..") >= 0) return 403;
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch (e) {
    return 404;
  }
  let file = path.resolve(realRoot, "." + path.sep + parts.join(path.sep));
  if (file !== realRoot && !file.startsWith(realRoot + path.sep)) return 403;
  try {
    file = realpathSync(file);
    if (file !== realRoot && !file.startsWith(realRoot + path.sep)) return 403;
    if (statSync(file).isDirectory()) file = path.join(file, "index.html");
    if (!statSync(file).isFile()) return 404;
  } catch (e) {
    return 404;
  }
  return file;
}

/**
 * MQTT over WebSockets (mosquitto's `protocol websockets`): an http(s)
 * server per listener, the `ws` library for the framing. Each WebSocket is
 * one broker connection; binary messages are the MQTT byte stream (a packet
 * may span messages and a message may hold several packets), a text message
 * closes the connection. Sends follow TcpTransport: everything the core sends
 * one connection during a turn goes out as one WebSocket message at the end
 * of the turn, and a connection holding more than sendQueueHardLimit is
 * closed. Plain HTTP on the same port serves the status page at `/` and,
 * with `http_dir`, the user's files.
 */
export class WsTransport implements Transport {
  broker: Broker | undefined;
  private links = new Map<number, WsLink>();
  private out = new Outboxes<WsLink>((link, bytes) => this.writeTurn(link, bytes));
  private servers: http.Server[] = [];
  private wss: WebSocketServer[] = [];
  private hardLimit = Number.MAX_SAFE_INTEGER;

  attach(broker: Broker): void {
    this.broker = broker;
    this.hardLimit = sendQueueHardLimit(broker.profile);
  }

  /** True when the connection id is one of this transport's. */
  owns(id: number): boolean {
    return this.links.has(id);
  }

  /** Listen on a port: http (or https with `tlsOptions`), WebSocket upgrades, the status page, `httpDir`'s files. */
  listen(port: number, address: string | undefined, tlsOptions?: TlsOptions, httpDir?: string): Promise<http.Server> {
    const broker = this.broker as Broker;
    const timeout = broker.profile.connectTimeoutMs > 0 ? broker.profile.connectTimeoutMs : 10000;
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, httpDir);
    let server: http.Server;
    if (tlsOptions !== undefined) {
      server = https.createServer({
        cert: readFileSync(tlsOptions.certfile),
        key: readFileSync(tlsOptions.keyfile),
        ca: tlsOptions.cafile !== undefined ? readFileSync(tlsOptions.cafile) : undefined,
        requestCert: tlsOptions.requireCertificate,
        rejectUnauthorized: tlsOptions.requireCertificate,
        handshakeTimeout: timeout,
      }, onRequest);
      server.on("tlsClientError", () => {});
    } else {
      server = http.createServer(onRequest);
    }
    // a socket that never finishes its request headers is a half-open socket too
    server.headersTimeout = timeout;
    server.requestTimeout = timeout * 3;
    const maxPayload = broker.profile.maxPacketSize + 5 < MAX_WS_MESSAGE ? broker.profile.maxPacketSize + 5 : MAX_WS_MESSAGE;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload,
      perMessageDeflate: false,
      handleProtocols: (protocols) => chooseSubprotocol(Array.from(protocols).join(",")) ?? false,
    });
    this.wss.push(wss);
    server.on("upgrade", (req: http.IncomingMessage, sock: net.Socket, head: Buffer) => {
      sock.on("error", () => {});
      if (chooseSubprotocol(req.headers["sec-websocket-protocol"]) === undefined) {
        // MQTT over WebSockets must ask for the mqtt subprotocol [MQTT-6.0.0-3]
        sock.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n" +
          "WebSocket subprotocol mqtt required\n");
        return;
      }
      wss.handleUpgrade(req, sock, head, (ws) => this.onConnection(ws, req));
    });
    server.on("clientError", (_err, sock: net.Socket) => sock.destroy());
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, address, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }

  /** Plain HTTP: the status page at `/`, `httpDir`'s files elsewhere, GET and HEAD only. */
  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, httpDir: string | undefined): void {
    const answer = (code: number, type: string, body: string | Buffer) => {
      res.writeHead(code, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-cache" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      answer(405, "text/plain", "method not allowed\n");
      return;
    }
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const p = q >= 0 ? url.substring(0, q) : url;
    if (p === "/" || p === "/index.html" && httpDir === undefined) {
      answer(200, "text/html; charset=utf-8", STATUS_PAGE);
      return;
    }
    if (httpDir === undefined) {
      answer(404, "text/plain", "not found\n");
      return;
    }
    const file = resolveHttpPath(httpDir, p);
    if (typeof file === "number") {
      answer(file, "text/plain", (file === 403 ? "forbidden" : file === 400 ? "bad request" : "not found") + "\n");
      return;
    }
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch (e) {
      answer(404, "text/plain", "not found\n");
      return;
    }
    answer(200, CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream", body);
  }

  private onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    const broker = this.broker as Broker;
    (req.socket as net.Socket).setNoDelay(true);
    const id = broker.accept(req.socket.remoteAddress || "");
    const link = new WsLink(id, ws);
    this.links.set(id, link);
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        // MQTT rides on binary messages only [MQTT-6.0.0-1]
        ws.close(1003, "binary frames only");
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
        return;
      }
      this.guarded(id, ws, () => broker.data(id, data, 0, data.length));
    });
    ws.on("error", () => { /* 'close' follows and reports it */ });
    ws.on("close", () => {
      if (this.links.get(id) !== link) return;
      this.links.delete(id);
      this.guarded(id, ws, () => broker.closed(id));
    });
  }

  /** Run a broker call for one connection: whatever it throws ends that connection, never the process. */
  private guarded(id: number, ws: WebSocket, call: () => void): void {
    guardedCall(this.broker as Broker, id, call, () => {
      this.links.delete(id);
      ws.terminate();
    });
  }

  send(id: number, buf: Bytes, off: number, len: number): boolean {
    const link = this.links.get(id);
    if (link === undefined || link.ws.readyState !== WebSocket.OPEN) return false;
    if (link.pendingLen + link.ws.bufferedAmount + len > this.hardLimit) {
      this.overflow(link);
      return false;
    }
    this.out.append(link, buf as Uint8Array, off, len);
    return true;
  }

  /** A connection that stopped reading: drop what it has pending and close it; 'close' reports it. */
  private overflow(link: WsLink): void {
    this.out.take(link);
    (this.broker as Broker).guard.slowClosed++;
    link.ws.terminate();
  }

  /** One turn's bytes as one binary message; once the socket took it, what waited for room goes on. */
  private writeTurn(link: WsLink, bytes: Buffer): void {
    const ws = link.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(bytes, { binary: true }, () => {
      if (this.links.get(link.id) === link) this.guarded(link.id, ws, () => (this.broker as Broker).drained(link.id));
    });
  }

  close(id: number): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    const last = this.out.take(link);
    if (last !== undefined) this.writeTurn(link, last);
    const ws = link.ws;
    ws.close(1000);
    setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  queued(id: number): number {
    const link = this.links.get(id);
    return link === undefined ? 0 : link.pendingLen + link.ws.bufferedAmount;
  }

  /** Stop listening and drop every connection. */
  async shutdown(): Promise<void> {
    for (const link of this.links.values()) link.ws.terminate();
    this.links.clear();
    this.out.clear();
    for (const w of this.wss) w.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    })));
  }
}
