/**
 * An in-memory file system that can lose power. It keeps, for every file,
 * what a reader sees now (the page cache) and what is on the disk (durable),
 * and for the folder the names as seen now and as last synced. A crash can
 * be armed at any operation; afterwards images() lists every disk the
 * machine could boot from, as a POSIX file system without data journaling
 * allows: a file written since its last fsync holds its old durable content
 * or any prefix of its new content (every byte length), and renames not yet
 * made durable by an fsync of the folder may or may not have happened.
 */
import { PersistFs } from "../../host-sim/persistence";

export class Crash extends Error {
  constructor(at: number) {
    super("power lost at operation " + at);
  }
}

interface Inode {
  durable: Buffer;
  cache: Buffer;
}

export type Image = Map<string, Buffer>;

export class CrashFs implements PersistFs {
  private inodes: Inode[] = [];
  private dirNow = new Map<string, number>();
  private dirDurable = new Map<string, number>();
  private fds = new Map<number, { ino: number; dir: boolean }>();
  private nextFd = 3;
  /** Operations done so far; the one numbered crashAt throws Crash instead of running. */
  ops = 0;
  crashAt = Infinity;
  /** Power is off: every later operation throws too (a caller that catches an error does not get it back). */
  dead = false;
  /** Writes take at most this many bytes (short writes, as write(2) may do). */
  maxWrite = Infinity;
  /** Make fsync a no-op (a broken protocol, to prove the test catches one). */
  fsyncIsNoop = false;
  log: string[] = [];
  readonly folder: string;

  constructor(folder: string, image?: Image) {
    this.folder = folder;
    if (image !== undefined) {
      for (const [name, data] of image) {
        const ino = this.inodes.push({ durable: Buffer.from(data), cache: Buffer.from(data) }) - 1;
        this.dirNow.set(name, ino);
        this.dirDurable.set(name, ino);
      }
    }
  }

  private step(what: string): void {
    if (this.dead || this.ops === this.crashAt) {
      this.dead = true;
      throw new Crash(this.ops);
    }
    this.ops++;
    this.log.push(what);
  }

  existsSync(p: string): boolean {
    return this.dirNow.has(p);
  }

  readFileSync(p: string): Buffer {
    const ino = this.dirNow.get(p);
    if (ino === undefined) throw new Error("ENOENT " + p);
    return Buffer.from(this.inodes[ino].cache);
  }

  openSync(p: string, flags: string): number {
    this.step("open " + p + " " + flags);
    const fd = this.nextFd++;
    if (p === this.folder) {
      this.fds.set(fd, { ino: -1, dir: true });
      return fd;
    }
    let ino = this.dirNow.get(p);
    if (ino === undefined) {
      if (flags !== "w") throw new Error("ENOENT " + p);
      ino = this.inodes.push({ durable: Buffer.alloc(0), cache: Buffer.alloc(0) }) - 1;
      this.dirNow.set(p, ino);
    } else if (flags === "w") {
      this.inodes[ino].cache = Buffer.alloc(0);
    }
    this.fds.set(fd, { ino, dir: false });
    return fd;
  }

  writeSync(fd: number, buf: Buffer, off: number, len: number): number {
    this.step("write " + len);
    const f = this.fds.get(fd)!;
    const n = Math.min(len, this.maxWrite);
    const node = this.inodes[f.ino];
    node.cache = Buffer.concat([node.cache, buf.subarray(off, off + n)]);
    return n;
  }

  fsyncSync(fd: number): void {
    this.step("fsync");
    if (this.fsyncIsNoop) return;
    const f = this.fds.get(fd)!;
    if (f.dir) this.dirDurable = new Map(this.dirNow);
    else this.inodes[f.ino].durable = Buffer.from(this.inodes[f.ino].cache);
  }

  closeSync(fd: number): void {
    this.step("close");
    this.fds.delete(fd);
  }

  renameSync(from: string, to: string): void {
    this.step("rename " + from + " " + to);
    const ino = this.dirNow.get(from);
    if (ino === undefined) throw new Error("ENOENT " + from);
    this.dirNow.delete(from);
    this.dirNow.set(to, ino);
  }

  /** Every disk the machine may boot from after losing power now. */
  images(): Image[] {
    const out: Image[] = [];
    const seen = new Set<string>();
    const mappings = [this.dirDurable, this.dirNow];
    for (const mapping of mappings) {
      const names = [...mapping.keys()].sort();
      const choices: Buffer[][] = names.map((n) => {
        const node = this.inodes[mapping.get(n)!];
        if (node.durable.equals(node.cache)) return [node.cache];
        const c: Buffer[] = [node.durable];
        for (let len = 0; len <= node.cache.length; len++) c.push(node.cache.subarray(0, len));
        return c;
      });
      const pick = (i: number, acc: Buffer[]): void => {
        if (i === names.length) {
          const key = names.map((n, k) => n + "=" + acc[k].toString("hex")).join(";");
          if (seen.has(key)) return;
          seen.add(key);
          const img: Image = new Map();
          names.forEach((n, k) => img.set(n, acc[k]));
          out.push(img);
          return;
        }
        for (const c of choices[i]) pick(i + 1, [...acc, c]);
      };
      pick(0, []);
    }
    return out;
  }
}
