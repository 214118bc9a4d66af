import { accessSync, constants as fsConstants, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { BrokerConfig, Listener } from "../firmware/config";
import { AclTable, PasswordEntry } from "../firmware/auth/types";
import { BoardProfile, PROFILE_FIELDS } from "../firmware/profile";
import { parseAclFile } from "./acl-file";
import { parsePasswordFile } from "./password-file";

/**
 * The desktop's configuration: the part of mosquitto.conf this broker
 * understands, read once at start (like mosquitto's conf.c), and the board
 * profiles in boards/*.json.
 */

/**
 * A configuration mistake. The message says where: `FILE:LINE: what is wrong`.
 * password-file.ts and acl-file.ts throw it too; they import it from here
 * while this file imports them, a cycle that is safe because the class is
 * only used inside functions, never while the modules load.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** TLS on one listener (mosquitto's per-listener certfile, keyfile, cafile, require_certificate). */
export interface TlsOptions {
  certfile: string;
  keyfile: string;
  cafile: string | undefined;
  requireCertificate: boolean;
}

/** A listener as the desktop has it: the core's, plus TLS (node:tls in tcp.ts). */
export interface HostListener extends Listener {
  tls?: TlsOptions;
  /** mosquitto's `protocol`: MQTT over TCP (the default) or over WebSockets (ws.ts). */
  protocol?: "mqtt" | "websockets";
  /** mosquitto's `http_dir`: files a websockets listener serves beside its status page. */
  httpDir?: string;
}

/** The TLS settings of a listener from the configuration, if any. */
export function listenerTls(l: Listener): TlsOptions | undefined {
  return (l as HostListener).tls;
}

/** True for a `protocol websockets` listener. */
export function isWebSocketListener(l: Listener): boolean {
  return (l as HostListener).protocol === "websockets";
}

/** The `http_dir` of a websockets listener, if any. */
export function listenerHttpDir(l: Listener): string | undefined {
  return (l as HostListener).httpDir;
}

const DEFAULT_PORT = 1883;
const LOOPBACK = "127.0.0.1";
/** MQTT's largest remaining length, mosquitto's ceiling for message_size_limit. */
const MAX_MESSAGE_SIZE = 268435455;

/** A copy of the profile, so overrides never reach the caller's object. */
function copyProfile(profile: BoardProfile): BoardProfile {
  return JSON.parse(JSON.stringify(profile)) as BoardProfile;
}

/**
 * The embedded default, used without a configuration file (mosquitto 2.0's
 * "local only" mode): one listener on 127.0.0.1:1883, anonymous clients
 * allowed from loopback only, no passwords, no ACL, retained messages on,
 * no persistence.
 */
export function defaultConfig(profile: BoardProfile): BrokerConfig {
  return {
    profile: copyProfile(profile),
    listeners: [{ port: DEFAULT_PORT, address: LOOPBACK }],
    auth: {
      allowAnonymous: true,
      anonymousLoopbackOnly: true,
      passwords: undefined,
      acl: undefined,
    },
    retainAvailable: true,
    persistence: false,
    persistenceLocation: undefined,
  };
}

interface Line {
  where: string;
  option: string;
  args: string[];
  /** Everything after the option name, trimmed (paths may hold spaces). */
  rest: string;
}

function argCount(line: Line, min: number, max: number): void {
  const n = line.args.length;
  if (n >= min && n <= max) return;
  let wanted: string;
  if (min === max) wanted = min === 1 ? "1 argument" : min + " arguments";
  else wanted = min + " or " + max + " arguments";
  throw new ConfigError(line.where + '"' + line.option + '" takes ' + wanted + ", got " + n);
}

function intArg(line: Line, index: number, min: number, max: number): number {
  const text = line.args[index];
  if (!/^-?[0-9]+$/.test(text)) {
    throw new ConfigError(line.where + '"' + line.option + '" needs an integer, got "' + text + '"');
  }
  const value = Number(text);
  if (value < min || value > max) {
    throw new ConfigError(line.where + '"' + line.option + '" must be between ' + min + " and " + max + ", got " + text);
  }
  return value;
}

/** mosquitto's conf__parse_bool: true/false, also 1/0. */
function boolArg(line: Line): boolean {
  argCount(line, 1, 1);
  const text = line.args[0];
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  throw new ConfigError(line.where + '"' + line.option + '" needs true or false, got "' + text + '"');
}

function pathArg(line: Line, dir: string): string {
  if (line.rest === "") throw new ConfigError(line.where + '"' + line.option + '" needs a path');
  return path.resolve(dir, line.rest);
}

/** A password_file / acl_file the broker cannot read is this line's mistake. */
function checkReadable(line: Line, file: string): void {
  try {
    accessSync(file, fsConstants.R_OK);
    if (!statSync(file).isFile()) throw new Error("not a file");
  } catch (e) {
    throw new ConfigError(line.where + "cannot read " + line.option + ' "' + file + '": ' + (e as Error).message);
  }
}

/**
 * Read a mosquitto.conf. Without a path: defaultConfig(profile).
 *
 * Understood: `listener PORT [ADDRESS]` (several), `port N` and
 * `bind_address ADDR` (mosquitto's default listener, created at the first of
 * them with port 1883), `allow_anonymous`, `password_file`, `acl_file`,
 * `max_connections` (-1 or 0: the profile's), `max_inflight_messages` and
 * `max_queued_messages` (0 = unlimited in mosquitto: the profile's),
 * `message_size_limit` (profile.maxPayloadSize; 0 = up to maxPacketSize),
 * `retain_available`, `persistence`, `persistence_location`, and per
 * listener `certfile`, `keyfile`, `cafile`, `require_certificate` (TLS on
 * the listener they follow, as mosquitto; before any `listener`, on the
 * default one), `protocol mqtt|websockets` and `http_dir DIR` (per listener
 * too; http_dir only on a websockets one). Relative paths
 * resolve against the configuration file's folder. Anything else is a
 * ConfigError `FILE:LINE: what is wrong`.
 *
 * Anonymous access (mosquitto 2.0): `allow_anonymous` when given; otherwise
 * false as soon as a listener is configured, true in local-only mode (no
 * listener in the file: one on 127.0.0.1:1883). anonymousLoopbackOnly is
 * always false with a file: the listeners say where clients come from.
 */
export function loadConfig(file: string | undefined, profile: BoardProfile): BrokerConfig {
  if (file === undefined) return defaultConfig(profile);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(file + ": cannot read configuration file: " + (e as Error).message);
  }
  const dir = path.dirname(path.resolve(file));
  const config = defaultConfig(profile);
  const p = config.profile;
  const listeners: Listener[] = [];
  let defaultListener: Listener | undefined = undefined;
  /** The listener that per-listener options (certfile, ...) apply to: the last `listener`, or the default one. */
  let current: HostListener | undefined = undefined;
  const tlsParts: { listener: HostListener; where: string; certfile?: string; keyfile?: string; cafile?: string; require?: boolean }[] = [];
  const tlsOf = (line: Line) => {
    if (current === undefined) {
      // as mosquitto: before any `listener`, they configure the default listener
      if (defaultListener === undefined) {
        defaultListener = { port: DEFAULT_PORT, address: undefined };
        listeners.push(defaultListener);
      }
      current = defaultListener;
    }
    let t = tlsParts.find((x) => x.listener === current);
    if (t === undefined) {
      t = { listener: current, where: line.where };
      tlsParts.push(t);
    }
    return t;
  };
  /** Where each http_dir was given: checked against its listener's protocol at the end. */
  const httpDirAt: { listener: HostListener; where: string }[] = [];
  let allowAnonymous: boolean | undefined = undefined;
  let passwords: { [key: string]: PasswordEntry } | undefined = undefined;
  let acl: AclTable | undefined = undefined;
  const seen: { [option: string]: boolean } = {};

  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i].trim();
    if (trimmed === "" || trimmed.charAt(0) === "#") continue;
    const words = trimmed.split(/\s+/);
    const line: Line = {
      where: file + ":" + (i + 1) + ": ",
      option: words[0],
      args: words.slice(1),
      rest: trimmed.substring(words[0].length).trim(),
    };
    const option = line.option;
    // options holding one path: a second occurrence is a mistake (mosquitto: "Duplicate ... value")
    if (option === "password_file" || option === "acl_file" || option === "persistence_location") {
      if (seen["o" + option] === true) {
        throw new ConfigError(line.where + 'duplicate "' + option + '"');
      }
      seen["o" + option] = true;
    }
    switch (option) {
      case "listener": {
        argCount(line, 1, 2);
        const listener: Listener = { port: intArg(line, 0, 1, 65535), address: line.args[1] };
        for (let j = 0; j < listeners.length; j++) {
          if (listeners[j].port === listener.port && listeners[j].address === listener.address) {
            throw new ConfigError(line.where + "duplicate listener on port " + listener.port);
          }
        }
        listeners.push(listener);
        current = listener;
        break;
      }
      case "port":
      case "bind_address": {
        argCount(line, 1, 1);
        if (defaultListener === undefined) {
          defaultListener = { port: DEFAULT_PORT, address: undefined };
          listeners.push(defaultListener);
        }
        current = defaultListener;
        if (option === "port") defaultListener.port = intArg(line, 0, 1, 65535);
        else defaultListener.address = line.args[0];
        break;
      }
      case "allow_anonymous":
        allowAnonymous = boolArg(line);
        break;
      case "password_file": {
        const pwPath = pathArg(line, dir);
        checkReadable(line, pwPath);
        passwords = parsePasswordFile(pwPath);
        break;
      }
      case "acl_file": {
        const aclPath = pathArg(line, dir);
        checkReadable(line, aclPath);
        acl = parseAclFile(aclPath);
        break;
      }
      case "max_connections": {
        argCount(line, 1, 1);
        const n = intArg(line, 0, -1, 16777215);
        if (n > 0) p.maxClients = n;
        break;
      }
      case "max_inflight_messages": {
        argCount(line, 1, 1);
        const n = intArg(line, 0, 0, 65535);
        if (n > 0) p.maxInflight = n;
        break;
      }
      case "max_queued_messages": {
        argCount(line, 1, 1);
        const n = intArg(line, 0, 0, 16777215);
        if (n > 0) p.maxQueued = n;
        break;
      }
      case "message_size_limit": {
        argCount(line, 1, 1);
        p.maxPayloadSize = intArg(line, 0, 0, MAX_MESSAGE_SIZE);
        break;
      }
      case "retain_available":
        config.retainAvailable = boolArg(line);
        break;
      case "persistence":
        config.persistence = boolArg(line);
        break;
      case "persistence_location":
        config.persistenceLocation = pathArg(line, dir);
        break;
      case "certfile":
      case "keyfile":
      case "cafile": {
        const file = pathArg(line, dir);
        checkReadable(line, file);
        const t = tlsOf(line);
        if (option === "certfile") t.certfile = file;
        else if (option === "keyfile") t.keyfile = file;
        else t.cafile = file;
        break;
      }
      case "require_certificate":
        tlsOf(line).require = boolArg(line);
        break;
      case "protocol":
      case "http_dir": {
        // per listener, as mosquitto: the last `listener`, or the default one
        const l = tlsOf(line).listener;
        if (option === "protocol") {
          argCount(line, 1, 1);
          const value = line.args[0];
          if (value !== "mqtt" && value !== "websockets") {
            throw new ConfigError(line.where + '"protocol" must be mqtt or websockets, got "' + value + '"');
          }
          l.protocol = value;
        } else {
          const httpDir = pathArg(line, dir);
          let isDir = false;
          try {
            isDir = statSync(httpDir).isDirectory();
          } catch (e) {
            // not there: said below
          }
          if (!isDir) throw new ConfigError(line.where + 'http_dir "' + httpDir + '" is not a folder');
          l.httpDir = httpDir;
          httpDirAt.push({ listener: l, where: line.where });
        }
        break;
      }
      case "autosave_interval": {
        // seconds between saves of the persisted state (a board spares its flash with a long one)
        argCount(line, 1, 1);
        p.persistIntervalMs = intArg(line, 0, 1, 86400) * 1000;
        break;
      }
      default:
        throw new ConfigError(line.where + 'unknown option "' + option + '"');
    }
  }

  for (const h of httpDirAt) {
    if (h.listener.protocol !== "websockets") {
      throw new ConfigError(h.where + "http_dir needs \"protocol websockets\" on the same listener");
    }
  }
  for (const t of tlsParts) {
    if (t.certfile === undefined && t.keyfile === undefined) {
      if (t.cafile !== undefined || t.require === true) {
        throw new ConfigError(t.where + "cafile and require_certificate need certfile and keyfile on the same listener");
      }
      continue;
    }
    if (t.certfile === undefined || t.keyfile === undefined) {
      throw new ConfigError(t.where + "a TLS listener needs both certfile and keyfile");
    }
    if (t.require === true && t.cafile === undefined) {
      throw new ConfigError(t.where + "require_certificate true needs a cafile to check client certificates against");
    }
    t.listener.tls = { certfile: t.certfile, keyfile: t.keyfile, cafile: t.cafile, requireCertificate: t.require === true };
  }
  const localOnly = listeners.length === 0;
  config.listeners = localOnly ? [{ port: DEFAULT_PORT, address: LOOPBACK }] : listeners;
  config.auth = {
    allowAnonymous: allowAnonymous !== undefined ? allowAnonymous : localOnly,
    anonymousLoopbackOnly: false,
    passwords: passwords,
    acl: acl,
  };
  return config;
}

