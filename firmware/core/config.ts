import { AuthConfig } from "./auth/types";
import { BoardProfile } from "./profile";
import { BridgeConfig } from "./bridge/types";

export interface Listener {
  port: number;
  /** Bind address; undefined = all interfaces. */
  address: string | undefined;
}

/** Everything the broker runs with: the board's limits plus what a user configured. */
export interface BrokerConfig {
  profile: BoardProfile;
  listeners: Listener[];
  auth: AuthConfig;
  retainAvailable: boolean;
  persistence: boolean;
  /** Where persisted state lives (a folder on the desktop, a name prefix on a board). */
  persistenceLocation: string | undefined;
  /** `connection` sections (bridges to other brokers); absent or empty: none. */
  bridges?: BridgeConfig[];
}

/** How a board joins the network: a station of `ssid`, or its own access point (`ap`). */
export interface BoardWifi {
  ssid: string;
  password: string;
  ap: boolean;
  hostname: string;
}

/**
 * What a board boots with, as its flash tool writes it (Espruino's
 * mqtt.json, NodeMCU's config.lua): the broker's configuration, the Wi-Fi
 * (undefined: the network is up already), and whether to print log lines.
 */
export interface BoardConfig {
  config: BrokerConfig;
  wifi: BoardWifi | undefined;
  verbose: boolean;
}
