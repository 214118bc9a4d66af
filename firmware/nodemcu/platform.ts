/** The core's Platform on NodeMCU: byte tables, SHA-256 from its crypto module, the clock, and the Lua heap as the memory budget. */
import { BoardConfig } from "../core/config";
import { Platform } from "../core/platform";
import { allocBytes } from "./bytes";
import { Clock } from "./clock";
import { NodeModule } from "./nodemcu";
import { FileStorage } from "./storage";

declare const node: NodeModule;
/** NodeMCU's crypto module (optional in a firmware build): crypto.hash("sha256", s). */
declare const crypto: any;
declare function collectgarbage(this: void, opt: string): number;
declare function print(this: void, line: string): void;

/** Refuse new clients and subscriptions when the free heap (node.heap(), bytes) falls under this. */
const HEAP_RESERVE = 4096;

/**
 * Over the memory budget: profile.memoryBudget is KB of Lua heap the broker
 * may add to what the heap held when it started (its code is not counted,
 * whether it sits in the Lua Flash Store or in RAM), and node.heap() must
 * keep HEAP_RESERVE bytes for lwIP. Garbage counts until collected, so a
 * full collection comes before a refusal.
 */
function overBudget(budget: number, startKb: number): boolean {
  let over = (budget > 0 && collectgarbage("count") - startKb > budget) || node.heap() < HEAP_RESERVE;
  if (!over) return false;
  collectgarbage("collect");
  return (budget > 0 && collectgarbage("count") - startKb > budget) || node.heap() < HEAP_RESERVE;
}

export function platformFor(cfg: BoardConfig, clock: Clock): Platform {
  const budget = cfg.config.profile.memoryBudget;
  const verbose = cfg.verbose;
  const startKb = collectgarbage("count");
  return {
    alloc: { bytes: (n: number) => allocBytes(n) },
    hashes: {
      sha256: (s: string): string => (crypto !== undefined ? crypto.hash("sha256", s) : ""),
    },
    storage: new FileStorage(),
    now: () => clock.now(),
    random: (n: number) => Math.floor(Math.random() * n),
    log: (line: string) => {
      if (verbose) print("mqtt: " + line);
    },
    memoryUsed: () => collectgarbage("count"),
    // refuse new clients and subscriptions before the heap runs out
    lowMemory: () => overBudget(budget, startKb),
  };
}
