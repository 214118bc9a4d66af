import { BrokerConfig } from "../config";
import {
  CONNACK, CONNECT, DISCONNECT, ERR_CONNECT_TIMEOUT, ERR_KEEPALIVE, ERR_MALFORMED, ERR_NONE,
  ERR_PROTOCOL, ERR_SHUTDOWN, ERR_SOCKET, ERR_TOO_LARGE, errorName, PINGREQ, PUBACK, PUBCOMP, PUBLISH,
  PINGRESP, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE,
} from "../codec/constants";
import { PacketReader } from "../codec/reader";
import { Bytes, Platform, Transport } from "../platform";
import { connectPacketLimit } from "../profile";
import { RetainStore } from "../retain/store";
import { Session } from "../session/session";
import { SessionRegistry } from "../session/registry";
import { newSubscriptionIndex } from "../topics/subscription_index";
import { AWAIT_CONNECT, CLOSED, CONNECTED, Connection, PacketHandler } from "./connection";
import { feedConnecting } from "./connecting";
import { publishWill, pump } from "./deliver";
import { continueReplays } from "./retained_replay";
import { guardTick } from "./guard";
import { BrokerState, BrokerStats, Guard, Route } from "./state";
import { handleAck } from "./handle_acks";
import { handleConnect } from "./handle_connect";
import { handleDisconnect } from "./handle_disconnect";
import { handlePingreq } from "./handle_pingreq";
import { handlePublish } from "./handle_publish";
import { handleSubscribe } from "./handle_subscribe";
import { handleUnsubscribe } from "./handle_unsubscribe";


/** Initial size of a connection's gathering buffer and of the shared send buffer. */
const SMALL_BUFFER = 256;

/**
 * The broker core: connections in, packets dispatched to one handler per
 * packet type, bytes out through the transport. Single-threaded and
 * re-entrancy-free: every call runs to completion.
 *
 * Its fields are BrokerState's (state.ts says what each holds), merged into
 * the class so they are written once; here only what starts with a value.
 * The bridge's (bridgeOut, bridgeFrom, ...) start with none: without a bridge
 * a board holds no such properties at all.
 */
export interface Broker extends BrokerState {}
export class Broker implements PacketHandler {
  // plain objects, not class instances: on Espruino a class's constructor stays resident
  stats: BrokerStats = {
    messagesReceived: 0, messagesSent: 0, publishReceived: 0, publishSent: 0, publishDropped: 0,
    bytesReceived: 0, bytesSent: 0, connectionsRefused: 0,
  };
  connsById: { [key: string]: Connection } = {};
  conns: Connection[] = [];
  clientCount = 0;
  private nextConnId = 1;
  sysPublishedAt = -1;
  targets: Session[] = [];
  guard: Guard = { records: [], stalled: {}, takeoversRefused: 0, loginsBlocked: 0, slowClosed: 0 };
  routes: { [key: string]: Route } = {};
  routeCount = 0;
  connectingBytes = 0;

  constructor(config: BrokerConfig, platform: Platform, transport: Transport) {
    this.config = config;
    this.profile = config.profile;
    this.platform = platform;
    this.transport = transport;
    this.topics = newSubscriptionIndex<Session>(config.profile.maxSubscriptions);
    this.retained = new RetainStore(config.profile.maxRetained, config.profile.maxRetainedBytes);
    this.sessions = new SessionRegistry(config.profile.maxSessions);
    // starts small and grows with the largest packet sent (never past the packet limit)
    this.tx = platform.alloc.bytes(config.profile.maxPacketSize + 8 < SMALL_BUFFER ? config.profile.maxPacketSize + 8 : SMALL_BUFFER);
    this.startedAt = platform.now();
  }


  /** The send buffer, grown when a packet needs more (never past the packet limit). */
  txFor(size: number): Bytes {
    if (this.tx.length < size) {
      let n = this.tx.length;
      while (n < size) n = n * 2;
      this.tx = this.platform.alloc.bytes(n);
    }
    return this.tx;
  }

  // ---- what adapters call ----

