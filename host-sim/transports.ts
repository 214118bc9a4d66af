import { Bytes, Transport } from "../firmware/core/platform";
import { TcpTransport } from "./tcp";
import { WsTransport } from "./ws";

/**
 * The one Transport a Broker has, over TCP and WebSocket listeners at once.
 * Both accept through the same broker, so connection ids come from one
 * space (broker.accept); each call goes to the WebSocket side when it holds
 * the id, to TCP otherwise (an id neither holds: both answer false / 0).
 */
export class MuxTransport implements Transport {
  tcp: TcpTransport;
  ws: WsTransport;
  constructor(tcp: TcpTransport, ws: WsTransport) {
    this.tcp = tcp;
    this.ws = ws;
  }

  send(id: number, buf: Bytes, off: number, len: number): boolean {
    return this.ws.owns(id) ? this.ws.send(id, buf, off, len) : this.tcp.send(id, buf, off, len);
  }

  close(id: number): void {
    if (this.ws.owns(id)) this.ws.close(id);
    else this.tcp.close(id);
  }

  queued(id: number, waiting?: boolean): number {
    return this.ws.owns(id) ? this.ws.queued(id) : this.tcp.queued(id);
  }
}
