import { Hashes } from "../platform";
import { PasswordEntry } from "./types";

/**
 * Password checks against a stored salt + digest. Every string here is a
 * binary string (one char per byte): the password as the client sent it
 * (UTF-8 bytes), the salt and digest as decoded from the password file.
 *
 * The digests are the ones mosquitto 2.0 computes (src/security_default.c,
 * pw__digest):
 * - $6$ "sha512": EVP_DigestUpdate(password) then EVP_DigestUpdate(salt),
 *   i.e. sha512(password + salt);
 * - $7$ "pbkdf2-sha512": PKCS5_PBKDF2_HMAC(password, salt, iterations,
 *   sha512, EVP_MAX_MD_SIZE = 64 bytes);
 * - $5$ "sha256" is ours, built the same way as $6$: sha256(password + salt).
 */

/** Length of a PBKDF2-SHA512 key in a $7$ entry (mosquitto: EVP_MAX_MD_SIZE). */
const PBKDF2_KEY_LENGTH = 64;

/**
 * Compare two digests without an early exit: every byte is visited whatever
 * the first difference (mosquitto__memcmp_const). No bitwise operators: the
 * squared differences are summed, which is 0 only when all bytes are equal
 * (each term is at most 255^2, so 64 bytes stay far below 2^24).
 * The length is not secret (it is the digest size), so a mismatch returns at once.
 */
export function digestsEqual(a: string, b: string): boolean {
  let len = a.length;
  if (len !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < len; i++) {
    let d = a.charCodeAt(i) - b.charCodeAt(i);
    diff = diff + d * d;
  }
  return diff === 0;
}

/**
 * Does `password` (binary string) match the stored entry? An algorithm the
 * board has no hash for (sha512 or pbkdf2Sha512 absent from `hashes`), an
 * unknown algorithm or a $7$ entry without a positive iteration count fails.
 * (Cold code on a board with connect_auth.ts, its one caller.)
 */
export function checkPassword(entry: PasswordEntry, password: string, hashes: Hashes): boolean {
  let digest: string | undefined = undefined;
  let algo = entry.algo;
  if (algo === "sha256") {
    digest = hashes.sha256(password + entry.salt);
  } else if (algo === "sha512") {
    if (hashes.sha512 !== undefined) {
      digest = hashes.sha512(password + entry.salt);
    }
  } else if (algo === "pbkdf2-sha512") {
    if (hashes.pbkdf2Sha512 !== undefined && entry.iterations >= 1) {
      digest = hashes.pbkdf2Sha512(password, entry.salt, entry.iterations, PBKDF2_KEY_LENGTH);
    }
  }
  if (digest === undefined) return false;
  return digestsEqual(digest, entry.hash);
}

/** A new "sha256" ($5$) entry for `password` with the given salt (both binary strings). */
export function makePasswordEntry(password: string, salt: string, hashes: Hashes): PasswordEntry {
  return {
    algo: "sha256",
    salt: salt,
    hash: hashes.sha256(password + salt),
    iterations: 0,
  };
}
