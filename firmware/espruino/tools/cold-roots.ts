/**
 * Which functions are cold on the board: those whose doc comment carries
 * `@cold N`, in the core and the Espruino adapter. The mark sits on the
 * function itself, so it moves and renames with it; the build refuses a
 * broker bundle that lacks a marked function (one the bundler renamed, or
 * one no longer reached on the board), where a list of names would have
 * let it go hot without a word.
 *
 * What is cold: what a broker needs only now and then (a client leaving, a
 * PINGREQ, an UNSUBSCRIBE, a retained message stored, a will, state saved or
 * loaded, the $SYS tree, the once-a-tick guard, log text, the limits
 * computed at start, a bridge). What every CONNECT, SUBSCRIBE and new
 * topic's first PUBLISH runs stays resident (handleConnect,
 * handleSubscribe, keepRoute, the fast path's outOf), and the retained
 * replay (continueReplays: 31 JsVars for 4-6 ms of a SUBSCRIBE with
 * retained messages, 65 -> 59 ms with 4, measured): their answers would wait
 * for a cold file's evaluation, 1-6 ms each, and more for what they call
 * (CONNECT 40 ms cold, 29 resident, measured). Nor is code cold that makes
 * closures which live on (start, installText): a closure made in a cold file
 * keeps that evaluation's scope, which cost installText's five 31 JsVars
 * more than resident. What only cold code uses goes cold with it (shrink.ts).
 * A bridge is all cold, each event loading what it runs; every function that
 * hands out a closure which lives on (the broker's hook, a link's events,
 * the journal, the socket) is marked on its own, so that what it keeps alive
 * is itself alone.
 *
 * N is the function's place in the factory of cold code, lowest first:
 * Espruino reads past every case before the one it runs, so what runs per
 * packet and is small comes first, what runs once last.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

export interface ColdMark {
  name: string;
  place: number;
  /** Where it is marked, "firmware/core/...:LINE". */
  at: string;
}

/** The `@cold N` marks in these sources, in the order of N. */
export function coldMarks(files: { name: string; text: string }[]): ColdMark[] {
  const marks: ColdMark[] = [];
  for (const f of files) {
    const sf = ts.createSourceFile(f.name, f.text, ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node) => {
      for (const tag of ts.getJSDocTags(n)) {
        if (tag.tagName.text !== "cold") continue;
        const line = sf.getLineAndCharacterOfPosition(n.getStart()).line + 1;
        const at = `${f.name}:${line}`;
        if (!ts.isFunctionDeclaration(n) || n.name === undefined || n.parent !== sf) {
          throw new Error(`${at}: @cold marks a function declared at the top of its file`);
        }
        const text = typeof tag.comment === "string" ? tag.comment.trim() : "";
        if (!/^\d+$/.test(text)) throw new Error(`${at}: @cold wants its place, a whole number (@cold 40)`);
        marks.push({ name: n.name.text, place: Number(text), at });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  marks.sort((a, b) => a.place - b.place);
  for (let i = 1; i < marks.length; i++) {
    if (marks[i].place === marks[i - 1].place) throw new Error(`${marks[i].at}: @cold ${marks[i].place} is also ${marks[i - 1].at}'s place`);
  }
  const seen = new Map<string, string>();
  for (const m of marks) {
    const other = seen.get(m.name);
    if (other !== undefined) throw new Error(`${m.at}: a second cold ${m.name} (${other}): the bundle's name would be ambiguous`);
    seen.set(m.name, m.at);
  }
  return marks;
}

/** The board's sources: the core and the Espruino adapter (not its tools, which run on Node). */
export function boardSources(root: string): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const rel = dir + "/" + e.name;
      if (e.isDirectory()) {
        if (e.name !== "tools" && e.name !== "interpreter") walk(rel);
      } else if (e.name.endsWith(".ts")) out.push({ name: rel, text: fs.readFileSync(path.join(root, rel), "utf8") });
    }
  };
  walk("firmware/core");
  walk("firmware/espruino");
  return out;
}

/** The cold roots of the board's code, in factory order. */
export function coldRoots(root: string): string[] {
  return coldMarks(boardSources(root)).map((m) => m.name);
}
