/**
 * Power loss: the persisted state comes back whole or not at all.
 * - host-sim/persistence.ts saves through a file system that loses power at
 *   every operation (test/support/crash-fs.ts); every disk it may leave
 *   (a file written since its fsync cut at every byte length, a rename made
 *   or not) boots into the old state or the new one, never a torn one;
 * - the state format: every truncation and every single-bit flip of a state
 *   is refused by restoreState with nothing changed; a state damaged and
 *   re-checksummed (so only the parser can refuse it) loads whole or not at all.
 */
import * as fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Broker } from "../../firmware/core/broker/broker";
import { BrokerConfig } from "../../firmware/core/config";
import { restoreState, serializeState, validState } from "../../firmware/core/persist/snapshot";
import { nodePlatform } from "../../host-sim/platform";
import { attachPersistence, PersistFs, STATE_FILE } from "../../host-sim/persistence";
import { SimNetwork, SimClock } from "../../host-sim/sim";
import { Crash, CrashFs, Image } from "../support/crash-fs";
import { configWith, PUBREC, SimClient, startSim } from "../support/sim-client";
import { allSessions } from "../../firmware/core/session/registry";

const FOLDER = "/vdisk";
const FILE = FOLDER + "/" + STATE_FILE;

function persistentConfig(): BrokerConfig {
  const c = configWith({ maxInflight: 2 });
  c.persistence = true;
  c.persistenceLocation = FOLDER;
  return c;
}

function freshBroker(config: BrokerConfig): Broker {
  const net = new SimNetwork(new SimClock());
  const b = new Broker(config, nodePlatform(() => {}), net);
  net.attach(b);
  return b;
}

/** A broker holding every kind of state: retained, sessions with filters, in-flight, queue, incoming QoS 2. */
function busyBroker() {
  const sim = startSim(persistentConfig());
  const sub = new SimClient(sim);
  sub.connect("sub", { clean: false });
  sub.subscribe(["a/#", "b/+"], [1, 2]);
  const pub = new SimClient(sim);
  pub.connect("pub", { clean: false });
  pub.publish1("a/r", "retained one", 1, true);
  pub.publish2("b/r", "retained two", 2, true);
  for (let i = 0; i < 5; i++) pub.publish1("a/" + i, "queued " + i, 10 + i);
  pub.publish("b/x", "half done", 2, false, 30);
  assert.is(pub.expect(PUBREC).packetId, 30);
  sub.sock.cut();
  sub.settle();
  return { sim, sub, pub };
}

/** persistence.ts over `fs` without the boot-time restore (the broker is already running). */
function saverFor(broker: Broker, fs: CrashFs) {
  const noBoot: PersistFs = {
    existsSync: () => false,
    readFileSync: (p) => fs.readFileSync(p),
    openSync: (p, f) => fs.openSync(p, f),
    writeSync: (fd, b, o, l) => fs.writeSync(fd, b, o, l),
    fsyncSync: (fd) => fs.fsyncSync(fd),
    closeSync: (fd) => fs.closeSync(fd),
    renameSync: (a, b) => fs.renameSync(a, b),
  };
  return attachPersistence(broker, persistentConfig(), noBoot);
}

function boot(image: Image): string {
  const b = freshBroker(persistentConfig());
  attachPersistence(b, persistentConfig(), new CrashFs(FOLDER, image));
  return serializeState(b);
}

/** Crash a save from `oldImage` to the broker's current state at every operation; return what each disk boots into. */
function crashEverywhere(broker: Broker, oldImage: Image, tweak: (fs: CrashFs) => void) {
  const outcomes = { old: 0, new: 0, torn: 0, disks: 0, crashPoints: 0 };
  const newState = serializeState(broker);
  const oldState = boot(oldImage);
  for (let k = 0; ; k++) {
    const fs = new CrashFs(FOLDER, oldImage);
    tweak(fs);
    const saver = saverFor(broker, fs);
    fs.crashAt = k;
    try {
      saver.save();
    } catch (e) {
      if (!(e instanceof Crash)) throw e;
    }
    const finished = !fs.dead;
    outcomes.crashPoints++;
    for (const image of fs.images()) {
      outcomes.disks++;
      const got = boot(image);
      if (got === oldState) outcomes.old++;
      else if (got === newState) outcomes.new++;
      else outcomes.torn++;
    }
    if (finished) break;
  }
  return outcomes;
}

function firstImage(broker: Broker): Image {
  const fs = new CrashFs(FOLDER);
  saverFor(broker, fs).save();
  const images = fs.images();
  assert.is(images.length, 1, "a finished save leaves one possible disk");
  return images[0];
}

/** A broker saved once (the old image), then changed everywhere (its state now is the new one). */
function twoStates() {
  const { sim, pub } = busyBroker();
  const oldImage = firstImage(sim.broker);
  assert.ok(oldImage.get(FILE)!.length > 100);
  // change everything: a new retained, a cleared one, the subscriber back and acking, a new session
  pub.publish1("a/r", "", 40, true);
  pub.publish1("c/r", "retained three", 41, true);
  const again = new SimClient(sim);
  again.connect("sub", { clean: false }, 0);
  const late = new SimClient(sim);
  late.connect("late", { clean: false });
  late.subscribe("c/#", 1);
  return { broker: sim.broker, oldImage };
}

