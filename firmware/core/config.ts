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
