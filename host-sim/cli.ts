import { BrokerConfig } from "../firmware/config";
import { ConfigError, defaultConfig, listenerTls, loadConfig, loadProfile } from "./config";
import { runPasswd } from "./passwd-cli";
import { startBroker } from "./server";

const USAGE = `usage: esp-mqtt-broker [--port N] [--config FILE] [--board NAME] [-v]
       esp-mqtt-broker passwd [-c | -D] FILE USER

  --port N       listen on port N (overrides the config's listeners' ports)
  --config FILE  read a mosquitto.conf subset (listener, allow_anonymous,
                 password_file, acl_file, max_connections, ...)
  --board NAME   board profile from boards/NAME.json (default: host)
  -v             one line per connect, disconnect and subscribe
Without --config: 127.0.0.1:1883, anonymous clients from this machine only.`;

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "passwd") return runPasswd(argv.slice(1));
  let port: number | undefined;
  let configFile: string | undefined;
  let board = "host";
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--port" || a === "-p") {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0 || v > 65535) {
        console.error(`esp-mqtt-broker: --port needs a number from 0 to 65535, got "${argv[i]}"`);
        return 2;
      }
      port = v;
    } else if (a === "--config" || a === "-c") {
      configFile = argv[++i];
    } else if (a === "--board") {
      board = argv[++i];
    } else if (a === "-v" || a === "--verbose") {
      verbose = true;
    } else if (a === "-h" || a === "--help") {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`esp-mqtt-broker: unknown option "${a}"\n${USAGE}`);
      return 2;
    }
  }
  let config: BrokerConfig;
  try {
    const profile = loadProfile(board);
    config = configFile !== undefined ? loadConfig(configFile, profile) : defaultConfig(profile);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof Error) {
      console.error(`esp-mqtt-broker: ${e.message}`);
      return 1;
    }
    throw e;
  }
  if (port !== undefined) {
    if (config.listeners.length === 0) config.listeners.push({ port, address: undefined });
    for (const l of config.listeners) l.port = port;
  }
  const log = verbose ? (line: string) => console.log(`${new Date().toISOString()} ${line}`) : () => {};
  let running;
  try {
    running = await startBroker(config, log);
  } catch (e) {
    console.error(`esp-mqtt-broker: cannot listen: ${(e as Error).message}`);
    return 1;
  }
  const where = config.listeners.map((l, i) => `${l.address ?? "0.0.0.0"}:${running!.ports[i]}${listenerTls(l) !== undefined ? " (TLS)" : ""}`).join(", ");
  console.log(`esp-mqtt-broker listening on ${where} (board ${config.profile.name})`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      running!.close().then(() => resolve(0), () => resolve(1));
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}
