import { accessSync, constants as fsConstants, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { BrokerConfig, Listener } from "../firmware/core/config";
import { AclTable, PasswordEntry } from "../firmware/core/auth/types";
import { BoardProfile, PROFILE_FIELDS } from "../firmware/core/profile";
import { parseAclFile } from "./acl-file";
import { BRIDGE_BOTH, BRIDGE_IN, BRIDGE_OUT, BridgeAddress } from "../firmware/core/bridge/types";
import type { HostBridge } from "./bridge-host";
import { parsePasswordFile } from "./password-file";
import { ConfigError } from "./config-error";

export { ConfigError };

/**
 * The desktop's configuration: the part of mosquitto.conf this broker
 * understands, read once at start (like mosquitto's conf.c), and the board
 * profiles in boards/*.json.
 */

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
  const bridgeState = newBridgeState();

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
        if (bridgeLine(line, bridgeState, dir)) break;
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
  const bridges = finishBridges(bridgeState);
  if (bridges.length > 0) config.bridges = bridges;
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

// ---- bridges: `connection NAME` and the options after it (mosquitto.conf(5), "Bridges") ----

/** mosquitto bridge options this broker does not do: named as such, not as unknown. */
const BRIDGE_NOT_HERE = [
  "local_clientid", "local_username", "local_password", "local_cleansession", "notifications_local_only",
  "round_robin", "idle_timeout", "threshold", "bridge_capath", "bridge_alpn", "bridge_identity", "bridge_psk",
  "bridge_tls_version", "bridge_require_ocsp", "bridge_attempt_unsubscribe", "bridge_bind_address",
  "bridge_max_packet_size", "bridge_outgoing_retain", "bridge_max_topic_alias", "bridge_receive_maximum",
  "bridge_session_expiry_interval", "clientid", "username", "password", "notification_topics",
];

interface BridgeParts {
  bridge: HostBridge;
  where: string;
  clientIdSet: boolean;
  notificationTopic: string | undefined;
  cafile?: string;
  certfile?: string;
  keyfile?: string;
  insecure: boolean;
  passwordWhere?: string;
}

/** What the bridge lines of one file have said so far. */
export interface BridgeState {
  parts: BridgeParts[];
}

export function newBridgeState(): BridgeState {
  return { parts: [] };
}

/** `""` in mosquitto.conf is the empty string (an empty topic prefix). */
function unquote(s: string): string {
  return s === '""' ? "" : s;
}

function hasWildcard(s: string): boolean {
  return s.indexOf("+") >= 0 || s.indexOf("#") >= 0;
}

/** A topic filter as MQTT allows one: `+` and `#` only as whole levels, `#` last. */
function validFilter(f: string): boolean {
  if (f.length === 0) return false;
  const levels = f.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.indexOf("#") >= 0 && (l !== "#" || i !== levels.length - 1)) return false;
    if (l.indexOf("+") >= 0 && l !== "+") return false;
  }
  return true;
}

function hostPort(line: Line, text: string): BridgeAddress {
  const m = /^([^:\s]+)(?::([0-9]+))?$/.exec(text);
  if (m === null) throw new ConfigError(line.where + '"' + line.option + '" needs host[:port], got "' + text + '"');
  const port = m[2] === undefined ? DEFAULT_PORT : Number(m[2]);
  if (port < 1 || port > 65535) throw new ConfigError(line.where + '"' + line.option + '" port must be between 1 and 65535, got ' + m[2]);
  return { host: m[1], port };
}

/**
 * A bridge line: true when `line` was one (and is taken), false when it is
 * no bridge option at all. Mistakes are ConfigErrors `FILE:LINE: ...`.
 */
