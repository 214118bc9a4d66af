import { spawn } from "node:child_process";
import { BrokerConfig } from "../firmware/core/config";
import { ConfigError, defaultConfig, isWebSocketListener, listenerTls, loadConfig, loadProfile } from "./config";
import { runPasswd } from "./passwd-cli";
import { startBroker } from "./server";

const USAGE = `usage: esp-mqtt-broker [-c FILE] [-p PORT] [--board NAME] [-d] [-v] [-h]
       esp-mqtt-broker passwd [-c | -D] FILE USER

  -c, --config FILE  read a mosquitto.conf subset (listener, allow_anonymous,
                     password_file, acl_file, max_connections, ...)
  -p, --port PORT    listen on PORT (overrides the config's listeners' ports)
  --board NAME       board profile from boards/NAME.json (default: host)
  -d, --daemon       go into the background once listening (output discarded;
                     stop it with SIGTERM)
  -v, --verbose      one line per connect, disconnect and subscribe
  -h, --help         this text
Without -c: 127.0.0.1:1883, anonymous clients from this machine only.
passwd: mosquitto_passwd's job (-c creates FILE, -D deletes USER).`;

/** Set in the environment of the background process -d starts. */
const DAEMON_ENV = "ESP_MQTT_BROKER_DAEMON";

/**
 * -d: Node has no fork(), so the broker starts itself again, detached (its own
 * session, stdio on /dev/null), with the same arguments but -d, and waits
 * until that process listens or fails: exit 0 and print nothing (as mosquitto
 * -d), or the child's error and exit 1.
 */
function daemonize(args: string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args], {
    detached: true,
    stdio: ["ignore", "ignore", "ignore", "ipc"],
    env: Object.assign({}, process.env, { [DAEMON_ENV]: "1" }),
  });
  return new Promise<number>((resolve) => {
    let done = false;
    const finish = (code: number, message?: string) => {
      if (done) return;
      done = true;
      if (message !== undefined) console.error(message);
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    child.on("message", (m: { listening?: string; error?: string }) => {
      if (m.listening !== undefined) finish(0);
      else finish(1, m.error ?? "esp-mqtt-broker: the background process failed");
    });
    child.on("error", (e) => finish(1, `esp-mqtt-broker: cannot start in the background: ${e.message}`));
    child.on("exit", (code, signal) => finish(1, `esp-mqtt-broker: the background process exited (${signal ?? "code " + code}) before listening`));
  });
}

/** In the process -d started: tell the parent, then cut the channel so it can exit. */
function tellParent(m: { listening?: string; error?: string }): void {
  if (process.env[DAEMON_ENV] !== "1" || process.send === undefined) return;
  process.send(m, () => process.disconnect());
}

function fail(message: string): void {
  console.error(message);
  tellParent({ error: message });
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "passwd") return runPasswd(argv.slice(1));
  let port: number | undefined;
  let configFile: string | undefined;
  let board = "host";
  let verbose = false;
  let daemon = false;
  const childArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string | undefined => {
      const v = argv[++i];
      if (v === undefined) console.error(`esp-mqtt-broker: ${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === "-d" || a === "--daemon") {
      daemon = true;
      continue;
    }
    childArgs.push(a);
    if (a === "--port" || a === "-p") {
      const raw = value();
      if (raw === undefined) return 2;
      childArgs.push(raw);
      const v = Number(raw);
      if (raw.trim() === "" || !Number.isInteger(v) || v < 0 || v > 65535) {
        console.error(`esp-mqtt-broker: ${a} needs a number from 0 to 65535, got "${raw}"`);
        return 2;
      }
      port = v;
    } else if (a === "--config" || a === "-c") {
      configFile = value();
      if (configFile === undefined) return 2;
      childArgs.push(configFile);
    } else if (a === "--board") {
      const v = value();
      if (v === undefined) return 2;
      childArgs.push(v);
      board = v;
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
      fail(`esp-mqtt-broker: ${e.message}`);
      return 1;
    }
    throw e;
  }
  if (port !== undefined) {
    if (config.listeners.length === 0) config.listeners.push({ port, address: undefined });
    for (const l of config.listeners) l.port = port;
  }
  // the configuration is read and valid: errors in it are reported here, not lost in the background
  if (daemon) return daemonize(childArgs);
  const log = verbose ? (line: string) => console.log(`${new Date().toISOString()} ${line}`) : () => {};
  let running;
  try {
    running = await startBroker(config, log);
  } catch (e) {
    fail(`esp-mqtt-broker: cannot listen: ${(e as Error).message}`);
    return 1;
  }
  const where = config.listeners.map((l, i) => `${l.address ?? "0.0.0.0"}:${running!.ports[i]}${isWebSocketListener(l) ? " (WebSockets)" : ""}${listenerTls(l) !== undefined ? " (TLS)" : ""}`).join(", ");
  console.log(`esp-mqtt-broker listening on ${where} (board ${config.profile.name})`);
  tellParent({ listening: where });
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
