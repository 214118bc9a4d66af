/**
 * A board's persisted state in two files (firmware/core/persist/state_files.ts)
 * and the run loop around it (firmware/core/run/loop.ts), over a Storage in
 * memory that can lose power at any write or erase, or be full: the same
 * code Espruino's Storage and NodeMCU's file module run under.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Broker } from "../../firmware/core/broker/broker";
import { BrokerConfig } from "../../firmware/core/config";
import { Storage } from "../../firmware/core/platform";
import { loadStateFiles, saveStateFiles } from "../../firmware/core/persist/state_files";
import { serializeState } from "../../firmware/core/persist/snapshot";
import { runTick, startRun, stopRun } from "../../firmware/core/run/loop";
import { retainedSet } from "../../firmware/core/retain/store";
import { nodePlatform } from "../../host-sim/platform";
import { SimClock, SimNetwork } from "../../host-sim/sim";
import { configWith, startSim } from "../support/sim-client";
import { storeMessage } from "../../firmware/core/message";

/**
 * Files in memory; `cutAt` makes the n-th write or erase from now lose power: a write keeps half its
 * data, and nothing after it reaches the flash (`dead`).
 */
class FlashStorage implements Storage {
  files: { [name: string]: string } = {};
  ops = 0;
  cutAt = -1;
  dead = false;
  full = false;
  throwWhenFull = false;
  read(name: string): string | undefined {
    return this.files[name];
  }
  write(name: string, data: string): boolean {
    if (this.dead) throw new PowerCut();
    if (this.full) {
      if (this.throwWhenFull) throw new Error("Unable to find or create file");
      return false;
    }
    if (this.ops++ === this.cutAt) {
      this.files[name] = data.substring(0, Math.floor(data.length / 2));
      this.dead = true;
      throw new PowerCut();
    }
    this.files[name] = data;
    return true;
  }
  erase(name: string): void {
    if (this.dead) throw new PowerCut();
    if (this.ops++ === this.cutAt) {
      this.dead = true;
      throw new PowerCut();
    }
    delete this.files[name];
  }
}

class PowerCut extends Error {}

function persistent(): BrokerConfig {
  const c = configWith({ persistIntervalMs: 1000 });
  c.persistence = true;
  return c;
}

function freshBroker(config = persistent()): Broker {
  const net = new SimNetwork(new SimClock());
  const b = new Broker(config, nodePlatform(() => {}), net);
  net.attach(b);
  return b;
}

function retainedTopics(b: Broker): string[] {
  return b.retained.list.map((m) => Buffer.from(m.data as Uint8Array).subarray(0, m.topicLen).toString("latin1")).sort();
}

/** A retained message straight into the store: how a PUBLISH gets there is not what these tests are about. */
function retain(b: Broker, topic: string): void {
  const t = Buffer.from(topic + "payload", "latin1");
  retainedSet(b.retained, topic, storeMessage(b.platform.alloc, t, 0, topic.length, topic.length, 7, 0, true));
}

test("saves alternate between the two files, each one generation on, and only when the state changed", () => {
  const flash = new FlashStorage();
  const b = freshBroker();
  const files = loadStateFiles(b, flash);
  retain(b, "a/1");
  saveStateFiles(b, files);
  assert.equal(Object.keys(flash.files), ["mqtt.st1"]);
  assert.ok(flash.files["mqtt.st1"].startsWith("1:"));
  const ops = flash.ops;
  saveStateFiles(b, files);
  assert.is(flash.ops, ops, "an unchanged state writes nothing");
  retain(b, "a/2");
  saveStateFiles(b, files);
  assert.equal(Object.keys(flash.files), ["mqtt.st0"]);
  assert.ok(flash.files["mqtt.st0"].startsWith("2:"));
  const back = freshBroker();
  loadStateFiles(back, flash);
  assert.equal(retainedTopics(back), ["a/1", "a/2"]);
});

