import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { formatPasswordLine, hashPassword } from "./password-file";

/**
 * `esp-mqtt-broker passwd`, after mosquitto_passwd (apps/mosquitto_passwd):
 *   passwd -c FILE USER   create (or overwrite) FILE with USER alone
 *   passwd FILE USER      add USER to FILE, or replace its password
 *   passwd -D FILE USER   delete USER from FILE
 * The password comes from $MQTT_PASSWORD, or is asked twice on the terminal
 * without echo. Lines are written as $5$ (salted SHA-256, which every board
 * can check); other lines of the file are kept as they are.
 */

export interface PasswdIo {
  env: { [name: string]: string | undefined };
  out: (text: string) => void;
  err: (text: string) => void;
  /** Ask for a password without echo; undefined when there is no terminal or the user gave up. */
  prompt: (question: string) => string | undefined;
}

const USAGE =
  "usage: esp-mqtt-broker passwd [-c | -D] FILE USER\n" +
  "  -c  create FILE (overwrites it) with USER\n" +
  "  -D  delete USER from FILE\n" +
  "  without -c/-D: add USER to FILE or change its password\n" +
  "  the password is read from $MQTT_PASSWORD, or asked on the terminal\n";

/** Read one line from the terminal with echo off (POSIX: stty on /dev/tty). */
export function promptTty(question: string): string | undefined {
  let fd: number;
  try {
    fd = openSync("/dev/tty", "r+");
  } catch (_) {
    return undefined;
  }
  const stty = function (arg: string): void {
    spawnSync("stty", [arg], { stdio: [fd, "ignore", "ignore"] });
  };
  try {
    writeFileSync(fd, question);
    stty("-echo");
    const bytes: number[] = [];
    const buf = Buffer.alloc(1);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, 1, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
        throw e;
      }
      if (n === 0) {
        if (bytes.length === 0) return undefined;
        break;
      }
      if (buf[0] === 10 || buf[0] === 13) break;
      bytes.push(buf[0]);
    }
    return Buffer.from(bytes).toString("utf8");
  } finally {
    stty("echo");
    try {
      writeFileSync(fd, "\n");
    } catch (_) {
      // the terminal went away: nothing to tidy
    }
    closeSync(fd);
  }
}

function defaultIo(): PasswdIo {
  return {
    env: process.env,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    prompt: promptTty,
  };
}

/** mosquitto_passwd's is_username_valid. */
function usernameProblem(user: string): string | undefined {
  if (user === "") return "Username must not be empty.";
  if (Buffer.byteLength(user, "utf8") > 65535) return "Username must be less than 65536 bytes long.";
  if (/[\x00-\x1f\x7f]/.test(user)) return "Username must not contain control characters.";
  if (user.indexOf(":") >= 0) return "Username must not contain the ':' character.";
  return undefined;
}

function getPassword(io: PasswdIo): string | undefined {
  const fromEnv = io.env.MQTT_PASSWORD;
  if (fromEnv !== undefined) {
    if (fromEnv === "") {
      io.err("Error: MQTT_PASSWORD is empty.\n");
      return undefined;
    }
    return fromEnv;
  }
  const first = io.prompt("Password: ");
  if (first === undefined) {
    io.err("Error: no terminal to ask for the password; set MQTT_PASSWORD.\n");
    return undefined;
  }
  if (first === "") {
    io.err("Error: Empty password.\n");
    return undefined;
  }
  const second = io.prompt("Reenter password: ");
  if (second !== first) {
    io.err("Error: Passwords do not match.\n");
    return undefined;
  }
  return first;
}

/** The user name of a password file line, or undefined for blank lines and comments. */
function lineUser(line: string): string | undefined {
  const trimmed = line.trim();
  if (trimmed === "" || trimmed.charAt(0) === "#") return undefined;
  const colon = trimmed.indexOf(":");
  return (colon < 0 ? trimmed : trimmed.substring(0, colon)).trim();
}

/** Replace `file` in one step: write a sibling, then rename over it. Owner-only permissions. */
function writeAtomically(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), "." + path.basename(file) + ".tmp-" + process.pid);
  try {
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch (_) {
      // the temporary file was never created
    }
    throw e;
  }
}

/** Run `passwd` with its arguments (without "passwd"). Returns the exit code. */
export function runPasswd(args: string[], io?: PasswdIo): number {
  const sys = io !== undefined ? io : defaultIo();
  let create = false;
  let remove = false;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-c") create = true;
    else if (arg === "-D") remove = true;
    else if (arg === "-h" || arg === "--help") {
      sys.out(USAGE);
      return 0;
    } else if (arg.charAt(0) === "-" && arg.length > 1 && rest.length === 0) {
      sys.err('Error: unknown option "' + arg + '".\n' + USAGE);
      return 1;
    } else rest.push(arg);
  }
  if (create && remove) {
    sys.err("Error: -c and -D cannot be used together.\n");
    return 1;
  }
  if (rest.length !== 2) {
    sys.err(USAGE);
    return 1;
  }
  const file = rest[0];
  const user = rest[1];
  const problem = usernameProblem(user);
  if (problem !== undefined) {
    sys.err("Error: " + problem + "\n");
    return 1;
  }

  let lines: string[] = [];
  if (!create) {
    if (!existsSync(file)) {
      sys.err('Error: Unable to open password file "' + file + '" (use -c to create it).\n');
      return 1;
    }
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      sys.err('Error: Unable to read password file "' + file + '": ' + (e as Error).message + "\n");
      return 1;
    }
    lines = text.split("\n");
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  }

  if (remove) {
    const kept = lines.filter((line) => lineUser(line) !== user);
    if (kept.length === lines.length) {
      sys.err('Warning: User "' + user + '" not found in password file.\n');
      return 1;
    }
    return write(sys, file, kept);
  }

  const password = getPassword(sys);
  if (password === undefined) return 1;
  const entryLine = formatPasswordLine(user, hashPassword(password, "sha256"));
  let replaced = false;
  for (let i = 0; i < lines.length; i++) {
    if (lineUser(lines[i]) === user) {
      if (replaced) {
        lines.splice(i, 1);
        i--;
      } else {
        lines[i] = entryLine;
        replaced = true;
      }
    }
  }
  if (!replaced) lines.push(entryLine);
  return write(sys, file, lines);
}

function write(io: PasswdIo, file: string, lines: string[]): number {
  try {
    writeAtomically(file, lines.length === 0 ? "" : lines.join("\n") + "\n");
  } catch (e) {
    io.err('Error: Unable to write password file "' + file + '": ' + (e as Error).message + "\n");
    return 1;
  }
  return 0;
}
