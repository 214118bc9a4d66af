import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { makePasswordEntry } from "../firmware/core/auth/passwords";
import { PasswordEntry } from "../firmware/core/auth/types";
import { ConfigError } from "./config-error";
import { nodeHashes } from "./hashes";

/**
 * mosquitto_passwd files: one `user:hash` a line.
 * - `user:$6$<b64 salt>$<b64 sha512>`            mosquitto_passwd -H sha512
 * - `user:$7$<iterations>$<b64 salt>$<b64 hash>` mosquitto_passwd (2.0 default, PBKDF2-SHA512)
 * - `user:$5$<b64 salt>$<b64 sha256>`            ours: SHA-256 is what the boards have
 * Lines starting with '#' and blank lines are skipped. A password stored in
 * clear text is refused: passwords are never kept in clear.
 *
 * User names are keyed "u" + the name's UTF-8 bytes as a binary string, the
 * form a CONNECT username takes in the core.
 */

export type PasswordTable = { [key: string]: PasswordEntry };

/** Salt length of mosquitto_passwd (SALT_LEN 12 in apps/mosquitto_passwd). */
export const SALT_LENGTH = 12;
/** mosquitto 2.0's PW_DEFAULT_ITERATIONS for $7$ entries. */
export const PBKDF2_DEFAULT_ITERATIONS = 101;

const DIGEST_LENGTH: { [algo: string]: number } = { sha256: 32, sha512: 64, "pbkdf2-sha512": 64 };
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A JS string as its UTF-8 bytes, one char per byte. */
export function toBinary(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

function decodeBase64(text: string): string | undefined {
  if (!BASE64.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, "base64").toString("latin1");
}

function encodeBase64(binary: string): string {
  return Buffer.from(binary, "latin1").toString("base64");
}

/**
 * Decode the part after "user:". Returns the entry, or a sentence saying
 * what is wrong (without file and line).
 */
export function parsePasswordHash(user: string, text: string): PasswordEntry | string {
  if (text.charAt(0) !== "$") {
    return 'password for "' + user + '" is not hashed; run esp-mqtt-broker passwd';
  }
  const parts = text.split("$"); // ["", "6", salt, hash] or ["", "7", iter, salt, hash]
  const type = parts[1];
  let algo: string;
  let iterations = 0;
  let rest: string[];
  if (type === "5" || type === "6") {
    algo = type === "5" ? "sha256" : "sha512";
    rest = parts.slice(2);
  } else if (type === "7") {
    algo = "pbkdf2-sha512";
    if (parts.length !== 5 || !/^[0-9]+$/.test(parts[2])) {
      return 'invalid $7$ password hash for "' + user + '"';
    }
    iterations = Number(parts[2]);
    if (iterations < 1 || iterations > 16777215) {
      return 'invalid iteration count for "' + user + '"';
    }
    rest = parts.slice(3);
  } else {
    return 'unsupported password hash type "$' + type + '$" for "' + user + '" ($5$, $6$ or $7$)';
  }
  if (rest.length !== 2) {
    return 'invalid $' + type + '$ password hash for "' + user + '"';
  }
  const salt = decodeBase64(rest[0]);
  const hash = decodeBase64(rest[1]);
  if (salt === undefined || salt.length === 0) {
    return 'invalid salt in password hash for "' + user + '"';
  }
  if (hash === undefined || hash.length !== DIGEST_LENGTH[algo]) {
    return 'invalid digest in password hash for "' + user + '"';
  }
  return { algo: algo, salt: salt, hash: hash, iterations: iterations };
}

/** Parse the text of a password file; `file` names it in errors (`FILE:LINE: ...`). */
export function parsePasswordText(text: string, file: string): PasswordTable {
  const table: PasswordTable = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const where = file + ":" + (i + 1) + ": ";
    const line = lines[i].trim();
    if (line === "" || line.charAt(0) === "#") continue;
    const colon = line.indexOf(":");
    if (colon < 0) {
      throw new ConfigError(where + 'expected "user:hash"');
    }
    const user = line.substring(0, colon).trim();
    if (user === "") {
      throw new ConfigError(where + "empty user name");
    }
    const entry = parsePasswordHash(user, line.substring(colon + 1).trim());
    if (typeof entry === "string") {
      throw new ConfigError(where + entry);
    }
    const key = "u" + toBinary(user);
    if (table[key] !== undefined) {
      throw new ConfigError(where + 'user "' + user + '" appears twice');
    }
    table[key] = entry;
  }
  return table;
}

/** Read and parse a password file. Unreadable or malformed: ConfigError naming the file. */
export function parsePasswordFile(path: string): PasswordTable {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(path + ": cannot read password file: " + (e as Error).message);
  }
  return parsePasswordText(text, path);
}

/** One password file line, without the newline. */
export function formatPasswordLine(user: string, entry: PasswordEntry): string {
  const salt = encodeBase64(entry.salt);
  const hash = encodeBase64(entry.hash);
  if (entry.algo === "sha256") return user + ":$5$" + salt + "$" + hash;
  if (entry.algo === "sha512") return user + ":$6$" + salt + "$" + hash;
  if (entry.algo === "pbkdf2-sha512") return user + ":$7$" + entry.iterations + "$" + salt + "$" + hash;
  throw new Error('cannot format password entry with algorithm "' + entry.algo + '"');
}

/**
 * A new entry for `password` (a JS string, hashed as its UTF-8 bytes, which
 * is what a client sends) with a fresh 12-byte salt. `algo`: "sha256" ($5$,
 * the default: every board can check it), "sha512" ($6$) or
 * "pbkdf2-sha512" ($7$, 101 iterations as mosquitto 2.0).
 */
export function hashPassword(password: string, algo: string = "sha256"): PasswordEntry {
  const salt = randomBytes(SALT_LENGTH).toString("latin1");
  const binary = toBinary(password);
  if (algo === "sha256") {
    return makePasswordEntry(binary, salt, nodeHashes);
  }
  if (algo === "sha512") {
    return { algo: "sha512", salt: salt, hash: nodeHashes.sha512!(binary + salt), iterations: 0 };
  }
  if (algo === "pbkdf2-sha512") {
    const iterations = PBKDF2_DEFAULT_ITERATIONS;
    return { algo: algo, salt: salt, hash: nodeHashes.pbkdf2Sha512!(binary, salt, iterations, 64), iterations: iterations };
  }
  throw new Error('unknown password algorithm "' + algo + '" (sha256, sha512 or pbkdf2-sha512)');
}