function isNonNegativeInteger(value: unknown): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/** The folder holding the board profiles (boards/ at the repository root). */
export const BOARDS_DIR = path.join(__dirname, "..", "boards");

/**
 * A board profile: a name from boards/ ("host", "esp32") or a path to a JSON
 * file (anything with a path separator or ending in ".json"). Every field in
 * PROFILE_FIELDS must be a non-negative integer; `name` defaults to the file
 * name. Problems are ConfigErrors naming the file.
 */
export function loadProfile(nameOrPath: string): BoardProfile {
  const isPath = /[\\/]/.test(nameOrPath) || /\.json$/i.test(nameOrPath);
  let file: string;
  if (isPath) {
    file = path.resolve(nameOrPath);
  } else {
    if (!/^[A-Za-z0-9_.-]+$/.test(nameOrPath)) {
      throw new ConfigError('invalid board name "' + nameOrPath + '"');
    }
    file = path.join(BOARDS_DIR, nameOrPath + ".json");
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if (!isPath) {
      let known: string[] = [];
      try {
        known = readdirSync(BOARDS_DIR)
          .filter((f) => f.endsWith(".json"))
          .map((f) => f.slice(0, -5));
      } catch (_) {
        // no listing: the message still names the board
      }
      throw new ConfigError('unknown board "' + nameOrPath + '" (known: ' + known.join(", ") + ")");
    }
    throw new ConfigError(file + ": cannot read board profile: " + (e as Error).message);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file + ": invalid JSON: " + (e as Error).message);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ConfigError(file + ": a board profile must be a JSON object");
  }
  const record = data as { [key: string]: unknown };
  for (let i = 0; i < PROFILE_FIELDS.length; i++) {
    const field = PROFILE_FIELDS[i];
    if (!(field in record)) {
      throw new ConfigError(file + ': missing "' + field + '"');
    }
    if (!isNonNegativeInteger(record[field])) {
      throw new ConfigError(file + ': "' + field + '" must be a non-negative integer, got ' + JSON.stringify(record[field]));
    }
  }
  if (record.name === undefined) {
    record.name = path.basename(file, ".json");
  } else if (typeof record.name !== "string") {
    throw new ConfigError(file + ': "name" must be a string');
  }
  return record as unknown as BoardProfile;
}
