import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { Broker } from "../firmware/core/broker/broker";
import { Bridge, startBridges, stopBridges, tickBridges } from "../firmware/core/bridge/bridge";
import { BridgeConfig } from "../firmware/core/bridge/types";
import { BrokerConfig } from "../firmware/core/config";
import { ConfigError } from "./config-error";
import { Bytes, Link, LinkEvents, Storage } from "../firmware/core/platform";

/**
 * The desktop side of bridges: outbound sockets (node:net, node:tls with
 * bridge_cafile / bridge_certfile / bridge_keyfile / bridge_insecure) and
 * the journal's Storage, a folder where every append is fsynced before it
 * returns (the message is durable before the local publisher's PUBACK).
 */

/** A bridge's TLS settings (mosquitto's bridge_cafile, bridge_certfile, bridge_keyfile, bridge_insecure). */
export interface BridgeTls {
  cafile: string;
  certfile: string | undefined;
  keyfile: string | undefined;
  insecure: boolean;
}

/** A bridge as the desktop has it: the core's, plus TLS and where it was configured. */
export interface HostBridge extends BridgeConfig {
  tls?: BridgeTls;
  /** "FILE:LINE: " of its `connection` line. */
  where?: string;
}

/** Storage in a folder: one file per name, `write` atomic (temporary file, fsync, rename), `append` fsynced. */
export function folderStorage(dir: string, prefix: string): Storage {
  const file = (name: string) => path.join(dir, prefix + name);
  const syncDir = () => {
    try {
      const fd = fs.openSync(dir, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (_) {
      // a folder that cannot be synced (Windows): the rename is still atomic
    }
  };
  return {
    read(name: string): string | undefined {
      try {
        return fs.readFileSync(file(name)).toString("latin1");
      } catch (_) {
        return undefined;
      }
    },
    write(name: string, data: string): boolean {
      const tmp = file(name) + ".new";
      try {
        const fd = fs.openSync(tmp, "w");
        try {
          fs.writeSync(fd, Buffer.from(data, "latin1"));
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(tmp, file(name));
        syncDir();
        return true;
      } catch (_) {
        return false;
      }
    },
    erase(name: string): void {
      try {
        fs.unlinkSync(file(name));
        syncDir();
      } catch (_) {
        // not there
      }
    },
    append(name: string, data: string): boolean {
      try {
        const existed = fs.existsSync(file(name));
        const fd = fs.openSync(file(name), "a");
        try {
          fs.writeSync(fd, Buffer.from(data, "latin1"));
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        if (!existed) syncDir();
        return true;
      } catch (_) {
        return false;
      }
    },
  };
}

/** The core's Platform.connect on Node: one socket per call, TLS when the bridge has bridge_cafile. */
export function nodeConnect(bridges: HostBridge[]) {
  return (host: string, port: number, name: string, events: LinkEvents): Link | undefined => {
    const cfg = bridges.find((x) => x.name === name);
    const t = cfg !== undefined ? cfg.tls : undefined;
    let sock: net.Socket;
    let done = false;
    const closed = () => {
      if (done) return;
      done = true;
      events.closed();
    };
    try {
      if (t !== undefined) {
        sock = tls.connect({
          host, port,
          ca: fs.readFileSync(t.cafile),
          cert: t.certfile !== undefined ? fs.readFileSync(t.certfile) : undefined,
          key: t.keyfile !== undefined ? fs.readFileSync(t.keyfile) : undefined,
          // bridge_insecure: the certificate must still be signed by the CA, only the name is not checked
          checkServerIdentity: t.insecure ? () => undefined : undefined,
          servername: net.isIP(host) === 0 ? host : undefined,
        }, () => events.opened());
      } else {
        sock = net.connect({ host, port }, () => events.opened());
      }
    } catch (_) {
      return undefined;
    }
    sock.setNoDelay(true);
    sock.on("data", (chunk: Buffer) => events.data(chunk, 0, chunk.length));
    sock.on("error", () => { /* 'close' follows */ });
    sock.on("close", () => setImmediate(closed));
    return {
      send(buf: Bytes, off: number, len: number): boolean {
        if (sock.destroyed || !sock.writable) return false;
        sock.write(Buffer.from((buf as Uint8Array).subarray(off, off + len)));
        return true;
      },
      close(): void {
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
      },
      queued(): number {
        return sock.writableLength;
      },
    };
  };
}

export interface HostBridges {
  list: Bridge[];
  tick(): void;
  stop(): void;
}

/**
 * Start the configuration's bridges on a broker: the platform gets an
 * outbound connect and, with `persistence true`, the journal's Storage in
 * persistence_location. Undefined when no bridge is configured (nothing is
 * added to the broker then).
 */
export function attachBridges(broker: Broker, config: BrokerConfig): HostBridges | undefined {
  const cfgs = config.bridges;
  if (cfgs === undefined || cfgs.length === 0) return undefined;
  const platform = broker.platform;
  platform.connect = nodeConnect(cfgs as HostBridge[]);
  if (config.persistence && platform.storage === undefined) {
    platform.storage = folderStorage(config.persistenceLocation ?? process.cwd(), "esp-mqtt-broker.");
  }
  const list = startBridges(broker);
  tickBridges(broker);
  return {
    list,
    tick: () => tickBridges(broker),
    stop: () => stopBridges(broker),
  };
}

/**
 * NodeMCU's adapter has no outbound socket: there a bridge stops the
 * configuration at its `connection` line. `where` names the runtime.
 */
export function refuseBoardBridges(config: BrokerConfig, where: string): void {
  const list = (config.bridges ?? []) as HostBridge[];
  if (list.length === 0) return;
  throw new ConfigError((list[0].where ?? "") + "connection " + list[0].name + ": bridges are not supported on " + where +
    " (its adapter has no outbound socket); run the bridge on an Espruino board or the desktop broker, or let mosquitto on the LAN bridge to it");
}

/**
 * A bridge on an Espruino board (`npm run flash`): one, since its link
 * takes one of the board's few sockets (maxClients becomes the profile's
 * maxClientsWithBridge), and without TLS, which does not fit beside the
 * broker in its memory. Returns what the flash prints about it.
 */
export function boardBridges(config: BrokerConfig): string | undefined {
  const list = (config.bridges ?? []) as HostBridge[];
  if (list.length === 0) return undefined;
  if (list.length > 1) {
    throw new ConfigError((list[1].where ?? "") + "connection " + list[1].name + ": a board runs one bridge (its link takes one of the board's sockets); " +
      "bridge to one broker and let that one bridge on");
  }
  const br = list[0];
  if (br.tls !== undefined) {
    throw new ConfigError((br.where ?? "") + "connection " + br.name + ": bridge_cafile: TLS to the remote does not fit on the board beside the broker; " +
      "bridge to a broker on the LAN (mosquitto) and let it bridge on over TLS");
  }
  const p = config.profile;
  const note = "bridge " + br.name + " to " + br.addresses[0].host + ":" + br.addresses[0].port;
  if (p.maxClientsWithBridge === undefined || p.maxClients <= p.maxClientsWithBridge) return note;
  p.maxClients = p.maxClientsWithBridge;
  return note + ": its link takes a socket, so " + p.maxClients + " clients";
}
