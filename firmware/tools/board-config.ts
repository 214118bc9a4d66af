/**
 * What a board boots with (core/config.ts BoardConfig), from the desktop's
 * configuration: both boards' flash tools start here and trim the rest to
 * what their adapter reads.
 */
import { BoardConfig, BrokerConfig } from "../core/config";

export interface BoardNetworkOptions {
  /** Join this network (or, with accessPoint, be it). Absent: the board's network is up already. */
  wifi?: string;
  wifiPassword?: string;
  accessPoint?: boolean;
  verbose?: boolean;
}

export function boardConfigOf(config: BrokerConfig, hostname: string | undefined, opts: BoardNetworkOptions): BoardConfig {
  return {
    config: {
      ...config,
      listeners: config.listeners.map((l) => ({ port: l.port, address: undefined })),
      // a board is reached over Wi-Fi: there is no loopback to limit anonymous clients to
      auth: { ...config.auth, anonymousLoopbackOnly: false },
    },
    wifi: opts.wifi !== undefined
      ? { ssid: opts.wifi, password: opts.wifiPassword ?? "", ap: opts.accessPoint === true, hostname: hostname ?? "" }
      : undefined,
    verbose: opts.verbose === true,
  };
}
