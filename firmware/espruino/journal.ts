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
import { Storage } from "../core/platform";

declare const E: any;

/** A journal file's first byte, written when it is made, and its second, once it is whole. */
const MADE = "J";
const WHOLE = "W";
/** Where the records start. */
const BODY = 2;

/** What a journal Storage knows of its files, per journal name. */
interface FlashFiles {
  st: any;
  size: number;
  /** Which of its two files ("a" or "b") is live. */
  live: { [name: string]: string };
  /** Where its next record goes. */
  end: { [name: string]: number };
  /** The live file's size (`size`, or more for a journal that outgrew it). */
  cap: { [name: string]: number };
}

/**
 * The journal Storage over Espruino's `storage`, each file `size` bytes.
 * Its four methods only call the code that does the work, each a cold file
 * of its own (firmware/espruino/tools/build.ts): a board keeps the state above and
 * the methods, not the code, for as long as the bridge runs.
 * @cold 420
 */
export function flashJournal(storage: any, size: number): Storage {
  const j: FlashFiles = { st: storage, size: size, live: {}, end: {}, cap: {} };
  return {
    read: (name: string) => flashRead(j, name),
    write: (name: string, data: string) => flashRewrite(j, name, escapeRecords(data)),
    erase: (name: string) => flashErase(j, name),
    append: (name: string, data: string) => flashAppend(j, name, data),
  };
}

function escapeRecords(s: string): string {
  return s.indexOf("\xFE") < 0 && s.indexOf("\xFF") < 0 ? s : s.replace(/\xFE/g, "\xFE\x01").replace(/\xFF/g, "\xFE\x02");
}

function unescapeRecords(s: string): string {
  return s.indexOf("\xFE") < 0 ? s : s.replace(/\xFE\x02/g, "\xFF").replace(/\xFE\x01/g, "\xFE");
}

/** A new file of `room` bytes holding `body`, then marked whole. */
function flashFill(j: FlashFiles, file: string, body: string, room: number): boolean {
  const st = j.st;
  try {
    st.erase(file);
    if (st.write(file, MADE, 0, room) !== true) return false;
    if (body.length > 0 && st.write(file, body, BODY) !== true) return false;
    return st.write(file, WHOLE, 1) === true;
  } catch (e) {
    return false; // flash full
  }
}

/** Which file of `name` is live, read from the flash the first time. */
function flashFind(j: FlashFiles, name: string): void {
  if (j.live[name] !== undefined) return;
  for (let i = 0; i < 2; i++) {
    const file = i === 0 ? "a" : "b";
    const data = j.st.read(name + file);
    if (data === undefined) continue;
    if (data.charAt(1) !== WHOLE || j.live[name] !== undefined) {
      j.st.erase(name + file); // torn by a power cut, or the older of two whole ones
      continue;
    }
    const at = data.indexOf("\xFF", BODY);
    j.live[name] = file;
    j.end[name] = at < 0 ? data.length : at;
    j.cap[name] = data.length;
  }
}

/**
 * `body` (escaped) as the whole journal, in its other file.
 * @cold 440
 */
function flashRewrite(j: FlashFiles, name: string, body: string): boolean {
  flashFind(j, name);
  const old = j.live[name];
  const next = old === "a" ? "b" : "a";
  // what does not leave half the file for appends gets a file twice its size
  const room = BODY + body.length > j.size / 2 ? 2 * (BODY + body.length) : j.size;
  if (!flashFill(j, name + next, body, room)) return false;
  if (old !== undefined) j.st.erase(name + old);
  j.live[name] = next;
  j.end[name] = BODY + body.length;
  j.cap[name] = room;
  return true;
}

/** @cold 430 */
function flashRead(j: FlashFiles, name: string): string | undefined {
  flashFind(j, name);
  const file = j.live[name];
  if (file === undefined) return undefined;
  const n = j.end[name] - BODY;
  // a copy in RAM: what Storage.read hands out points into the flash, and so do E.toString and
  // substring of it (tried), which the core's rewrite right after reading erases under the
  // messages made from it; a Uint8Array is a copy
  return n === 0 ? "" : unescapeRecords(E.toString(E.toUint8Array(j.st.read(name + file, BODY, n))));
}

/** @cold 450 */
function flashErase(j: FlashFiles, name: string): void {
  j.st.erase(name + "a");
  j.st.erase(name + "b");
  delete j.live[name];
  delete j.end[name];
  delete j.cap[name];
}

/** @cold 460 */
function flashAppend(j: FlashFiles, name: string, data: string): boolean {
  flashFind(j, name);
  const rec = escapeRecords(data);
  const file = j.live[name];
  if (file === undefined) return flashRewrite(j, name, rec);
  if (j.end[name] + rec.length > j.cap[name]) {
    // full: what it holds and the record, into the other file
    return flashRewrite(j, name, j.st.read(name + file).substring(BODY, j.end[name]) + rec);
  }
  try {
    if (j.st.write(name + file, rec, j.end[name]) !== true) return false;
  } catch (e) {
    return false;
  }
  j.end[name] += rec.length;
  return true;
}
