/**
 * A configuration mistake. The message says where: `FILE:LINE: what is wrong`.
 * Thrown by config.ts (mosquitto.conf), password-file.ts, acl-file.ts and
 * bridge-host.ts; a file of its own so that none of them imports another
 * only for it.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
