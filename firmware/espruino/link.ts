/**
 * The bridge's outbound socket on the board: the core's Platform.connect
 * over Espruino's `net`. Espruino hands data as binary strings and takes
 * strings to write; it throws at once for a port refused or a host not
 * found on its Linux build, and reports 'close' for everything else.
 */
import { Bytes, Link, LinkEvents } from "../core/platform";

declare const global: any;
declare const E: any;

/**
 * Cold on the board (firmware/espruino/tools/build.ts): built only with a bridge.
 * @cold 470
 */
export function netConnect(host: string, port: number, _bridge: string, events: LinkEvents): Link | undefined {
  let sock: any;
  try {
    sock = global.require("net").connect({ host: host, port: port }, () => events.opened());
  } catch (e) {
    return undefined; // refused, or no such host: the bridge backs off and tries again
  }
  /** Bytes written since the socket's buffer was last empty ('drain'). */
  let queued = 0;
  let open = true;
  sock.on("data", (d: string) => events.data(E.toUint8Array(d), 0, d.length));
  sock.on("drain", () => {
    queued = 0;
  });
  sock.on("close", () => {
    open = false;
    sock.removeAllListeners();
    events.closed();
  });
  return {
    send(buf: Bytes, off: number, len: number): boolean {
      if (!open) return false;
      try {
        sock.write(E.toString((buf as any).subarray(off, off + len)));
      } catch (e) {
        return false; // closed under us: 'close' follows
      }
      queued += len;
      return true;
    },
    close(): void {
      try {
        sock.end();
      } catch (e) {
        // already closed
      }
    },
    queued(): number {
      return queued;
    },
  };
}
