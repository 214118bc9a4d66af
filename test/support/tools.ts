import { spawnSync } from "node:child_process";

/**
 * A suite that drives a Debian tool calls this first: a missing tool is a
 * failure that names the package to install, never a silent skip.
 */
export function requireTool(command: string, debianPackage: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`${command} not found: install Debian's ${debianPackage} (apt-get install -y ${debianPackage})`);
  }
}
