import { Broker, stopBroker } from "../broker/broker";
import { publishSys } from "../broker/sys_tree";
import { Storage } from "../platform";
import { loadStateFiles, saveStateFiles, StateFiles } from "../persist/state_files";

/**
 * What a board's adapter runs around the broker, written once: at start
 * the persisted state, then every profile.tickMs the broker's tick
 * (keepalive, CONNECT timeouts, the guard), the $SYS tree and, once
 * persistIntervalMs has passed, a save; at stop the connections closed and
 * the state saved. An adapter adds only its own: Espruino its bridges and
 * warm code paths, NodeMCU its deferred sends. (The desktop runs its own
 * loop, host-sim/server.ts, with a state file it renames.)
 */

/**
 * The persisted state loaded, when the configuration keeps one (undefined: it does not).
 * @cold 240
 */
export function startRun(b: Broker, storage: Storage): StateFiles | undefined {
  return b.config.persistence ? loadStateFiles(b, storage) : undefined;
}

export function runTick(b: Broker, files: StateFiles | undefined): void {
  b.tick();
  publishSys(b);
  if (files !== undefined && b.platform.now() - files.lastSave >= b.profile.persistIntervalMs) saveStateFiles(b, files);
}

export function stopRun(b: Broker, files: StateFiles | undefined): void {
  stopBroker(b);
  if (files !== undefined) saveStateFiles(b, files);
}
