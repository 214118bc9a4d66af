import { NodeModule, TmrModule } from "./nodemcu";

declare const tmr: TmrModule;
declare const node: NodeModule;

/** tmr.now() on the ESP8266 counts microseconds modulo 2^31. */
const WRAP_US = 2147483648;

/** Milliseconds since start, from the microsecond counter (wraps handled; integers throughout). */
export class Clock {
  ms = 0;
  carryUs = 0;
  lastUs: number;
  constructor() {
    this.lastUs = Clock.micros();
  }
  static micros(): number {
    if (tmr.now !== undefined) return tmr.now();
    if (node.uptime !== undefined) return node.uptime();
    return 0;
  }
  now(): number {
    let us = Clock.micros();
    let d = us - this.lastUs;
    if (d < 0) d += WRAP_US;
    this.lastUs = us;
    this.carryUs += d;
    let whole = Math.floor(this.carryUs / 1000);
    this.ms += whole;
    this.carryUs -= whole * 1000;
    return this.ms;
  }
}
