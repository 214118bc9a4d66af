import { checkPassword } from "../auth/passwords";
import { CONNACK_ACCEPTED, CONNACK_BAD_CREDENTIALS, CONNACK_NOT_AUTHORIZED } from "../codec/constants";
import type { BrokerState } from "./state";
import { loginBlocked, loginFailed } from "./guard";

/**
 * Who may connect, as mosquitto's mosquitto_unpwd_check decides it, with the
 * guard in front: the CONNACK code for a client from `remote` with this user
 * name and password, CONNACK_ACCEPTED when it may.
 * - A user name that failed too often from this address waits out its
 *   backoff, its password unchecked (guard.ts).
 * - Anonymous clients where allowed (the desktop default: from this machine
 *   only).
 * - With a password file, a user name needs its password; without one it is
 *   only a label.
 * A refusal for a name or password counts against the address (guard.ts).
 * handle_connect.ts asks only where a rule can refuse: on a board where
 * anyone may connect this cold code is never loaded.
 * @cold 140
 */
export function connectAuthorization(b: BrokerState, remote: string, username: string | undefined, password: string | undefined, now: number): number {
  const auth = b.config.auth;
  const passwords = auth.passwords;
  if (b.guard.records.length > 0 && loginBlocked(b, remote, username, now)) return CONNACK_NOT_AUTHORIZED;
  let code = CONNACK_ACCEPTED;
  if (username === undefined || passwords === undefined) {
    const loopback = remote.indexOf("127.") === 0 || remote === "::1" || remote.indexOf("::ffff:127.") === 0;
    if (!auth.allowAnonymous || (auth.anonymousLoopbackOnly && !loopback)) code = CONNACK_NOT_AUTHORIZED;
  } else {
    const entry = passwords["u" + username];
    if (entry === undefined || password === undefined || !checkPassword(entry, password, b.platform.hashes)) code = CONNACK_BAD_CREDENTIALS;
  }
  if (code !== CONNACK_ACCEPTED) loginFailed(b, remote, username, now);
  return code;
}
