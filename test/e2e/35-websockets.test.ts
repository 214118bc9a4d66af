/**
 * MQTT over WebSockets (`protocol websockets` after a `listener` line, as in
 * mosquitto.conf): MQTT.js over ws:// and wss:// beside a TCP listener, the
 * mqtt subprotocol, binary frames only, MQTT packets split across and packed
 * into WebSocket messages, the bounded send queue, and the HTTP side of the
 * listener: the status page at `/`, `http_dir`'s files, path traversal
 * refused; the $SYS topics the page reads (clients/list, a bridge's queue).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { WebSocket } from "ws";
import { sendQueueHardLimit } from "../../firmware/core/profile";
import { loadConfig } from "../../host-sim/config";
import { RunningBroker, startBroker } from "../../host-sim/server";
import { resolveHttpPath } from "../../host-sim/ws";
import { connect, hostProfile, publish, subscribe, tracked, waitUntil, withTimeout } from "../support/e2e-helpers";
import { connectBytes, subscribeBytes } from "../support/sim-client";
import { Cert, makeCert } from "../support/x509";

const test = suite("35 WebSockets");
let dir = "";
let ca: Cert;
let server: Cert;
const brokers: RunningBroker[] = [];
const sockets: WebSocket[] = [];

test.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "e2e-ws-"));
  ca = makeCert({ cn: "test CA", ca: true });
  server = makeCert({ cn: "localhost", issuer: ca, dns: ["localhost"], ips: ["127.0.0.1"] });
  writeFileSync(path.join(dir, "server.crt"), server.cert);
  writeFileSync(path.join(dir, "server.key"), server.key);
  mkdirSync(path.join(dir, "www", "sub"), { recursive: true });
  writeFileSync(path.join(dir, "www", "hello.txt"), "hello from http_dir\n");
  writeFileSync(path.join(dir, "www", "sub", "index.html"), "<p>sub</p>");
  writeFileSync(path.join(dir, "secret.txt"), "outside the folder");
  symlinkSync(path.join(dir, "secret.txt"), path.join(dir, "www", "link.txt"));
});
test.after.each(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await tracked.closeAll();
  for (const b of brokers.splice(0)) await b.close();
});
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Start from a config text; every listener on port 0 (its real port in ports[]). */
async function start(text: string, profile: object = {}): Promise<RunningBroker> {
  const f = path.join(dir, "c" + Math.floor(Math.random() * 1e9) + ".conf");
  writeFileSync(f, text);
  const config = loadConfig(f, Object.assign(hostProfile(), profile));
  for (const l of config.listeners) l.port = 0;
  const b = await startBroker(config);
  brokers.push(b);
  return b;
}

const BOTH = "allow_anonymous true\nlistener 1883 127.0.0.1\nlistener 9001 127.0.0.1\nprotocol websockets\n";

/** A raw WebSocket; resolves once open, rejects on a refused handshake. */
function rawWs(port: number, protocols: string[] | undefined, pathName = "/mqtt"): Promise<WebSocket> {
  const ws = new WebSocket("ws://127.0.0.1:" + port + pathName, protocols);
  sockets.push(ws);
  return withTimeout(new Promise<WebSocket>((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  }), "the WebSocket handshake");
}

function nextMessage(ws: WebSocket): Promise<Buffer> {
  return withTimeout(new Promise<Buffer>((resolve) => ws.once("message", (d: Buffer) => resolve(d))), "a WebSocket message");
}

function get(port: number, p: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: p, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  }), "GET " + p);
}

test("config: MQTT.js over ws:// subscribes and sees what a TCP client publishes, and the other way", async () => {
  const b = await start(BOTH);
  const [tcpPort, wsPort] = b.ports;
  const wsSub = await connect(wsPort, { protocol: "ws", path: "/mqtt", clientId: "ws-sub" });
  assert.equal(await subscribe(wsSub.client, { "room/#": 1 }), [1]);
  const tcpPub = await connect(tcpPort, { clientId: "tcp-pub" });
  await publish(tcpPub.client, "room/temp", "21.5", 1);
  const m = await wsSub.inbox.next();
  assert.equal([m.topic, m.payload, m.qos], ["room/temp", "21.5", 1]);
  // the other way, and MQTT.js's own path-less URL
  const tcpSub = await connect(tcpPort, { clientId: "tcp-sub" });
  await subscribe(tcpSub.client, { "back/#": 0 });
  const wsPub = await connect(wsPort, { protocol: "ws", path: "/", clientId: "ws-pub" });
  await publish(wsPub.client, "back/x", "from the browser side", 1);
  const n = await tcpSub.inbox.next();
  assert.equal([n.topic, n.payload], ["back/x", "from the browser side"]);
  assert.is(b.broker.clientCount, 4);
});

