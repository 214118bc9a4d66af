import type { BrokerState } from "../broker/state";
import { Storage } from "../platform";
import { restoreState, serializeState, snapshotSum, validState } from "./snapshot";

/**
 * A board's persisted state, on a flash that cannot rename a file over
 * another: two files, mqtt.st0 and mqtt.st1, each "generation:snapshot". A
 * save writes the file not holding the newest state, then erases the other;
 * at boot the valid file with the higher generation wins. A write torn by a
 * power cut fails the snapshot's checksum, so the board comes back with the
 * old state or the new one (the desktop renames one file instead:
 * host-sim/persistence.ts). Saves are at most one per persistIntervalMs
 * (mosquitto's autosave_interval), and only when the state changed: what
 * tells is the snapshot's own checksum, not the snapshot, whose size a board
 * would hold in memory.
 *
 * Plain data and free functions: on Espruino both functions are cold code,
 * loaded from flash when called (firmware/espruino/tools/build.ts).
 */
export interface StateFiles {
  storage: Storage;
  /** Which file holds the newest state. */
  index: number;
  generation: number;
  /** The checksum of the state saved or loaded last; -1: none. */
  lastSum: number;
  /** When a save was last considered (platform.now()). */
  lastSave: number;
}

/**
 * Load the newest whole state file into an empty broker; what a save needs to go on from it.
 * @cold 250
 */
export function loadStateFiles(b: BrokerState, storage: Storage): StateFiles {
  // the decimal generation before the colon; -1 when there is none
  const generationOf = (data: string, colon: number): number => {
    if (colon <= 0 || colon > 9) return -1;
    let n = 0;
    for (let i = 0; i < colon; i++) {
      const d = data.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    return n;
  };
  const files: StateFiles = { storage: storage, index: 0, generation: 0, lastSum: -1, lastSave: b.platform.now() };
  let best = "";
  let bestGen = -1;
  for (let i = 0; i < 2; i++) {
    const data = storage.read("mqtt.st" + i);
    if (data === undefined) continue;
    const colon = data.indexOf(":");
    const gen = generationOf(data, colon);
    const body = data.substring(colon + 1);
    if (gen > bestGen && validState(body)) {
      bestGen = gen;
      files.index = i;
      best = body;
    }
  }
  if (bestGen >= 0 && restoreState(b, best)) {
    files.generation = bestGen;
    files.lastSum = snapshotSum(best);
  }
  return files;
}

/**
 * Save the state if it changed since the last save. A full flash keeps the old state.
 * @cold 260
 */
export function saveStateFiles(b: BrokerState, files: StateFiles): void {
  files.lastSave = b.platform.now();
  const data = serializeState(b);
  const sum = snapshotSum(data);
  if (sum === files.lastSum) return;
  const st = files.storage;
  const next = 1 - files.index;
  st.erase("mqtt.st" + next);
  let ok = false;
  try {
    ok = st.write("mqtt.st" + next, (files.generation + 1) + ":" + data) === true;
  } catch (e) {
    ok = false; // Espruino's Storage throws when the flash is full
  }
  if (!ok) return;
  st.erase("mqtt.st" + files.index);
  files.index = next;
  files.generation++;
  files.lastSum = sum;
}
