/**
 * TLS on the host listener: mosquitto.conf's certfile / keyfile / cafile /
 * require_certificate after a `listener` line, served with node:tls. The
 * certificates are made at test time (test/support/x509.ts, node:crypto
 * only); MQTT.js connects over mqtts and checks the server against the CA.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, listenerTls, loadConfig, loadProfile } from "../../host-sim/config";
import { RunningBroker, startBroker } from "../../host-sim/server";
import { connect, publish, subscribe, tracked, withTimeout } from "../support/e2e-helpers";
import { Cert, makeCert } from "../support/x509";

const test = suite("31 TLS");
let dir = "";
let ca: Cert;
let server: Cert;
let client: Cert;
let stranger: Cert;
const brokers: RunningBroker[] = [];

test.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "e2e-tls-"));
  ca = makeCert({ cn: "test CA", ca: true });
  server = makeCert({ cn: "localhost", issuer: ca, dns: ["localhost"], ips: ["127.0.0.1"] });
  client = makeCert({ cn: "sensor-1", issuer: ca });
  stranger = makeCert({ cn: "stranger" });
  for (const [n, c] of [["ca", ca], ["server", server], ["client", client]] as [string, Cert][]) {
    writeFileSync(path.join(dir, n + ".crt"), c.cert);
    writeFileSync(path.join(dir, n + ".key"), c.key);
  }
});
test.after.each(async () => {
  await tracked.closeAll();
  for (const b of brokers.splice(0)) await b.close();
});
test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function conf(text: string): string {
  const f = path.join(dir, "c" + Math.floor(Math.random() * 1e9) + ".conf");
  writeFileSync(f, text);
  return f;
}

/** Start from a config file; every listener on port 0 (its real port in ports[]). */
async function start(text: string): Promise<RunningBroker> {
  const config = loadConfig(conf(text), loadProfile("host"));
  for (const l of config.listeners) l.port = 0;
  const b = await startBroker(config);
  brokers.push(b);
  return b;
}

test("config: certfile/keyfile/cafile/require_certificate apply to the listener they follow", () => {
  const c = loadConfig(conf("listener 8883 127.0.0.1\ncertfile server.crt\nkeyfile server.key\ncafile ca.crt\nrequire_certificate true\nlistener 1883 127.0.0.1\n"), loadProfile("host"));
  assert.is(c.listeners.length, 2);
  const t = listenerTls(c.listeners[0])!;
  assert.equal([path.basename(t.certfile), path.basename(t.keyfile), path.basename(t.cafile!), t.requireCertificate], ["server.crt", "server.key", "ca.crt", true]);
  assert.is(listenerTls(c.listeners[1]), undefined, "the plain listener stays plain");
  const bad: [string, RegExp][] = [
    ["listener 8883\ncertfile server.crt\n", /both certfile and keyfile/],
    ["listener 8883\nkeyfile server.key\n", /both certfile and keyfile/],
    ["listener 8883\ncertfile server.crt\nkeyfile server.key\nrequire_certificate true\n", /needs a cafile/],
    ["listener 8883\ncafile ca.crt\n", /need certfile and keyfile/],
    ["listener 8883\ncertfile missing.crt\nkeyfile server.key\n", /cannot read certfile/],
  ];
  for (const [text, re] of bad) {
    try {
      loadConfig(conf(text), loadProfile("host"));
      assert.unreachable("accepted: " + text);
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match((e as Error).message, re);
      assert.match((e as Error).message, /\.conf:\d+: /, "FILE:LINE");
    }
  }
});

test("mqtts: MQTT.js checks the broker against the CA and carries a round trip; a plain listener beside it works too", async () => {
  const b = await start("allow_anonymous true\nlistener 8883 127.0.0.1\ncertfile server.crt\nkeyfile server.key\nlistener 1883 127.0.0.1\n");
  const [tlsPort, plainPort] = b.ports;
  const sub = await connect(tlsPort, { protocol: "mqtts", ca: ca.cert, clientId: "tls-sub", rejectUnauthorized: true });
  assert.equal(await subscribe(sub.client, { "tls/#": 1 }), [1]);
  const pub = await connect(plainPort, { clientId: "plain-pub" });
  await publish(pub.client, "tls/x", "over TLS", 1);
  const m = await sub.inbox.next();
  assert.equal([m.topic, m.payload], ["tls/x", "over TLS"]);
  // the broker's connection really is TLS
  const sock = (sub.client as unknown as { stream: tls.TLSSocket }).stream;
  assert.ok(sock instanceof tls.TLSSocket && sock.encrypted === true);
  assert.is(sock.getPeerCertificate().subject.CN, "localhost");
});

test("a client that does not trust the certificate, or speaks plain MQTT to the TLS port, gets nothing", async () => {
  const b = await start("allow_anonymous true\nlistener 8883 127.0.0.1\ncertfile server.crt\nkeyfile server.key\n");
  const port = b.ports[0];
  const err = await withTimeout(new Promise<Error>((resolve) => {
    const s = tls.connect({ port, host: "127.0.0.1", ca: stranger.cert }, () => resolve(new Error("handshake succeeded")));
    s.once("error", resolve);
  }), "the handshake to fail");
  assert.match(err.message, /self.signed|unable to verify|certificate/i);
  // plain MQTT CONNECT bytes on the TLS port: the broker never sees a client
  const raw = net.connect(port, "127.0.0.1");
  tracked.socket(raw);
  raw.on("error", () => {});
  raw.write(Buffer.from([0x10, 0x0c, 0, 4, 77, 81, 84, 84, 4, 2, 0, 60, 0, 0]));
  const closed = await withTimeout(new Promise<string>((resolve) => {
    let got = Buffer.alloc(0);
    raw.on("data", (d) => (got = Buffer.concat([got, d])));
    raw.once("close", () => resolve(got.length > 0 && got[0] === 0x20 ? "CONNACK" : "closed"));
  }), "the plain socket to close", 5000);
  assert.is(closed, "closed");
  assert.is(b.broker.clientCount, 0);
});

test("require_certificate: no client certificate or one from another CA is refused at the handshake; a CA-signed one gets in", async () => {
  const b = await start("allow_anonymous true\nlistener 8883 127.0.0.1\ncertfile server.crt\nkeyfile server.key\ncafile ca.crt\nrequire_certificate true\n");
  const port = b.ports[0];
  const handshake = (opts: tls.ConnectionOptions) => withTimeout(new Promise<string>((resolve) => {
    const s = tls.connect({ port, host: "127.0.0.1", ca: ca.cert, ...opts });
    tracked.socket(s);
    s.once("secureConnect", () => {
      // TLS 1.3: the server's verdict on our certificate arrives after the handshake
      s.write(Buffer.from([0x10, 0x0c, 0, 4, 77, 81, 84, 84, 4, 2, 0, 60, 0, 0]));
    });
    s.once("data", (d) => resolve(d[0] === 0x20 ? "CONNACK " + d[3] : "data"));
    s.once("error", (e) => resolve("error " + e.message));
    s.once("close", () => resolve("closed"));
  }), "a TLS verdict");
  assert.match(await handshake({}), /error|closed/);
  assert.match(await handshake({ cert: stranger.cert, key: stranger.key }), /error|closed/);
  assert.is(await handshake({ cert: client.cert, key: client.key }), "CONNACK 0");
  const ok = await connect(port, { protocol: "mqtts", ca: ca.cert, cert: client.cert, key: client.key, clientId: "with-cert" });
  assert.is(ok.connack.returnCode, 0);
});

test.run();
