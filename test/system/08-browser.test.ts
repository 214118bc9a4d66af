/**
 * MQTT over WebSockets in a real browser: Debian's headless Chromium, driven
 * with playwright-core. MQTT.js's browser build (served from an `http_dir` on
 * the websockets listener) connects, subscribes and sees what a TCP client
 * publishes; the broker's own status page at `/` shows a client the test
 * connects and its rate chart moves; with `allow_anonymous false` the page
 * asks for a user name and password and the ACL decides who reads $SYS/#.
 * A bridge whose remote is down shows as disconnected, with its queue.
 * A screenshot of the page goes to test-artifacts/status-page.png.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Browser, chromium, Page } from "playwright-core";
import { loadConfig, loadProfile } from "../../host-sim/config";
import { formatPasswordLine, hashPassword } from "../../host-sim/password-file";
import { RunningBroker, startBroker } from "../../host-sim/server";
import { connect, publish, subscribe, tracked, waitUntil } from "../support/e2e-helpers";
import { requireTool } from "../support/tools";

/** The page's globals, inside page.evaluate (this project's tsconfig has no DOM lib). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const window: any, document: any;

const ROOT = path.join(__dirname, "..", "..");
const ARTIFACTS = path.join(ROOT, "test-artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const test = suite("08 browser");
let dir = "";
let browser: Browser;
const brokers: RunningBroker[] = [];

test.before(async () => {
  requireTool(CHROMIUM, "chromium");
  dir = mkdtempSync(path.join(tmpdir(), "browser-"));
  mkdirSync(path.join(dir, "www"));
  copyFileSync(path.join(ROOT, "node_modules", "mqtt", "dist", "mqtt.min.js"), path.join(dir, "www", "mqtt.min.js"));
  writeFileSync(path.join(dir, "www", "client.html"), `<!doctype html><meta charset="utf-8"><title>MQTT.js</title>
<script src="/mqtt.min.js"></script>
<script>
window.got = [];
window.client = mqtt.connect((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/mqtt", { clientId: "browser-1" });
client.on("connect", () => client.subscribe("from/tcp/#", (err) => { window.subscribed = !err; }));
client.on("message", (topic, payload) => window.got.push(topic + " " + payload.toString()));
</script>`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
});
test.after.each(async () => {
  await tracked.closeAll();
  for (const b of brokers.splice(0)) await b.close();
});
test.after(async () => {
  if (browser !== undefined) await browser.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(text: string, profile: object = {}): Promise<RunningBroker> {
  const f = path.join(dir, "c" + Math.floor(Math.random() * 1e9) + ".conf");
  writeFileSync(f, text);
  const config = loadConfig(f, Object.assign(loadProfile("host"), profile));
  for (const l of config.listeners) l.port = 0;
  const b = await startBroker(config);
  brokers.push(b);
  return b;
}

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  page.on("pageerror", (e) => console.error("page error: " + e.message));
  return page;
}

/** Poll a value in the page until `ok` holds for it (bounded). */
async function pageUntil<T>(page: Page, fn: () => T, ok: (v: T) => boolean, what: string, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  let v: T;
  for (;;) {
    v = await page.evaluate(fn);
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what + "; last: " + JSON.stringify(v));
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("MQTT.js in Chromium connects over ws://, subscribes, sees what a TCP client publishes (and publishes back)", async () => {
  const b = await start("allow_anonymous true\nlistener 1883 127.0.0.1\nlistener 9001 127.0.0.1\nprotocol websockets\nhttp_dir " +
    path.join(dir, "www") + "\n");
  const [tcpPort, wsPort] = b.ports;
  const page = await newPage();
  try {
    await page.goto("http://127.0.0.1:" + wsPort + "/client.html");
    await pageUntil(page, () => (window as unknown as { subscribed?: boolean }).subscribed === true, (v) => v, "the browser's SUBACK");
    const tcp = await connect(tcpPort, { clientId: "tcp-side" });
    await subscribe(tcp.client, { "from/browser/#": 1 });
    await publish(tcp.client, "from/tcp/hello", "hello browser", 1);
    const got = await pageUntil(page, () => (window as unknown as { got: string[] }).got, (v) => v.length > 0, "the message in the browser");
    assert.equal(got, ["from/tcp/hello hello browser"]);
    await page.evaluate(() => (window as unknown as { client: { publish(t: string, m: string): void } }).client.publish("from/browser/x", "hello tcp"));
    const m = await tcp.inbox.next();
    assert.equal([m.topic, m.payload], ["from/browser/x", "hello tcp"]);
    const list = b.broker.conns.map((c) => c.clientId).sort();
    assert.equal(list, ["browser-1", "tcp-side"]);
  } finally {
    await page.close();
  }
});

interface Point { t: number; rx: number; tx: number }

test("status page: loads, shows a client the test connects, its rate chart moves; screenshot in test-artifacts", async () => {
  // a bridge to a port nobody listens on: the page shows it down, with what it holds
  const closed = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
  const b = await start("allow_anonymous true\nlistener 1883 127.0.0.1\nlistener 9001 127.0.0.1\nprotocol websockets\n" +
    "connection upstream\naddress 127.0.0.1:" + closed + "\ntopic home/# out 1\n", { sysIntervalMs: 500 });
  const [tcpPort, wsPort] = b.ports;
  const page = await newPage();
  let timer: NodeJS.Timeout | undefined;
  try {
    await page.goto("http://127.0.0.1:" + wsPort + "/");
    assert.is(await page.title(), "esp-mqtt-broker status");
    await pageUntil(page, () => (window as unknown as { brokerStatus: { connected: boolean } }).brokerStatus.connected, (v) => v, "the page's $SYS subscription");
    const sensor = await connect(tcpPort, { clientId: "sensor-42" });
    await subscribe(sensor.client, { "home/+/temp": 0 });
    const pub = await connect(tcpPort, { clientId: "publisher-7" });
    let n = 0;
    timer = setInterval(() => pub.client.publish("home/kitchen/temp", String(20 + (n++ % 5))), 10);
    const rows = await pageUntil(page, () => Array.from(document.querySelectorAll("#clients tbody tr")).map((tr) => (tr as { textContent: string }).textContent || ""),
      (v) => v.some((r) => r.indexOf("sensor-42") >= 0), "sensor-42 in the clients table");
    const row = rows.find((r) => r.indexOf("sensor-42") >= 0)!;
    assert.match(row, /127\.0\.0\.1/);
    assert.match(row, /home\/\+\/temp/);
    const points = () => (window as unknown as { brokerStatus: { points: Point[] } }).brokerStatus.points.slice();
    const first = await pageUntil(page, points, (v) => v.length >= 2 && v[v.length - 1].rx > 10, "a rate over 10/s on the chart");
    const second = await pageUntil(page, points, (v) => v.length >= first.length + 4, "four more points");
    assert.not.equal(second, first, "the chart data moved");
    assert.ok(second[second.length - 1].t > first[first.length - 1].t);
    assert.ok(second[second.length - 1].tx > 0, "messages out too (the sensor's deliveries and the page's $SYS)");
    const bridge = await pageUntil(page, () => Array.from(document.querySelectorAll("#bridges tbody tr")).map((tr) => (tr as { textContent: string }).textContent || ""),
      (v) => v.some((r) => /^upstream.*disconnected.*queued: [0-9]+/.test(r)), "the bridge, down, with its queue");
    assert.ok(bridge.length === 1, bridge.join(" | "));
    const shown = await page.evaluate(() => Number(document.getElementById("c-clients")!.textContent));
    assert.is(shown, 3, "the page, the sensor and the publisher");
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, "status-page.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log("  screenshot: " + path.relative(ROOT, shot));
  } finally {
    if (timer !== undefined) clearInterval(timer);
    await page.close();
  }
});

test("status page with allow_anonymous false: asks for a user name and password; the ACL decides who reads $SYS/#", async () => {
  const pw = path.join(dir, "passwd");
  writeFileSync(pw, formatPasswordLine("admin", hashPassword("s3cret")) + "\n" + formatPasswordLine("guest", hashPassword("guest")) + "\n");
  const acl = path.join(dir, "acl");
  writeFileSync(acl, "user admin\ntopic read $SYS/#\n\nuser guest\ntopic readwrite guest/#\n");
  const b = await start("allow_anonymous false\npassword_file " + pw + "\nacl_file " + acl +
    "\nlistener 9001 127.0.0.1\nprotocol websockets\n", { sysIntervalMs: 500 });
  const page = await newPage();
  try {
    await page.goto("http://127.0.0.1:" + b.ports[0] + "/");
    await page.waitForSelector("#login:not(.hidden)", { timeout: 10000 });
    assert.match(await page.textContent("#state") ?? "", /refused/);
    // a user the ACL keeps from $SYS/#
    await page.fill("#user", "guest");
    await page.fill("#pass", "guest");
    await page.click("#login button");
    await pageUntil(page, () => document.getElementById("state")!.textContent || "", (v) => /ACL does not let "guest"/.test(v), "the ACL's refusal");
    assert.is(await page.evaluate(() => (window as unknown as { brokerStatus: { connected: boolean } }).brokerStatus.connected), false);
    // the admin
    await page.fill("#user", "admin");
    await page.fill("#pass", "s3cret");
    await page.click("#login button");
    await pageUntil(page, () => (window as unknown as { brokerStatus: { connected: boolean } }).brokerStatus.connected, (v) => v, "admin's $SYS subscription");
    await page.waitForSelector("#login.hidden", { state: "attached" });
    await waitUntil(() => b.broker.conns.some((c) => c.username === "admin"), "admin connected");
    const clients = await pageUntil(page, () => (window as unknown as { brokerStatus: { clients: { id: string }[] } }).brokerStatus.clients,
      (v) => v.length === 1, "the page's own client in the list");
    assert.match(clients[0].id, /^status-/);
  } finally {
    await page.close();
  }
});

test.run();