test("wss://: TLS per listener as for TCP; MQTT.js checks the broker against the CA", async () => {
  const b = await start("allow_anonymous true\nlistener 1883 127.0.0.1\nlistener 9443 127.0.0.1\nprotocol websockets\n" +
    "certfile server.crt\nkeyfile server.key\n");
  const [tcpPort, wssPort] = b.ports;
  const sub = await connect(wssPort, { protocol: "wss", path: "/mqtt", ca: ca.cert, rejectUnauthorized: true, clientId: "wss-sub" });
  await subscribe(sub.client, { "s/#": 0 });
  const pub = await connect(tcpPort, { clientId: "tcp-pub" });
  await publish(pub.client, "s/1", "over wss", 1);
  assert.is((await sub.inbox.next()).payload, "over wss");
  // the page is served over https there too
  const ok = await withTimeout(new Promise<number>((resolve, reject) => {
    const https = require("node:https") as typeof import("node:https");
    https.get({ host: "127.0.0.1", port: wssPort, path: "/", ca: ca.cert }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  }), "GET / over https");
  assert.is(ok, 200);
});

test("subprotocol: mqtt and mqttv3.1 accepted, none or another refused at the handshake", async () => {
  const b = await start(BOTH);
  const port = b.ports[1];
  assert.is((await rawWs(port, ["mqtt"])).protocol, "mqtt");
  assert.is((await rawWs(port, ["mqttv3.1"])).protocol, "mqttv3.1");
  assert.is((await rawWs(port, ["chat", "mqtt"], "/any/path")).protocol, "mqtt");
  for (const p of [undefined, ["chat"]]) {
    let err: Error | undefined;
    try {
      await rawWs(port, p);
    } catch (e) {
      err = e as Error;
    }
    assert.ok(err !== undefined && /400/.test(err.message), "refused: " + String(err));
  }
  await waitUntil(() => b.broker.conns.length === 3, "three connections, no more");
});

test("binary frames carry the byte stream, split or packed; a text frame closes the connection", async () => {
  const b = await start(BOTH);
  const port = b.ports[1];
  const ws = await rawWs(port, ["mqtt"]);
  // CONNECT split over two messages, then SUBSCRIBE and PINGREQ packed into one
  const c = Buffer.from(connectBytes("raw-ws"));
  ws.send(c.subarray(0, 5));
  ws.send(c.subarray(5));
  const connack = await nextMessage(ws);
  assert.equal(Array.from(connack), [0x20, 2, 0, 0]);
  const got: Buffer[] = [];
  ws.on("message", (d: Buffer) => got.push(d));
  ws.send(Buffer.concat([Buffer.from(subscribeBytes(1, ["a/#"], [0])), Buffer.from([0xc0, 0])]));
  await waitUntil(() => Buffer.concat(got).length >= 7, "SUBACK and PINGRESP");
  assert.equal(Array.from(Buffer.concat(got)), [0x90, 3, 0, 1, 0, 0xd0, 0]);
  assert.is(b.broker.clientCount, 1);
  const closed = new Promise<number>((resolve) => ws.once("close", (code: number) => resolve(code)));
  ws.send("a text frame");
  assert.is(await withTimeout(closed, "the close after a text frame"), 1003);
  await waitUntil(() => b.broker.clientCount === 0 && b.broker.conns.length === 0, "the broker to forget it");
});

test("bounded: a WebSocket that stops reading is held at the bound (QoS 0 dropped), past the hard limit closed", async () => {
  const bound = 64 * 1024;
  const b = await start(BOTH, { maxSendQueueBytes: bound, stallTimeoutMs: 0 });
  const [tcpPort, wsPort] = b.ports;
  const sub = await rawWs(wsPort, ["mqtt"]);
  sub.send(Buffer.from(connectBytes("stuck")));
  await nextMessage(sub);
  sub.send(Buffer.from(subscribeBytes(1, ["flood/#"], [0])));
  await nextMessage(sub);
  const id = b.broker.conns[0].id;
  // stop reading: the kernel's buffers fill, then ws's, then what the broker holds
  sub.pause();
  const pub = await connect(tcpPort, { clientId: "flooder" });
  const body = Buffer.alloc(16 * 1024, "x");
  // what the transport holds for it, seen at every send
  let peak = 0;
  const send = b.ws.send.bind(b.ws);
  b.ws.send = (to, buf, off, len) => {
    const ok = send(to, buf, off, len);
    if (to === id && b.ws.queued(id) > peak) peak = b.ws.queued(id);
    return ok;
  };
  for (let i = 0; i < 800; i++) {
    pub.client.publish("flood/x", body, { qos: 0 });
    if (i % 20 === 19) await new Promise<void>((r) => setTimeout(r, 2));
  }
  await publish(pub.client, "flood/end", "end", 1);
  await waitUntil(() => b.broker.stats.publishDropped > 0, "QoS 0 past the bound dropped", 10000);
  assert.ok(peak > bound / 2 && peak <= bound + body.length + 1024, "held near the bound: peak " + peak);
  assert.is(b.broker.guard.slowClosed, 0);
  // the transport's own limit: a send past sendQueueHardLimit closes that connection
  const limit = sendQueueHardLimit(b.broker.profile);
  const big = new Uint8Array(limit + 1);
  assert.is(b.ws.send(id, big, 0, big.length), false);
  assert.is(b.broker.guard.slowClosed, 1);
  await waitUntil(() => b.broker.clientCount === 1, "the stuck one closed, the publisher left");
  const after = await connect(tcpPort, { clientId: "after" });
  assert.is(after.connack.returnCode, 0);
});

test("http: the status page at /, http_dir's files, traversal refused, 404 otherwise", async () => {
  const plain = await start(BOTH);
  const p = plain.ports[1];
  const page = await get(p, "/");
  assert.is(page.status, 200);
  assert.match(page.type, /text\/html/);
  assert.match(page.body, /<title>esp-mqtt-broker status<\/title>/);
  assert.match(page.body, /\$SYS\/#/);
  assert.ok(!/https?:\/\/(?!.*location)/.test(page.body.replace(/location\.protocol === "https:"/g, "")), "nothing from the network");
  assert.is((await get(p, "/hello.txt")).status, 404, "no http_dir: nothing else");
  assert.is((await get(p, "/", "POST")).status, 405);
  assert.is((await get(p, "/", "HEAD")).body, "");

  const www = await start("allow_anonymous true\nlistener 9001 127.0.0.1\nprotocol websockets\nhttp_dir " + path.join(dir, "www") + "\n");
  const w = www.ports[0];
  const hello = await get(w, "/hello.txt?x=1");
  assert.equal([hello.status, hello.body, hello.type], [200, "hello from http_dir\n", "text/plain; charset=utf-8"]);
  assert.is((await get(w, "/sub/")).body, "<p>sub</p>", "a folder serves its index.html");
  assert.match((await get(w, "/")).body, /esp-mqtt-broker status/, "/ is still the status page");
  for (const bad of ["/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/..%2fsecret.txt", "/%2e%2e%5csecret.txt", "/link.txt", "/a%00b"]) {
    assert.is((await get(w, bad)).status, 403, bad);
  }
  assert.is((await get(w, "/missing.txt")).status, 404);
  assert.is((await get(w, "/%zz")).status, 400);
  // and the resolver on its own
  assert.is(resolveHttpPath(path.join(dir, "www"), "/hello.txt"), path.join(dir, "www", "hello.txt"));
  assert.is(resolveHttpPath(path.join(dir, "www"), "/../secret.txt"), 403);
  assert.is(resolveHttpPath(path.join(dir, "www"), "/nope"), 404);
  // MQTT on the same port still works
  const c = await connect(w, { protocol: "ws", path: "/mqtt", clientId: "same-port" });
  assert.is(c.connack.returnCode, 0);
});

test("$SYS: clients/list names WebSocket and TCP clients with address and subscriptions; counters under mosquitto's names", async () => {
  // and a bridge to a port nobody listens on: its queue beside its state
  const closed = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
  const b = await start(BOTH + "connection upstream\naddress 127.0.0.1:" + closed + "\ntopic x/# out 1\n", { sysIntervalMs: 100 });
  const [tcpPort, wsPort] = b.ports;
  const a = await connect(wsPort, { protocol: "ws", path: "/mqtt", clientId: "viewer" });
  await subscribe(a.client, { "x/y": 0, "z/#": 1 });
  const t = await connect(tcpPort, { clientId: "tcp " + "x".repeat(70) });
  await publish(t.client, "x/y", "1", 1);
  assert.equal(await subscribe(a.client, { "$SYS/broker/#": 0 }), [0]);
  const seen: { [topic: string]: string } = {};
  await waitUntil(() => {
    for (const m of a.inbox.all) if (m.topic.startsWith("$SYS/")) seen[m.topic] = m.payload;
    return seen["$SYS/broker/clients/list"] !== undefined && seen["$SYS/broker/publish/messages/received"] !== undefined &&
      seen["$SYS/broker/connection/upstream/queued"] === "1";
  }, "the $SYS tree");
  const lines = seen["$SYS/broker/clients/list"].split("\n").sort();
  assert.equal(lines, ["tcp " + "x".repeat(60) + "~\t127.0.0.1", "viewer\t127.0.0.1\tx/y\tz/#\t$SYS/broker/#"]);
  for (const n of ["clients/connected", "messages/received", "messages/sent", "publish/messages/sent", "bytes/received", "bytes/sent", "retained messages/count", "heap/current"]) {
    assert.ok(/^[0-9]+$/.test(seen["$SYS/broker/" + n]), n + ": " + seen["$SYS/broker/" + n]);
  }
  assert.is(seen["$SYS/broker/clients/connected"], "2");
  assert.is(seen["$SYS/broker/connection/upstream/dropped"], "0", "the QoS 1 message waits for the remote");
});

test.run();
