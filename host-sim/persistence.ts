import * as fs from "node:fs";
import * as path from "node:path";
import { Broker } from "../firmware/core/broker/broker";
import { BrokerConfig } from "../firmware/core/config";
import { restoreState, serializeState } from "../firmware/core/persist/snapshot";

export const STATE_FILE = "esp-mqtt-broker.db";

/** The part of node:fs persistence uses: a test passes one that injects crashes. */
export interface PersistFs {
  existsSync(p: string): boolean;
  readFileSync(p: string): Buffer;
  openSync(p: string, flags: string): number;
  writeSync(fd: number, buf: Buffer, off: number, len: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
}

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
 * file whole, fsync it, rename it over the old one, fsync the folder), so a
 * crash at any point leaves the old state or the new one
 * (test/unit/power-loss.test.ts crashes it at every step).
 */
export function attachPersistence(broker: Broker, config: BrokerConfig, fsImpl: PersistFs = fs): Persistence {
  const dir = config.persistenceLocation ?? process.cwd();
  const file = path.join(dir, STATE_FILE);
  let restored = false;
  // what is on disk now: a save that would write the same bytes is skipped
  let last = "";
  if (fsImpl.existsSync(file)) {
    const data = fsImpl.readFileSync(file).toString("latin1");
    restored = restoreState(broker, data);
    if (restored) last = data;
    else broker.log(`persistence: ${file} is damaged or torn; starting empty`);
  }
  let lastAt = 0;
  const save = () => {
    const data = serializeState(broker);
    if (data === last) return;
    const tmp = `${file}.new`;
    const bytes = Buffer.from(data, "latin1");
    const fd = fsImpl.openSync(tmp, "w");
    try {
      // a write may take fewer bytes than asked: go on until all are written
      let at = 0;
      while (at < bytes.length) at += fsImpl.writeSync(fd, bytes, at, bytes.length - at);
      fsImpl.fsyncSync(fd);
    } finally {
      fsImpl.closeSync(fd);
    }
    fsImpl.renameSync(tmp, file);
    // the rename itself is durable once the folder is synced (not possible on every system)
    try {
      const dfd = fsImpl.openSync(dir, "r");
      try {
        fsImpl.fsyncSync(dfd);
      } finally {
        fsImpl.closeSync(dfd);
      }
    } catch (_) {
      // a folder that cannot be opened or synced (Windows): the rename is still atomic
    }
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
