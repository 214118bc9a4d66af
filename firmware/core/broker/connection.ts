import { AclRule } from "../auth/types";
import { PacketReader, PacketSink } from "../codec/reader";
import { Bytes } from "../platform";
import { Session } from "../session/session";
import { StoredMessage } from "../message";

export const AWAIT_CONNECT = 0;
export const CONNECTED = 1;
export const CLOSED = 2;

/** What a connection hands its packets to (the broker). */
export interface PacketHandler {
  dispatch(conn: Connection, first: number, buf: Bytes, off: number, len: number): number;
}

/** One network connection: its reader, its place in the protocol, its will. */
export class Connection implements PacketSink {
  id: number;
  remote: string;
  state = AWAIT_CONNECT;
  reader: PacketReader;
  handler: PacketHandler;
  session: Session | undefined = undefined;
  clientId = "";
  username: string | undefined = undefined;
  acl: AclRule[] | undefined = undefined;
  protocolLevel = 4;
  keepaliveMs = 0;
  openedAt: number;
  lastReceived: number;
  will: StoredMessage | undefined = undefined;

  constructor(id: number, remote: string, reader: PacketReader, handler: PacketHandler, now: number) {
    this.id = id;
    this.remote = remote;
    this.reader = reader;
    this.handler = handler;
    this.openedAt = now;
    this.lastReceived = now;
  }

  onPacket(first: number, buf: Bytes, off: number, len: number): number {
    return this.handler.dispatch(this, first, buf, off, len);
  }
}
