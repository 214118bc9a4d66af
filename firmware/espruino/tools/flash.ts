/**
 * `npm run flash -- --port /dev/ttyUSB0 --board esp32 --wifi SSID --config FILE`
 * `npm run flash -- --port tcp://192.168.1.50 --board esp32`
 *
 * Builds dist/espruino/broker.js, checks that the port answers like an
 * Espruino board of the kind named, writes the configuration (mqtt.json) and
 * the firmware (.bootcde) to its flash in chunks with progress, reboots it
 * into the broker and prints where the broker listens.
 */
import * as fs from "node:fs";
import { BrokerConfig } from "../../core/config";
import { boardConfigOf } from "../../tools/board-config";
import { LIMITS_FILE } from "../selftest/suite";
import { BoardProfile } from "../../core/profile";
import { ConfigError, defaultConfig, loadConfig, loadProfile } from "../../../host-sim/config";
import { boardBridges } from "../../../host-sim/bridge-host";
import { promptTty } from "../../../host-sim/passwd-cli";
import { buildEspruino, MANGLE_CACHE } from "./build";
import { renameKeys } from "./mangle";
import { ConsoleError, EspruinoConsole, openLink } from "./console";
import { splitColdFiles } from "./cold-files";
import { readFlags } from "../../tools/flags";

export const WIFI_PASSWORD_ENV = "MQTT_WIFI_PASSWORD";

export interface FlashOptions {
  port: string;
  board: string;
  config?: string;
  wifi?: string;
  wifiPassword?: string;
  accessPoint?: boolean;
  verbose?: boolean;
  /** Code to flash instead of the broker build (device tests). */
  code?: string;
  /** Where progress goes. */
  out?: (line: string) => void;
}

export interface FlashResult {
  host: string;
  port: number;
  memory: { usage: number; total: number };
}

/**
 * The board's limits: the profile's numbers with what the configuration overrides. Neither the
 * profile's name (nothing on the board reads it) nor maxClientsWithBridge (already applied).
 */
export function boardLimits(config: BrokerConfig): { [field: string]: number } {
  const limits: { [field: string]: number } = {};
  for (const [k, v] of Object.entries(config.profile)) if (typeof v === "number" && k !== "maxClientsWithBridge") limits[k] = v;
  return limits;
}

/**
 * What the board reads at boot: the broker's configuration, trimmed to what the core uses. Its
 * limits are written into the code when flash builds it (espruino-inline-profile.ts), and are in
 * mqtt.json only for code built without them (`inCode` false).
 */
export function boardConfig(config: BrokerConfig, profile: BoardProfile & { wifi?: { mode?: string; hostname?: string } }, opts: FlashOptions, inCode = false): object {
  const board = boardConfigOf(config, profile.wifi?.hostname, opts);
  // only the limits the code does not hold (all of them, for code built without them)
  board.config.profile = (inCode ? {} : boardLimits(config)) as unknown as BoardProfile;
  // a bridge as the core reads it: not where it was configured (each character a JsVar's share)
  if (config.bridges !== undefined) board.config.bridges = config.bridges.map((x) => ({ ...x, where: undefined, tls: undefined }));
  return board;
}

