import * as fs from "node:fs";
import * as path from "node:path";
import { Broker } from "../firmware/broker/broker";
import { BrokerConfig } from "../firmware/config";
import { restoreState, serializeState } from "../firmware/session/persist";

export const STATE_FILE = "esp-mqtt-broker.db";

export interface Persistence {
  file: string;
  /** Save if the state changed and the profile's write interval has passed. */
  maybeSave(): void;
  save(): void;
  /** Whether a state file was found and loaded at start. */
  restored: boolean;
}

/**
 * mosquitto's `persistence true` on the desktop: retained messages and
 * persistent sessions in one file, replaced atomically (write a temporary
 * file, fsync, rename), so a crash leaves the old state or the new one.
 */
export function attachPersistence(broker: Broker, config: BrokerConfig): Persistence {
  const dir = config.persistenceLocation ?? process.cwd();
  const file = path.join(dir, STATE_FILE);
  let restored = false;
  if (fs.existsSync(file)) {
    const data = fs.readFileSync(file).toString("latin1");
    restored = restoreState(broker, data);
    if (!restored) broker.log(`persistence: ${file} is damaged or torn; starting empty`);
  }
  let last = restored ? fs.readFileSync(file).toString("latin1") : "";
  let lastAt = 0;
  const save = () => {
    const data = serializeState(broker);
    if (data === last) return;
    const tmp = `${file}.new`;
    const fd = fs.openSync(tmp, "w");
    fs.writeSync(fd, Buffer.from(data, "latin1"));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    last = data;
  };
  return {
    file,
    restored,
    save,
    maybeSave() {
      const now = Date.now();
      if (now - lastAt < config.profile.persistIntervalMs) return;
      lastAt = now;
      save();
    },
  };
}