  /** A new network connection; returns the id the transport will be called with. */
  accept(remote: string): number {
    let id = this.nextConnId;
    this.nextConnId = id >= 16000000 ? 1 : id + 1;
    let initial = this.profile.maxPacketSize < SMALL_BUFFER ? this.profile.maxPacketSize : SMALL_BUFFER;
    let keep = this.profile.readerKeepBytes > initial ? this.profile.readerKeepBytes : initial;
    // until CONNECT is done, a connection may send no more than a CONNECT (handle_connect.ts lifts it)
    let reader = new PacketReader(this.platform.alloc, connectPacketLimit(this.profile), initial, keep);
    let conn = new Connection(id, remote, reader, this, this.platform.now());
    this.connsById["c" + id] = conn;
    this.conns.push(conn);
    return id;
  }

  /** Bytes received on a connection. */
  data(id: number, buf: Bytes, off: number, len: number): void {
    let conn = this.connsById["c" + id];
    if (conn === undefined) return;
    this.stats.bytesReceived += len;
    if (conn.state === AWAIT_CONNECT) return feedConnecting(this, conn, buf, off, len);
    let err = conn.reader.feed(buf, off, len, conn);
    if (err !== ERR_NONE && conn.state !== CLOSED) this.disconnect(conn, err);
  }

  /**
   * A whole packet of a connected connection that the adapter framed
   * itself: its fixed header is the `off` bytes before buf[off], its body
   * the `len` after. It goes straight to its handler, as the reader would
   * hand it over, under the reader's size limit (counted as the reader
   * counts it, with the fewest length bytes); the bytes were counted as
   * they arrived. On Espruino this skips the reader's interpreted loop over
   * the header, a few milliseconds a packet (firmware/espruino/receive.ts).
   */
  framedPacket(conn: Connection, first: number, buf: Bytes, off: number, len: number): void {
    let err = len + (len < 128 ? 2 : len < 16384 ? 3 : len < 2097152 ? 4 : 5) > conn.reader.maxPacket
      ? ERR_TOO_LARGE : this.dispatch(conn, first, buf, off, len);
    if (err !== ERR_NONE && conn.state !== CLOSED) this.disconnect(conn, err);
  }

  /**
   * The transport has sent what it held for a connection (or an
   * acknowledgement freed a slot of its in-flight window): queued messages
   * go into the window, then a retained replay that paused for room goes on.
   */
  drained(id: number): void {
    let conn = this.connsById["c" + id];
    if (conn === undefined || conn.state !== CONNECTED) return;
    let s = conn.session as Session;
    pump(this, s);
    if (s.replays !== undefined) continueReplays(this, s);
  }

  /** The network connection is gone (peer closed, reset, or our close completed). */
  closed(id: number): void {
    let conn = this.connsById["c" + id];
    if (conn === undefined) return;
    this.disconnect(conn, ERR_SOCKET);
  }

  /** Call every profile.tickMs: keepalive [MQTT-3.1.2-24] and CONNECT timeouts. */
  tick(): void {
    let now = this.platform.now();
    let list = this.conns;
    for (let i = list.length - 1; i >= 0; i--) {
      let c = list[i];
      if (c === undefined) continue;
      if (c.state === AWAIT_CONNECT) {
        if (now - c.openedAt >= this.profile.connectTimeoutMs) this.disconnect(c, ERR_CONNECT_TIMEOUT);
      } else if (c.state === CONNECTED && c.keepaliveMs > 0) {
        // one and a half keepalive periods without a packet [MQTT-3.1.2-24]
        if (now - c.lastReceived > c.keepaliveMs * 1.5) this.disconnect(c, ERR_KEEPALIVE);
      }
    }
    guardTick(this, now);
  }

  connection(id: number): Connection | undefined {
    return this.connsById["c" + id];
  }

  // ---- packet dispatch ----

