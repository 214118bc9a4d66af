import { randomInt } from "node:crypto";
import { Platform } from "../firmware/core/platform";
import { nodeHashes } from "./hashes";

/** The core's platform on Node: Uint8Array buffers, node:crypto hashes, wall clock. */
export function nodePlatform(log: (line: string) => void, now?: () => number): Platform {
  return {
    alloc: { bytes: (n: number) => new Uint8Array(n) },
    hashes: nodeHashes,
    now: now !== undefined ? now : () => Date.now(),
    random: (n: number) => randomInt(n),
    log,
    memoryUsed: () => process.memoryUsage().heapUsed,
  };
}
