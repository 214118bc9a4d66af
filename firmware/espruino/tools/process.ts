/**
 * Runs the Espruino interpreter in firmware/espruino/interpreter (or ESPRUINO_BIN) as a
 * board: in its own folder (its flash is espruino.flash there), stdin held
 * open (at end of input it spins), optionally with its telnet console on
 * 127.0.0.1:2323 or behind a socat pseudo-terminal. Killed with SIGKILL: it
 * ignores SIGTERM, SIGINT and SIGHUP.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const DEFAULT_ESPRUINO = path.join(__dirname, "..", "interpreter", "espruino");
export const TELNET_PORT = 2323;

export function espruinoPath(): string {
  return process.env.ESPRUINO_BIN || DEFAULT_ESPRUINO;
}

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** A missing interpreter, qemu-user or socat is an error naming what to install. */
export function checkEspruinoTools(needSocat: boolean): void {
  const bin = espruinoPath();
  if (!fs.existsSync(bin)) throw new Error(`Espruino interpreter not found at ${bin} (set ESPRUINO_BIN to another)`);
  const probe = spawnSync(bin, ["--help"], { encoding: "utf8" });
  if (probe.status === 127 || /install qemu-user/.test(probe.stderr || "")) {
    throw new Error("the Espruino interpreter needs qemu-i386 here: install Debian's qemu-user (apt-get install -y qemu-user)");
  }
  if (needSocat && !have("socat")) throw new Error("socat not found: install Debian's socat (apt-get install -y socat)");
}

export interface Board {
  dir: string;
  proc: ChildProcess;
  /** Serial device path when started behind a pty. */
  tty?: string;
  /** Everything printed on its stdout (pty mode: only what socat passes on). */
  log(): string;
  kill(): Promise<void>;
}

function waitPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => { s.destroy(); resolve(); });
      s.once("error", () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** Start the interpreter as a board. `mode`: its telnet console, or a socat pty. */
export async function startBoard(mode: "telnet" | "pty", dir?: string): Promise<Board> {
  checkEspruinoTools(mode === "pty");
  const folder = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "espruino-board-"));
  let out = "";
  let proc: ChildProcess;
  let tty: string | undefined;
  if (mode === "telnet") {
    proc = spawn(espruinoPath(), ["--telnet"], { cwd: folder, stdio: ["pipe", "pipe", "pipe"], detached: true });
    proc.stdout!.on("data", (d: Buffer) => { out += d.toString("latin1"); if (out.length > 200000) out = out.slice(-100000); });
    proc.stderr!.on("data", (d: Buffer) => { out += d.toString("latin1"); });
    await waitPort(TELNET_PORT, 30000);
  } else {
    tty = path.join(folder, "ttyESP");
    proc = spawn("socat", [`PTY,link=${tty},raw,echo=0`, `EXEC:"${espruinoPath()}",pty,raw,echo=0`],
      { cwd: folder, stdio: ["ignore", "pipe", "pipe"], detached: true });
    proc.stderr!.on("data", (d: Buffer) => { out += d.toString("latin1"); });
    const deadline = Date.now() + 10000;
    while (!fs.existsSync(tty) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!fs.existsSync(tty)) throw new Error(`socat made no pty at ${tty}: ${out}`);
  }
  return {
    dir: folder,
    proc,
    tty,
    log: () => out,
    kill: () => killTree(proc, folder),
  };
}

/** Processes running in `folder` (this board's flash file lives there): qemu under socat is in a session of its own. */
function processesIn(folder: string): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`/proc/${name}/cwd`) === folder) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/**
 * SIGKILL the interpreter (and socat): a power cut, as far as the flash file
 * knows. Only this board's processes: another board on the machine (another
 * test, another developer) is left alone.
 */
export async function killTree(proc: ChildProcess, folder?: string): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const strays = folder !== undefined ? processesIn(fs.realpathSync(folder)) : [];
  try {
    process.kill(-proc.pid!, "SIGKILL");
  } catch {
    proc.kill("SIGKILL");
  }
  // qemu's child under socat: make sure nothing keeps the flash file or the port
  for (const pid of strays) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await exited;
}
