/**
 * config.lua, the NodeMCU broker's configuration: a Lua file returning one
 * table, read at boot with dofile (no JSON module needed on the board). It
 * holds a BoardConfig (firmware/core/config.ts): the broker
 * configuration (board profile, listeners, auth, persistence), the Wi-Fi
 * set-up and whether connection lines are printed.
 */
import { BoardConfig, BrokerConfig } from "../../core/config";
import { boardConfigOf } from "../../tools/board-config";
import { PROFILE_FIELDS } from "../../core/profile";
import { ConfigError, defaultConfig, loadConfig, loadProfile } from "../../../host-sim/config";
import { refuseBoardBridges } from "../../../host-sim/bridge-host";

export interface NodeMcuConfigOptions {
  /** Board profile name (boards/NAME.json) or path. */
  board: string;
  /** A mosquitto.conf for listeners, auth and persistence (optional). */
  config?: string;
  /** Listener port when no mosquitto.conf is given (default 1883). */
  port?: number;
  wifi?: string;
  wifiPassword?: string;
  accessPoint?: boolean;
  verbose?: boolean;
}

/** A Lua string literal for a binary string: printable ASCII as is, every other byte as \ddd. */
export function luaString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new Error("luaString takes binary strings (one char per byte)");
    if (c >= 32 && c < 127 && c !== 34 && c !== 92) out += s[i];
    else out += "\\" + String(c).padStart(3, "0");
  }
  return out + '"';
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LUA_KEYWORDS = new Set([
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil",
  "not", "or", "repeat", "return", "then", "true", "until", "while",
]);

/** A Lua constructor for plain data: objects, dense arrays, strings, integers, booleans (undefined left out). */
export function toLua(v: unknown, indent = ""): string {
  if (typeof v === "string") return luaString(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    // integers only: NodeMCU on the ESP32 has 32-bit integers and single floats
    if (!Number.isInteger(v) || Math.abs(v) >= 2147483648) throw new Error(`config.lua takes 32-bit integers, got ${v}`);
    return String(v);
  }
  const inner = indent + "  ";
  if (Array.isArray(v)) {
    if (v.length === 0) return "{}";
    return "{\n" + v.map((x) => inner + toLua(x, inner)).join(",\n") + "\n" + indent + "}";
  }
  if (typeof v === "object" && v !== null) {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      const key = IDENT.test(k) && !LUA_KEYWORDS.has(k) ? k : "[" + luaString(k) + "]";
      parts.push(inner + key + " = " + toLua(x, inner));
    }
    if (parts.length === 0) return "{}";
    return "{\n" + parts.join(",\n") + "\n" + indent + "}";
  }
  throw new Error(`config.lua cannot hold ${String(v)}`);
}

/** The BoardConfig a NodeMCU board boots with. */
export function nodemcuBoardConfig(opts: NodeMcuConfigOptions): BoardConfig {
  const profile = loadProfile(opts.board) as ReturnType<typeof loadProfile> & { wifi?: { hostname?: string } };
  const config = opts.config !== undefined ? loadConfig(opts.config, profile) : defaultConfig(profile);
  if (opts.config === undefined) config.listeners = [{ port: opts.port ?? 1883, address: undefined }];
  if (config.auth.passwords !== undefined) {
    for (const [key, entry] of Object.entries(config.auth.passwords)) {
      if (entry.algo !== "sha256") {
        throw new ConfigError(`password for "${key.slice(1)}" is a ${entry.algo} hash, which NodeMCU cannot check (it has SHA-256 only, ` +
          "with the crypto module): recreate it with `npx esp-mqtt-broker passwd FILE USER`");
      }
    }
  }
  // bridges: not on NodeMCU (its adapter has no outbound socket); the desktop and an Espruino board run them
  refuseBoardBridges(config, "NodeMCU");
  // only the fields the core reads: the profile's description and board names stay on the desktop
  const p: { [k: string]: unknown } = { name: config.profile.name };
  for (const f of PROFILE_FIELDS) p[f] = (config.profile as unknown as { [k: string]: unknown })[f];
  const board = boardConfigOf(config, profile.wifi?.hostname, opts);
  board.config.profile = p as unknown as BrokerConfig["profile"];
  board.config.persistenceLocation = undefined;
  return board;
}

/** config.lua's text. */
export function configLua(opts: NodeMcuConfigOptions): string {
  return "-- config.lua: the MQTT broker's configuration (written by npm run flash:nodemcu)\nreturn " +
    toLua(nodemcuBoardConfig(opts)) + "\n";
}
