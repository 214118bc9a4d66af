/** Access bits, as mosquitto's acl_file names them. */
export const ACCESS_NONE = 0;
export const ACCESS_READ = 1;
export const ACCESS_WRITE = 2;
export const ACCESS_READWRITE = 3;

/**
 * A stored password. Never the password itself: a salt and a digest.
 * Strings are binary strings (one char per byte).
 * - "sha256": our own format, `$5$<b64 salt>$<b64 sha256(password + salt)>`
 *   (Espruino has SHA-256 on the board).
 * - "sha512": mosquitto_passwd's `$6$<b64 salt>$<b64 sha512(password + salt)>`.
 * - "pbkdf2-sha512": mosquitto_passwd's `$7$<iterations>$<b64 salt>$<b64 hash>`.
 */
export interface PasswordEntry {
  algo: string;
  salt: string;
  hash: string;
  iterations: number;
}

/** One acl_file line: `topic [read|write|readwrite|deny] FILTER` or `pattern ...`. */
export interface AclRule {
  access: number;
  /** A topic filter (binary string); for patterns, may hold %c and %u. */
  filter: string;
}

export interface AclTable {
  /** `topic` lines before any `user` line: they apply to anonymous clients. */
  anonymous: AclRule[];
  /** Keyed "u" + username, so no name collides with an Object property. */
  users: { [key: string]: AclRule[] };
  /** `pattern` lines: every client, with %c (client id) and %u (username) substituted. */
  patterns: AclRule[];
}

export interface AuthConfig {
  allowAnonymous: boolean;
  /** Anonymous clients are accepted only from loopback addresses (the desktop default). */
  anonymousLoopbackOnly: boolean;
  /** Keyed "u" + username. Undefined: no password file, every non-anonymous login fails unless allowAnonymous. */
  passwords: { [key: string]: PasswordEntry } | undefined;
  /** Undefined: no ACL, everything allowed. Present: deny unless a rule allows (mosquitto). */
  acl: AclTable | undefined;
}