test("persistence.ts: power lost at every operation of a save boots the old state or the new one", () => {
  const { broker, oldImage } = twoStates();
  const o = crashEverywhere(broker, oldImage, () => {});
  console.log("  save crashed at each of " + o.crashPoints + " operations: " + o.disks + " possible disks, " +
    o.old + " boot the old state, " + o.new + " the new, " + o.torn + " torn");
  assert.is(o.torn, 0);
  assert.ok(o.old > 0 && o.new > 0);
  assert.ok(o.disks > oldImage.get(FILE)!.length, "every byte length of the file being written was tried");
  assert.is(o.crashPoints, 9, "open, write, fsync, close, rename, open folder, fsync folder, close folder, and none");
});

test("persistence.ts: short writes (write(2) taking a few bytes at a time) are finished, never torn", () => {
  const { broker, oldImage } = twoStates();
  const o = crashEverywhere(broker, oldImage, (fs) => {
    fs.maxWrite = 97;
  });
  console.log("  with 97-byte writes: " + o.crashPoints + " crash points, " + o.disks + " disks, torn " + o.torn);
  assert.is(o.torn, 0);
  assert.ok(o.old > 0 && o.new > 0);
});

test("the crash model catches a save that does not fsync before its rename", () => {
  const { broker, oldImage } = twoStates();
  const o = crashEverywhere(broker, oldImage, (fs) => {
    fs.fsyncIsNoop = true;
  });
  assert.ok(o.torn > 0, "torn disks found: " + o.torn);
});

test("state format: every truncation and every single-bit flip is refused, changing nothing", () => {
  const { sim } = busyBroker();
  const state = serializeState(sim.broker);
  const whole = freshBroker(persistentConfig());
  assert.ok(restoreState(whole, state), "the whole state loads");
  assert.is(serializeState(whole), state, "and is the same state");
  const b = freshBroker(persistentConfig());
  const empty = serializeState(b);
  let tried = 0;
  const unchanged = (what: string) => {
    assert.is(serializeState(b), empty, what);
    assert.is(b.sessions.count, 0, what);
    assert.is(b.topics.count, 0, what);
    assert.is(b.retained.list.length, 0, what);
  };
  for (let len = 0; len < state.length; len++) {
    assert.not.ok(restoreState(b, state.substring(0, len)), "truncated at " + len);
    tried++;
  }
  unchanged("after truncations");
  for (let i = 0; i < state.length; i++) {
    for (let bit = 1; bit < 256; bit *= 2) {
      const c = state.charCodeAt(i);
      const flipped = state.substring(0, i) + String.fromCharCode(c % (2 * bit) >= bit ? c - bit : c + bit) + state.substring(i + 1);
      assert.not.ok(restoreState(b, flipped), "bit " + bit + " of byte " + i);
      tried++;
    }
  }
  unchanged("after bit flips");
  console.log("  " + tried + " damaged states of " + state.length + " bytes refused");
});

function adler(s: string): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < s.length; i++) {
    a = (a + s.charCodeAt(i)) % 65521;
    b = (b + a) % 65521;
  }
  return b * 65536 + a;
}

function u32(n: number): string {
  return String.fromCharCode(Math.floor(n / 16777216) % 256, Math.floor(n / 65536) % 256, Math.floor(n / 256) % 256, n % 256);
}

/** A body wrapped as a valid file: only restoreState's parser can refuse it. */
function rewrap(body: string): string {
  return "EMQ1" + u32(body.length) + body + u32(adler(body));
}

test("state format: damaged and re-checksummed, it loads whole or changes nothing (property)", () => {
  const { sim } = busyBroker();
  const state = serializeState(sim.broker);
  const body = state.substring(8, state.length - 4);
  assert.is(rewrap(body), state);
  const edit = fc.oneof(
    fc.record({ kind: fc.constant("set"), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("cut"), at: fc.nat(), value: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant("dup"), at: fc.nat(), value: fc.integer({ min: 1, max: 40 }) }),
  );
  let loaded = 0;
  let refused = 0;
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
      let s = body;
      for (const e of edits) {
        const at = s.length === 0 ? 0 : e.at % s.length;
        if (e.kind === "set") s = s.substring(0, at) + String.fromCharCode(e.value) + s.substring(at + 1);
        else if (e.kind === "cut") s = s.substring(0, at) + s.substring(at + e.value);
        else s = s.substring(0, at) + s.substring(at, at + e.value) + s.substring(at);
      }
      const b = freshBroker(persistentConfig());
      const before = serializeState(b);
      if (restoreState(b, rewrap(s))) {
        loaded++;
        // a whole state: consistent structures that save again to a valid file
        let filters = 0;
        for (const ss of allSessions(b.sessions)) filters += ss.filters.length;
        assert.is(b.topics.count, filters);
        assert.is(allSessions(b.sessions).length, b.sessions.count);
        let bytes = 0;
        for (const m of b.retained.list) bytes += m.topicLen + m.payloadLen;
        assert.is(b.retained.bytes, bytes);
        assert.ok(validState(serializeState(b)));
      } else {
        refused++;
        assert.is(serializeState(b), before, "refused, and nothing changed");
        assert.is(b.sessions.count, 0);
        assert.is(b.topics.count, 0);
        assert.is(b.retained.list.length, 0);
      }
    }),
    { numRuns: 1500, seed: 42 },
  );
  console.log("  re-checksummed damage: " + loaded + " loaded whole, " + refused + " refused unchanged");
});

test.run();
