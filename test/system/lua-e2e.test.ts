/**
 * MQTT.js end to end against the NodeMCU build on real Lua (Debian's lua5.1,
 * lua5.3 and lua-socket; LuaJIT for the first scenario), booted from a flash
 * folder by the luasocket shim of NodeMCU's modules: wildcards, retained
 * messages, QoS 1 and 2, wills, packets larger than a TCP segment, the
 * connection limit of an ESP8266 and persistence across a restart.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkLua, ensureLuaBuild, LuaBroker, startLuaBroker } from "../../firmware/nodemcu/tools/sim";
import { formatPasswordLine, hashPassword } from "../../host-sim/password-file";
import { barrier, connect, connectRefused, end, publish, subscribe, Tracker, withTimeout } from "../support/e2e-helpers";

/** Poll `cond` until it holds, or fail after `ms`. */
async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
import { requireTool } from "../support/tools";

const brokers: LuaBroker[] = [];

/** A port nothing listens on right now (for a mosquitto.conf, which takes no port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
const tracker = new Tracker();

async function start(lua: string, opts: { board?: string; config?: string; dir?: string; asFlashed?: boolean } = {}): Promise<LuaBroker> {
  requireTool(lua, lua);
  checkLua(lua);
  ensureLuaBuild();
  const b = await startLuaBroker({ lua, board: opts.board ?? "nodemcu-esp8266", ...opts });
  brokers.push(b);
  return b;
}

test.after.each(async () => {
  await tracker.closeAll();
  for (const b of brokers.splice(0)) {
    await b.stop();
    fs.rmSync(b.dir, { recursive: true, force: true });
  }
});

for (const lua of ["lua5.1", "lua5.3", "luajit"]) {
  test(`${lua}: wildcards route each message once, at the highest granted QoS`, async () => {
    const b = await start(lua);
    const sub = await connect(b.port, { clientId: "wild-sub" }, tracker);
    const pub = await connect(b.port, { clientId: "wild-pub" }, tracker);
    assert.equal(await subscribe(sub.client, { "home/+/temp": 1, "home/#": 0, "+/kitchen/#": 2, fence: 1 }), [1, 0, 2, 1]);
    await publish(pub.client, "home/kitchen/temp", "21", 2);
    await publish(pub.client, "home/hall/temp", "19", 1);
    await publish(pub.client, "home", "parent", 0);
    await publish(pub.client, "garden/temp", "nobody", 1);
    await publish(pub.client, "$SYS/fake", "not for wildcards", 0);
    const got = await barrier(pub.client, sub, "fence");
    assert.equal(got.map((m) => [m.topic, m.payload, m.qos]), [
      ["home/kitchen/temp", "21", 2],
      ["home/hall/temp", "19", 1],
      ["home", "parent", 0],
    ]);
  });
}

for (const lua of ["lua5.1", "lua5.3"]) {
  test(`${lua}: retained messages reach later subscribers, an empty one clears the topic`, async () => {
    const b = await start(lua);
    const pub = await connect(b.port, { clientId: "ret-pub" }, tracker);
    await publish(pub.client, "status/a", "up", 1, true);
    await publish(pub.client, "status/b", "down", 0, true);
    await publish(pub.client, "status/b", "", 0, true);
    const sub = await connect(b.port, { clientId: "ret-sub" }, tracker);
    await subscribe(sub.client, { "status/#": 1 });
    const m = await sub.inbox.next("the retained message");
    assert.equal([m.topic, m.payload, m.retain, m.qos], ["status/a", "up", true, 1]);
    await publish(pub.client, "status/a", "live", 1);
    const live = await sub.inbox.next("the live message");
    assert.equal([live.topic, live.payload, live.retain], ["status/a", "live", false]);
  });

  test(`${lua}: QoS 1 and 2 end to end, and the downgrade to the granted QoS`, async () => {
    const b = await start(lua);
    const hi = await connect(b.port, { clientId: "q-hi" }, tracker);
    const lo = await connect(b.port, { clientId: "q-lo" }, tracker);
    const pub = await connect(b.port, { clientId: "q-pub" }, tracker);
    await subscribe(hi.client, { "q/#": 2 });
    await subscribe(lo.client, { "q/#": 1 });
    for (const qos of [0, 1, 2] as const) await publish(pub.client, "q/" + qos, "m" + qos, qos);
    const a = await hi.inbox.take(3);
    const c = await lo.inbox.take(3);
    assert.equal(a.map((m) => [m.topic, m.qos]), [["q/0", 0], ["q/1", 1], ["q/2", 2]]);
    assert.equal(c.map((m) => [m.topic, m.qos]), [["q/0", 0], ["q/1", 1], ["q/2", 1]]);
  });

  test(`${lua}: a will goes out when its client vanishes, not after a DISCONNECT`, async () => {
    const b = await start(lua);
    const watcher = await connect(b.port, { clientId: "will-watch" }, tracker);
    await subscribe(watcher.client, { "wills/#": 1 });
    const polite = await connect(b.port, { clientId: "polite", will: { topic: "wills/polite", payload: Buffer.from("x"), qos: 1, retain: false } }, tracker);
    await end(polite.client);
    const rude = await connect(b.port, { clientId: "rude", will: { topic: "wills/rude", payload: Buffer.from("gone"), qos: 1, retain: true } }, tracker);
    rude.client.stream.destroy();
    const m = await watcher.inbox.next("the will");
    assert.equal([m.topic, m.payload, m.qos], ["wills/rude", "gone", 1]);
    // retained as asked: a late subscriber gets it too
    const late = await connect(b.port, { clientId: "will-late" }, tracker);
    await subscribe(late.client, { "wills/#": 0 });
    const r = await late.inbox.next("the retained will");
    assert.equal([r.topic, r.payload, r.retain], ["wills/rude", "gone", true]);
  });

  test(`${lua}: a 4,000-byte message crosses NodeMCU's 1460-byte chunks both ways (nodemcu-esp32 profile)`, async () => {
    const b = await start(lua, { board: "nodemcu-esp32" });
    const sub = await connect(b.port, { clientId: "big-sub" }, tracker);
    const pub = await connect(b.port, { clientId: "big-pub" }, tracker);
    await subscribe(sub.client, { big: 1 });
    let payload = "";
    for (let i = 0; payload.length < 4000; i++) payload += (i % 10).toString();
    payload = payload.slice(0, 4000);
    await publish(pub.client, "big", payload, 1);
    await publish(pub.client, "big", "small after big", 0);
    const [m1, m2] = await sub.inbox.take(2);
    assert.is(m1.payload.length, 4000);
    assert.ok(m1.payload === payload, "the large payload arrives intact");
    assert.is(m2.payload, "small after big");
  });

  test(`${lua}: the ESP8266's five connections: a sixth is refused by the net module`, async () => {
    const b = await start(lua);
    const five = [];
    for (let i = 0; i < 5; i++) five.push(await connect(b.port, { clientId: "c" + i }, tracker));
    let refused: Error | undefined;
    try {
      await connect(b.port, { clientId: "c5", connectTimeout: 1500 }, tracker);
    } catch (e) {
      refused = e as Error;
    }
    assert.ok(refused !== undefined, "the sixth connection was accepted");
    // the shim's line travels on stderr, the refusal on the socket: either may come first
    await waitFor(() => /connection refused: the limit of 5 connections/.test(b.log()), "the shim's refusal line");
    // the others are unharmed
    await subscribe(five[0].client, { t: 0 });
    await publish(five[4].client, "t", "still here", 0);
    assert.is((await five[0].inbox.next()).payload, "still here");
  });

  test(`${lua}: passwords: a $5$ (SHA-256) entry is checked with NodeMCU's crypto module (the shim's)`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nodemcu-auth-"));
    try {
      fs.writeFileSync(path.join(dir, "passwd"), formatPasswordLine("alice", hashPassword("s3cret p\u00e4ss")) + "\n");
      fs.writeFileSync(path.join(dir, "broker.conf"), `listener ${await freePort()}\nallow_anonymous false\npassword_file passwd\n`);
      const b = await start(lua, { config: path.join(dir, "broker.conf") });
      const ok = await connect(b.port, { clientId: "a1", username: "alice", password: "s3cret p\u00e4ss" }, tracker);
      assert.is(ok.connack.returnCode, 0);
      assert.is(await connectRefused(b.port, { clientId: "a2", username: "alice", password: "wrong" }, tracker), 4);
      assert.is(await connectRefused(b.port, { clientId: "a3" }, tracker), 5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${lua}: persistence: retained messages and a persistent session come back after a restart`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nodemcu-persist-"));
    const conf = path.join(dir, "broker.conf");
    const flash = path.join(dir, "flash");
    fs.mkdirSync(flash);
    fs.writeFileSync(conf, `listener ${await freePort()}\nallow_anonymous true\npersistence true\nautosave_interval 1\n`);
    try {
      let b = await start(lua, { config: conf, dir: flash });
      const keeper = await connect(b.port, { clientId: "keeper", clean: false }, tracker);
      await subscribe(keeper.client, { "box/#": 1 });
      await end(keeper.client);
      const pub = await connect(b.port, { clientId: "box-pub" }, tracker);
      await publish(pub.client, "box/kept", "retained", 1, true);
      await publish(pub.client, "box/queued", "for keeper", 1);
      // the state is saved on the tick after autosave_interval
      await withTimeout((async () => {
        while (!fs.readdirSync(flash).some((f) => /^mqtt\.st[01]$/.test(f) && fs.statSync(path.join(flash, f)).size > 12)) {
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 1500));
      })(), "a state file", 6000);
      await tracker.closeAll();
      await b.stop();
      brokers.splice(brokers.indexOf(b), 1);
      b = await start(lua, { dir: flash, asFlashed: true });
      const back = await connect(b.port, { clientId: "keeper", clean: false }, tracker);
      assert.is(back.connack.sessionPresent, true);
      // both were queued for it while it was away (the retained one went out live too)
      const got = await back.inbox.take(2, "the queued messages");
      assert.equal(got.map((m) => [m.topic, m.payload, m.qos]), [["box/kept", "retained", 1], ["box/queued", "for keeper", 1]]);
      const fresh = await connect(b.port, { clientId: "fresh" }, tracker);
      await subscribe(fresh.client, { "box/kept": 0 });
      assert.is((await fresh.inbox.next("the retained message")).payload, "retained");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