  dispatch(conn: Connection, first: number, buf: Bytes, off: number, len: number): number {
    if (conn.state === CLOSED) return ERR_PROTOCOL;
    let type = Math.floor(first / 16);
    let flags = first % 16;
    this.stats.messagesReceived++;
    conn.lastReceived = this.platform.now();
    if (conn.state === AWAIT_CONNECT) {
      // the first packet must be CONNECT [MQTT-3.1.0-1]
      if (type !== CONNECT) return ERR_PROTOCOL;
      this.routes = {};
      this.routeCount = 0;
      return handleConnect(this, conn, flags, buf, off, len);
    }
    // a stream's packets first, with the fewest tests (on Espruino each costs tens of microseconds)
    if (type === PUBLISH) return handlePublish(this, conn, flags, buf, off, len);
    // reserved flag bits must be as the spec says [MQTT-2.2.2-1], [MQTT-2.2.2-2]: 2 for PUBREL,
    // SUBSCRIBE and UNSUBSCRIBE, 0 for the rest but PUBLISH (constants.ts REQUIRED_FLAGS)
    if (type >= PUBACK && type <= PUBCOMP) return flags !== (type === PUBREL ? 2 : 0) ? ERR_MALFORMED : handleAck(this, conn, type, buf, off, len);
    // what may change who receives what (route_cache.ts); the others (PUBLISH, acks, PINGREQ) do not
    if (type !== PINGREQ) {
      this.routes = {};
      this.routeCount = 0;
    }
    // a second CONNECT is a protocol violation [MQTT-3.1.0-2]
    if (type === CONNECT) return ERR_PROTOCOL;
    // what only a server sends (CONNACK, SUBACK, UNSUBACK, PINGRESP) and the reserved types 0 and 15
    if (type === 0 || type === 15 || type === CONNACK || type === SUBACK || type === UNSUBACK || type === PINGRESP) return ERR_PROTOCOL;
    if (flags !== (type === SUBSCRIBE || type === UNSUBSCRIBE ? 2 : 0)) return ERR_MALFORMED;
    if (type === SUBSCRIBE) return handleSubscribe(this, conn, buf, off, len);
    if (type === UNSUBSCRIBE) return handleUnsubscribe(this, conn, buf, off, len);
    if (type === PINGREQ) return handlePingreq(this, conn, len);
    if (type === DISCONNECT) return handleDisconnect(this, conn, len);
    return ERR_PROTOCOL;
  }

  // ---- sending ----

  /** Send tx[0, len) to a connection. */
  send(connId: number, len: number): boolean {
    this.stats.messagesSent++;
    this.stats.bytesSent += len;
    return this.transport.send(connId, this.tx, 0, len);
  }

  // ---- closing ----

  /**
   * End a connection. Anything but a DISCONNECT packet (reason ERR_NONE)
   * publishes the will [MQTT-3.1.2-8]; a clean session ends with it, a
   * persistent one goes offline and keeps its state [MQTT-3.1.2-4].
   */
  disconnect(conn: Connection, reason: number): void {
    if (conn.state === CLOSED) return;
    // who receives what may change: every kept route goes (route_cache.ts)
    this.routes = {};
    this.routeCount = 0;
    let wasConnected = conn.state === CONNECTED;
    // what it held before CONNECT is given back (connecting.ts counts it)
    let held = conn.reader.buf;
    if (conn.state === AWAIT_CONNECT && held !== undefined) this.connectingBytes -= held.length;
    conn.state = CLOSED;
    delete this.connsById["c" + conn.id];
    let list = this.conns;
    for (let i = 0; i < list.length; i++) {
      if (list[i] === conn) {
        list.splice(i, 1);
        break;
      }
    }
    if (wasConnected) {
      this.clientCount--;
      if (reason !== ERR_NONE && conn.will !== undefined) publishWill(this, conn);
      conn.will = undefined;
      let session = conn.session;
      conn.session = undefined;
      if (session !== undefined && session.connId === conn.id) this.sessions.detach(this, session);
      // (errorName is cold code on a board: not loaded for a line nobody reads)
      if (this.platform.log !== undefined) this.log("disconnect " + conn.clientId + (reason !== ERR_NONE ? " (" + errorName(reason) + ")" : ""));
    }
    this.transport.close(conn.id);
  }

  log(line: string): void {
    if (this.platform.log !== undefined) this.platform.log(line);
  }
}

/**
 * Close every connection (wills are not published for a shutdown, as
 * mosquitto). A function, not a method: the board never stops, and a method
 * would cost it JsVars for as long as it runs.
 */
export function stopBroker(b: Broker): void {
  let list = b.conns.slice(0);
  for (let i = 0; i < list.length; i++) {
    list[i].will = undefined;
    b.disconnect(list[i], ERR_SHUTDOWN);
  }
}
