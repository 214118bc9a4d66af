/** The .bootcde entry: start the broker at every boot. */
import { running, start } from "./main";

declare const global: any;
// the console (and device tests) reach the broker as `mqtt.running()`
global.mqtt = { running: running, start: start };
start();