export async function flash(opts: FlashOptions): Promise<FlashResult> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const profile = loadProfile(opts.board) as BoardProfile & { espruinoBoard?: string; wifi?: { hostname?: string } };
  const config = opts.config !== undefined ? loadConfig(opts.config, profile) : defaultConfig(profile);
  if (opts.config === undefined) config.listeners = [{ port: 1883, address: undefined }];
  // one bridge, without TLS, and a socket fewer for clients (host-sim/bridge-host.ts)
  const bridgeNote = boardBridges(config);
  if (config.auth.passwords !== undefined) {
    for (const [key, entry] of Object.entries(config.auth.passwords)) {
      if (entry.algo !== "sha256") {
        throw new ConfigError(`password for "${key.slice(1)}" is a ${entry.algo} hash, which the board cannot check (it has SHA-256 only): ` +
          "recreate it with `npx esp-mqtt-broker passwd FILE USER`");
      }
    }
  }
  // the bundle carries its cold code, which goes into Storage files of its own (espruino-cold-files.ts)
  // built for this board: its limits written into the code
  const bundle = splitColdFiles(opts.code ?? buildEspruino({ quiet: true, limits: boardLimits(config) }));
  const code = bundle.main;
  const coldBytes = bundle.files.reduce((n, f) => n + f.text.length, 0);
  // the firmware's property names are shortened: name the configuration's keys the same way
  const cache = JSON.parse(fs.readFileSync(MANGLE_CACHE, "utf8"));
  const inCode = opts.code === undefined;
  const cfgText = JSON.stringify(renameKeys(boardConfig(config, profile, opts, inCode), cache));
  // the limits the code was built with, for the device-test suite (which is built without them) alone:
  // the broker never reads this file, so they cost it nothing
  const limitsText = JSON.stringify(renameKeys(boardLimits(config), cache));

  out(`opening ${opts.port}`);
  const con = new EspruinoConsole(await openLink(opts.port));
  try {
    const hello = await con.hello();
    out(`found Espruino ${hello.version} on board ${hello.board}`);
    if (bridgeNote !== undefined) out(bridgeNote);
    if (profile.espruinoBoard !== undefined && hello.board !== profile.espruinoBoard) {
      throw new ConsoleError(`wrong board: ${opts.port} is a ${hello.board}, the profile "${opts.board}" is for ${profile.espruinoBoard}; pass --board for this board`);
    }
    // stop whatever runs now, so its sockets and timers do not hold memory while we write
    await con.exec("clearInterval();clearTimeout();clearWatch()");
    const free = await con.evalJson<number>('require("Storage").getFree()');
    const old = await con.evalJson<number>('(require("Storage").read(".bootcde")||"").length+(require("Storage").read("mqtt.json")||"").length');
    const need = code.length + cfgText.length + coldBytes;
    if (free + old < need) {
      throw new ConsoleError(`out of flash: the firmware needs ${need} bytes and the board has ${free + old} free; ` +
        'erase unused files (require("Storage").list()) or compact (require("Storage").compact())');
    }
    out(`writing mqtt.json (${cfgText.length} bytes)`);
    await con.writeFile("mqtt.json", Buffer.from(cfgText, "latin1"));
    if (inCode) await con.writeFile(LIMITS_FILE, Buffer.from(limitsText, "latin1"));
    else await con.exec(`require("Storage").erase(${JSON.stringify(LIMITS_FILE)})`);
    out(`writing ${bundle.files.length} files of cold code (${coldBytes} bytes)`);
    for (const f of bundle.files) await con.writeFile(f.name, Buffer.from(f.text, "latin1"));
    let shown = -1;
    await con.writeFile(".bootcde", Buffer.from(code, "latin1"), (done, total) => {
      const pct = Math.floor((done * 100) / total);
      if (pct >= shown + 10 || done === total) {
        shown = pct;
        out(`writing .bootcde ${pct}% (${done}/${total} bytes)`);
      }
    });
    out("rebooting into the broker");
    const from = con.output.length;
    con.link.write("\x10load()\n");
    const printed = await con.waitFor(/mqtt: broker listening on port \d+\r?\n|Uncaught[^\r\n]*|OUT OF MEMORY|no mqtt\.json/, 60000, from);
    if (/OUT OF MEMORY|LOW_MEMORY/.test(printed)) {
      throw new ConsoleError("out of memory while starting the broker: choose a profile with smaller limits (boards/*.json) or turn BLE off (ESP32.enableBLE(false))");
    }
    const m = printed.match(/mqtt: broker listening on port (\d+)\r?\n/);
    if (!m) throw new ConsoleError(`the broker did not start: ${printed.trim().slice(-400)}`);
    const port = Number(m[1]);
    let host = "127.0.0.1";
    if (opts.wifi !== undefined) {
      const ip = await con.evalJson<{ ip: string }>('require("Wifi").getIP()', 30000).catch(() => ({ ip: "" }));
      if (ip.ip) host = ip.ip;
    } else if (opts.port.startsWith("tcp://")) {
      host = opts.port.slice(6).split(":")[0];
    }
    const memory = await con.evalJson<{ usage: number; total: number }>("process.memory()");
    out(`broker up at mqtt://${host}:${port} (${memory.usage} of ${memory.total} JsVars in use)`);
    return { host, port, memory };
  } finally {
    await con.close();
  }
}

function parseArgs(argv: string[]): FlashOptions {
  const o: FlashOptions = { port: "", board: "esp32" };
  readFlags(argv, undefined, (a, v) => {
    if (a === "--port" || a === "-p") o.port = v();
    else if (a === "--board" || a === "-b") o.board = v();
    else if (a === "--config" || a === "-c") o.config = v();
    else if (a === "--wifi") o.wifi = v();
    else if (a === "--ap") o.accessPoint = true;
    else if (a === "-v" || a === "--verbose") o.verbose = true;
    else return false;
    return true;
  }, (why) => new ConfigError(why));
  if (o.port === "") throw new ConfigError("--port is required: a serial device (/dev/ttyUSB0) or tcp://HOST[:PORT] for the telnet console");
  return o;
}

if (require.main === module) {
  (async () => {
    try {
      const o = parseArgs(process.argv.slice(2));
      if (o.wifi !== undefined) {
        // never on the command line, never echoed
        o.wifiPassword = process.env[WIFI_PASSWORD_ENV] ?? promptTty(`Wi-Fi password for ${o.wifi}: `);
        if (o.wifiPassword === undefined) throw new ConfigError(`no Wi-Fi password: set ${WIFI_PASSWORD_ENV} or run from a terminal`);
      }
      await flash(o);
      process.exit(0);
    } catch (e) {
      console.error(`flash: ${(e as Error).message}`);
      process.exit(1);
    }
  })();
}