test("at boot the whole file with the higher generation wins; a torn or damaged one loses", () => {
  const flash = new FlashStorage();
  const b = freshBroker();
  retain(b, "old");
  const older = serializeState(b);
  retain(b, "new");
  const newer = serializeState(b);
  flash.files["mqtt.st0"] = "7:" + older;
  flash.files["mqtt.st1"] = "8:" + newer;
  let back = freshBroker();
  let files = loadStateFiles(back, flash);
  assert.equal(retainedTopics(back), ["new", "old"]);
  assert.is(files.index, 1);
  assert.is(files.generation, 8);
  flash.files["mqtt.st1"] = "8:" + newer.substring(0, newer.length - 3);
  back = freshBroker();
  files = loadStateFiles(back, flash);
  assert.equal(retainedTopics(back), ["old"]);
  assert.is(files.index, 0);
  for (const bad of ["x:" + newer, ":" + newer, "1234567890:" + newer, newer]) {
    flash.files["mqtt.st1"] = bad;
    back = freshBroker();
    loadStateFiles(back, flash);
    assert.equal(retainedTopics(back), ["old"], JSON.stringify(bad.substring(0, 12)));
  }
  // the next save goes to the other file than the one loaded, one generation on
  files = loadStateFiles(freshBroker(), flash);
  retain(back, "newest");
  saveStateFiles(back, files);
  assert.ok(flash.files["mqtt.st1"].startsWith("8:"), "generation 7 loaded: the save is 8");
  assert.is(flash.files["mqtt.st0"], undefined);
});

test("power lost at every write and erase of a save boots the old state or the new one", () => {
  for (let cut = 0; cut < 4; cut++) {
    const flash = new FlashStorage();
    const b = freshBroker();
    const files = loadStateFiles(b, flash);
    retain(b, "old");
    saveStateFiles(b, files);
    retain(b, "new");
    flash.ops = 0;
    flash.cutAt = cut;
    try {
      saveStateFiles(b, files);
    } catch (e) {
      if (!(e instanceof PowerCut)) throw e;
    }
    const cutHappened = flash.dead;
    flash.cutAt = -1;
    flash.dead = false;
    const back = freshBroker();
    loadStateFiles(back, flash);
    const got = retainedTopics(back).join(",");
    assert.ok(got === "old" || got === "new,old", `cut at op ${cut}: booted ${got}`);
    if (cut < 3) assert.ok(cutHappened, `op ${cut} is part of a save`);
  }
});

test("a full flash keeps the old state, and the next save tries again", () => {
  for (const throwWhenFull of [false, true]) {
    const flash = new FlashStorage();
    flash.throwWhenFull = throwWhenFull;
    const b = freshBroker();
    const files = loadStateFiles(b, flash);
    retain(b, "old");
    saveStateFiles(b, files);
    retain(b, "new");
    flash.full = true;
    saveStateFiles(b, files);
    let back = freshBroker();
    loadStateFiles(back, flash);
    assert.equal(retainedTopics(back), ["old"], `full (${throwWhenFull ? "throws" : "false"}): old state`);
    flash.full = false;
    saveStateFiles(b, files);
    back = freshBroker();
    loadStateFiles(back, flash);
    assert.equal(retainedTopics(back), ["new", "old"], "room again: the state that could not be saved is");
  }
});

test("the run loop: state loaded at start, saved once persistIntervalMs has passed, and at stop", () => {
  const flash = new FlashStorage();
  const first = freshBroker();
  retain(first, "kept");
  flash.files["mqtt.st0"] = "3:" + serializeState(first);
  const sim = startSim(persistent());
  const b = sim.broker;
  const files = startRun(b, flash);
  assert.ok(files !== undefined);
  assert.equal(retainedTopics(b), ["kept"]);
  retain(b, "more");
  runTick(b, files);
  assert.is(flash.files["mqtt.st1"], undefined, "not before the interval");
  sim.clock.advance(1000);
  runTick(b, files);
  assert.ok(flash.files["mqtt.st1"].startsWith("4:"), "saved after it");
  retain(b, "last");
  stopRun(b, files);
  assert.ok(flash.files["mqtt.st0"].startsWith("5:"), "and at stop");
  assert.is(b.conns.length, 0);
  const off = configWith();
  const quiet = startSim(off);
  assert.is(startRun(quiet.broker, flash), undefined, "no persistence: nothing read");
});

test.run();
