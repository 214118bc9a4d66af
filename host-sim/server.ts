import { Broker, stopBroker } from "../firmware/core/broker/broker";
import { publishSys } from "../firmware/core/broker/sys_tree";
import { BrokerConfig } from "../firmware/core/config";
import { nodePlatform } from "./platform";
import { TcpTransport } from "./tcp";
import { attachPersistence, Persistence } from "./persistence";
import { attachBridges } from "./bridge-host";
import { isWebSocketListener, listenerHttpDir, listenerTls } from "./config";
import { WsTransport } from "./ws";
import { MuxTransport } from "./transports";

export interface RunningBroker {
  broker: Broker;
  transport: TcpTransport;
  /** The `protocol websockets` listeners' connections (ws.ts). */
  ws: WsTransport;
  /** Ports actually bound, in listener order (useful with port 0). */
  ports: number[];
  close(): Promise<void>;
}

export interface StartOptions {
  /** A clock for keepalive and timeouts (tests pass a fake one); default Date.now. */
  now?: () => number;
  /** Do not start the tick timer: the caller calls broker.tick() (tests with a fake clock). */
  manualTick?: boolean;
}

/** The broker on real TCP: every listener in the config, a tick timer, optional persistence. */
export async function startBroker(
  config: BrokerConfig, log: (line: string) => void = () => {}, opts: StartOptions = {},
): Promise<RunningBroker> {
  const transport = new TcpTransport();
  const ws = new WsTransport();
  // one id space: both accept through this broker, the mux routes each id to its side (and
  // without a WebSocket listener every send goes straight to TCP, no lookup on the hot path)
  const anyWs = config.listeners.some((l) => isWebSocketListener(l));
  const broker = new Broker(config, nodePlatform(log, opts.now), anyWs ? new MuxTransport(transport, ws) : transport);
  transport.attach(broker);
  ws.attach(broker);
  let persistence: Persistence | undefined;
  if (config.persistence) persistence = attachPersistence(broker, config);
  const ports: number[] = [];
  try {
    for (const l of config.listeners) {
      const server = isWebSocketListener(l)
        ? await ws.listen(l.port, l.address, listenerTls(l), listenerHttpDir(l))
        : await transport.listen(l.port, l.address, listenerTls(l));
      const addr = server.address();
      ports.push(typeof addr === "object" && addr !== null ? addr.port : l.port);
    }
  } catch (e) {
    await transport.shutdown();
    await ws.shutdown();
    throw e;
  }
  // bridges (`connection` sections) start once the listeners are up
  const bridges = attachBridges(broker, config);
  const timer = opts.manualTick ? undefined : setInterval(() => {
    broker.tick();
    if (bridges) bridges.tick();
    publishSys(broker);
    if (persistence) persistence.maybeSave();
  }, config.profile.tickMs);
  return {
    broker,
    transport,
    ws,
    ports,
    async close() {
      if (timer !== undefined) clearInterval(timer);
      if (bridges) bridges.stop();
      stopBroker(broker);
      if (persistence) persistence.save();
      await transport.shutdown();
      await ws.shutdown();
    },
  };
}