export function bridgeLine(line: Line, state: BridgeState, dir: string): boolean {
  const option = line.option;
  if (option === "connection") {
    argCount(line, 1, 1);
    const name = line.args[0];
    for (const p of state.parts) {
      if (p.bridge.name === name) throw new ConfigError(line.where + 'duplicate connection "' + name + '"');
    }
    state.parts.push({
      bridge: {
        name, addresses: [], clientId: name, cleanSession: false, keepalive: 60, restartBaseMs: 5000, restartCapMs: 30000,
        username: undefined, password: undefined, notifications: true, notificationTopic: "", tryPrivate: true, topics: [],
        where: line.where,
      },
      where: line.where, clientIdSet: false, notificationTopic: undefined, insecure: false,
    });
    return true;
  }
  const known = ["address", "addresses", "topic", "cleansession", "keepalive_interval", "restart_timeout", "remote_username",
    "remote_password", "remote_clientid", "notifications", "notification_topic", "try_private", "bridge_protocol_version",
    "start_type", "bridge_cafile", "bridge_certfile", "bridge_keyfile", "bridge_insecure"];
  if (BRIDGE_NOT_HERE.indexOf(option) >= 0) {
    throw new ConfigError(line.where + '"' + option + '" (a mosquitto bridge option) is not supported by this broker');
  }
  if (known.indexOf(option) < 0) return false;
  const cur = state.parts[state.parts.length - 1];
  if (cur === undefined) throw new ConfigError(line.where + '"' + option + '" needs a "connection NAME" line before it');
  const br = cur.bridge;
  switch (option) {
    case "address":
    case "addresses": {
      if (line.args.length === 0) throw new ConfigError(line.where + '"' + option + '" needs host[:port]');
      if (br.addresses.length > 0) throw new ConfigError(line.where + 'duplicate "' + option + '" in connection ' + br.name);
      for (const a of line.args) br.addresses.push(hostPort(line, a));
      break;
    }
    case "topic": {
      argCount(line, 1, 5);
      if (line.args.length === 4) throw new ConfigError(line.where + '"topic" with a local prefix needs a remote prefix too');
      const pattern = unquote(line.args[0]);
      let direction = BRIDGE_OUT;
      if (line.args.length >= 2) {
        const d = line.args[1];
        if (d === "out") direction = BRIDGE_OUT;
        else if (d === "in") direction = BRIDGE_IN;
        else if (d === "both") direction = BRIDGE_BOTH;
        else throw new ConfigError(line.where + '"topic" direction must be out, in or both, got "' + d + '"');
      }
      const qos = line.args.length >= 3 ? intArg(line, 2, 0, 2) : 0;
      const localPrefix = line.args.length === 5 ? unquote(line.args[3]) : "";
      const remotePrefix = line.args.length === 5 ? unquote(line.args[4]) : "";
      if (hasWildcard(localPrefix) || hasWildcard(remotePrefix)) {
        throw new ConfigError(line.where + '"topic" prefixes may not hold + or #');
      }
      if (pattern === "" && localPrefix === "" && remotePrefix === "") {
        throw new ConfigError(line.where + '"topic" "" needs a local or remote prefix');
      }
      if (!validFilter(localPrefix + pattern) || !validFilter(remotePrefix + pattern)) {
        throw new ConfigError(line.where + '"topic" "' + line.args[0] + '" is not a valid topic filter with its prefixes');
      }
      br.topics.push({ pattern, direction, qos, localPrefix, remotePrefix });
      break;
    }
    case "cleansession":
      br.cleanSession = boolArg(line);
      break;
    case "keepalive_interval":
      argCount(line, 1, 1);
      br.keepalive = intArg(line, 0, 5, 65535);
      break;
    case "restart_timeout": {
      argCount(line, 1, 2);
      const base = intArg(line, 0, 1, 86400);
      if (line.args.length === 2) {
        const cap = intArg(line, 1, 1, 86400);
        if (cap < base) throw new ConfigError(line.where + '"restart_timeout" cap ' + cap + " is below its base " + base);
        br.restartBaseMs = base * 1000;
        br.restartCapMs = cap * 1000;
      } else {
        br.restartBaseMs = base * 1000;
        br.restartCapMs = 0;
      }
      break;
    }
    case "remote_username":
      argCount(line, 1, 1);
      br.username = line.args[0];
      break;
    case "remote_password":
      argCount(line, 1, 1);
      br.password = line.args[0];
      cur.passwordWhere = line.where;
      break;
    case "remote_clientid":
      argCount(line, 1, 1);
      br.clientId = line.args[0];
      cur.clientIdSet = true;
      break;
    case "notifications":
      br.notifications = boolArg(line);
      break;
    case "notification_topic": {
      argCount(line, 1, 1);
      const t = line.args[0];
      if (hasWildcard(t)) throw new ConfigError(line.where + '"notification_topic" may not hold + or #');
      cur.notificationTopic = t;
      break;
    }
    case "try_private":
      br.tryPrivate = boolArg(line);
      break;
    case "bridge_protocol_version":
      argCount(line, 1, 1);
      if (line.args[0] !== "mqttv311") {
        throw new ConfigError(line.where + '"bridge_protocol_version" ' + line.args[0] + " does not apply: this broker bridges with mqttv311 only");
      }
      break;
    case "start_type":
      argCount(line, 1, 1);
      if (line.args[0] !== "automatic") {
        throw new ConfigError(line.where + '"start_type" ' + line.args[0] + " does not apply: only automatic is supported");
      }
      break;
    case "bridge_cafile":
    case "bridge_certfile":
    case "bridge_keyfile": {
      const f = pathArg(line, dir);
      checkReadable(line, f);
      if (option === "bridge_cafile") cur.cafile = f;
      else if (option === "bridge_certfile") cur.certfile = f;
      else cur.keyfile = f;
      break;
    }
    case "bridge_insecure":
      cur.insecure = boolArg(line);
      break;
  }
  return true;
}

/** The bridges once the whole file is read: what each needs is checked, defaults filled in. */
export function finishBridges(state: BridgeState): HostBridge[] {
  const out: HostBridge[] = [];
  for (const p of state.parts) {
    const br = p.bridge;
    if (br.addresses.length === 0) throw new ConfigError(p.where + "connection " + br.name + ' needs an "address"');
    if (br.topics.length === 0) throw new ConfigError(p.where + "connection " + br.name + ' needs at least one "topic"');
    if (br.password !== undefined && br.username === undefined) {
      throw new ConfigError((p.passwordWhere ?? p.where) + '"remote_password" needs "remote_username"');
    }
    br.notificationTopic = p.notificationTopic ?? "$SYS/broker/connection/" + br.clientId + "/state";
    if ((p.certfile === undefined) !== (p.keyfile === undefined)) {
      throw new ConfigError(p.where + "connection " + br.name + ": bridge_certfile and bridge_keyfile go together");
    }
    if (p.cafile === undefined && (p.certfile !== undefined || p.insecure)) {
      throw new ConfigError(p.where + "connection " + br.name + ": TLS needs bridge_cafile");
    }
    if (p.cafile !== undefined) br.tls = { cafile: p.cafile, certfile: p.certfile, keyfile: p.keyfile, insecure: p.insecure };
    out.push(br);
  }
  return out;
}
