/**
 * The bridge's journal in the board's flash: the core's Storage with an
 * append that writes each record once (bridge.ts keeps a QoS 1/2 message
 * there before its PUBACK, so what was acknowledged survives a power cut).
 *
 * Espruino's flash takes a write at an offset only into bytes not yet
 * written (0xFF), so a journal is a file made at its full size once, its
 * records written one after the other into the blank tail. Nothing is
 * rewritten per message, which spares the flash.
 *
 * A rewrite (the core compacting, or an append that would not fit) goes into
 * the journal's other file, and only once that file is whole does its
 * second byte say so (a write at offset 0 would make a new file, so the
 * first byte is written with the file); then the old one is erased. A power cut mid-rewrite leaves a
 * file without that byte, which the next boot ignores, and the old one.
 * Either file, if both are whole (cut before the erase), holds every message
 * still owed: the rewrite leaves out only delivered ones.
 *
 * Records are binary and a blank byte is 0xFF, so 0xFE and 0xFF are escaped
 * (0xFE 1, 0xFE 2) to tell where the records end.
 */
import { Storage } from "../platform";

declare const E: any;

/** A journal file's first byte, written when it is made, and its second, once it is whole. */
const MADE = "J";
const WHOLE = "W";
/** Where the records start. */
const BODY = 2;

/**
 * The journal Storage over Espruino's `storage`, each file `size` bytes.
 * Cold on the board (scripts/build-espruino.ts): built only with a bridge.
 */
export function flashJournal(storage: any, size: number): Storage {
  // its two files' suffixes: here, not at the top of the module, where an array stays resident on
  // every board, bridge or none
  const FILES = ["a", "b"];
  /** Per journal: which of its two files is live, and where its next record goes. */
  const live: { [name: string]: string } = {};
  const end: { [name: string]: number } = {};
  /** Per journal: the live file's size (`size`, or more for a journal that outgrew it). */
  const cap: { [name: string]: number } = {};
  const escape = (s: string): string => s.indexOf("\xFE") < 0 && s.indexOf("\xFF") < 0 ? s
    : s.replace(/\xFE/g, "\xFE\x01").replace(/\xFF/g, "\xFE\x02");
  const unescape = (s: string): string => s.indexOf("\xFE") < 0 ? s
    : s.replace(/\xFE\x02/g, "\xFF").replace(/\xFE\x01/g, "\xFE");
  /** A new file of `room` bytes holding `body`, then marked whole. */
  const fill = (file: string, body: string, room: number): boolean => {
    try {
      storage.erase(file);
      if (storage.write(file, MADE, 0, room) !== true) return false;
      if (body.length > 0 && storage.write(file, body, BODY) !== true) return false;
      return storage.write(file, WHOLE, 1) === true;
    } catch (e) {
      return false; // flash full
    }
  };
  const find = (name: string): void => {
    if (live[name] !== undefined) return;
    for (let i = 0; i < FILES.length; i++) {
      const data = storage.read(name + FILES[i]);
      if (data === undefined) continue;
      if (data.charAt(1) !== WHOLE || live[name] !== undefined) {
        storage.erase(name + FILES[i]); // torn by a power cut, or the older of two whole ones
        continue;
      }
      const at = data.indexOf("\xFF", BODY);
      live[name] = FILES[i];
      end[name] = at < 0 ? data.length : at;
      cap[name] = data.length;
    }
  };
  const rewrite = (name: string, body: string): boolean => {
    find(name);
    const next = live[name] === FILES[0] ? FILES[1] : FILES[0];
    // what does not leave half the file for appends gets a file twice its size
    const room = BODY + body.length > size / 2 ? 2 * (BODY + body.length) : size;
    if (!fill(name + next, body, room)) return false;
    if (live[name] !== undefined) storage.erase(name + live[name]);
    live[name] = next;
    end[name] = BODY + body.length;
    cap[name] = room;
    return true;
  };
  return {
    read(name: string): string | undefined {
      find(name);
      if (live[name] === undefined) return undefined;
      const n = end[name] - BODY;
      // a copy in RAM: what Storage.read hands out points into the flash, and so do E.toString and
      // substring of it (tried), which the core's rewrite right after reading erases under the
      // messages made from it; a Uint8Array is a copy
      return n === 0 ? "" : unescape(E.toString(E.toUint8Array(storage.read(name + live[name], BODY, n))));
    },
    write(name: string, data: string): boolean {
      return rewrite(name, escape(data));
    },
    erase(name: string): void {
      for (let i = 0; i < FILES.length; i++) storage.erase(name + FILES[i]);
      delete live[name];
      delete end[name];
      delete cap[name];
    },
    append(name: string, data: string): boolean {
      find(name);
      const rec = escape(data);
      const file = live[name];
      if (file === undefined) return rewrite(name, rec);
      if (end[name] + rec.length > cap[name]) {
        // full: what it holds and the record, into the other file
        return rewrite(name, storage.read(name + file).substring(BODY, end[name]) + rec);
      }
      try {
        if (storage.write(name + file, rec, end[name]) !== true) return false;
      } catch (e) {
        return false;
      }
      end[name] += rec.length;
      return true;
    },
  };
}
