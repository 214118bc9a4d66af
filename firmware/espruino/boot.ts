/** The .bootcde entry: start the broker at every boot. */
import { start } from "./main";

declare const global: any;
// the console (and device tests) reach the broker as `mqtt.broker` (a property: a function
// kept for it would cost JsVars for as long as the broker runs)
global.mqtt = { broker: start() };
