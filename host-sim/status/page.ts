/**
 * The status page a websockets listener serves at `/` (ws.ts): one
 * self-contained HTML file, no network but the broker itself. Its script
 * holds a small MQTT 3.1.1 client over WebSockets (CONNECT, SUBSCRIBE,
 * PUBLISH at QoS 0, PINGREQ) that subscribes to `$SYS/#` as any client
 * would, so the ACL decides who sees it; when the broker refuses an
 * anonymous client (or the ACL refuses $SYS/#) the page asks for a user name
 * and password. Kept in a .ts file so it goes into dist/cli.js with the
 * rest; written without backticks and dollar-braces, being a template string.
 */
export const STATUS_PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>esp-mqtt-broker status</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
#state { color: #666; margin-bottom: 1em; }
#state.ok { color: #2a7a2a; } #state.bad { color: #b22; }
.cards { display: flex; flex-wrap: wrap; gap: .6em; margin-bottom: 1em; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .5em .8em; min-width: 8em; }
.card b { display: block; font-size: 1.4em; }
.card span { color: #666; font-size: .85em; }
table { border-collapse: collapse; background: #fff; margin-bottom: 1em; min-width: 30em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td code { font-size: .9em; }
canvas { background: #fff; border: 1px solid #ddd; border-radius: 6px; display: block; margin-bottom: .3em; }
.legend { font-size: .85em; color: #555; margin-bottom: 1em; }
.in { color: #1f6fd1; } .out { color: #e07b00; }
form { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1em; max-width: 22em; margin-bottom: 1em; }
form label { display: block; margin: .3em 0; } form input { width: 100%; box-sizing: border-box; }
.hidden { display: none; }
</style>
</head>
<body>
<h1>esp-mqtt-broker <span id="version"></span></h1>
<div id="state">connecting...</div>
<form id="login" class="hidden">
  <div id="loginWhy">This broker needs a user name and password to read $SYS/#.</div>
  <label>User name <input id="user" autocomplete="username"></label>
  <label>Password <input id="pass" type="password" autocomplete="current-password"></label>
  <button type="submit">Connect</button>
</form>
<div id="main">
<div class="cards">
  <div class="card"><b id="c-clients">-</b><span>clients connected</span></div>
  <div class="card"><b id="c-in">-</b><span>messages in /s</span></div>
  <div class="card"><b id="c-out">-</b><span>messages out /s</span></div>
  <div class="card"><b id="c-retained">-</b><span>retained messages</span></div>
  <div class="card"><b id="c-subs">-</b><span>subscriptions</span></div>
  <div class="card"><b id="c-heap">-</b><span id="c-heap-unit">memory</span></div>
  <div class="card"><b id="c-uptime">-</b><span>uptime</span></div>
</div>
<canvas id="chart" width="640" height="160"></canvas>
<div class="legend"><span class="in">&#9632; in</span> <span class="out">&#9632; out</span>
  messages per second, <span id="span">the last minutes</span> (peak <span id="peak">0</span>/s)</div>
<h2>Clients</h2>
<table id="clients"><thead><tr><th>client id</th><th>address</th><th>subscriptions</th></tr></thead><tbody></tbody></table>
<h2>Bridges</h2>
<table id="bridges"><thead><tr><th>connection</th><th>state</th><th>other</th></tr></thead><tbody></tbody></table>
</div>
<script>
"use strict";
var MAX_POINTS = 120;
var S = window.brokerStatus = {
  connected: false, sys: {}, clients: [], points: [], bridges: {}, updates: 0
};
var el = function (id) { return document.getElementById(id); };

function utf8(s) { return new TextEncoder().encode(s); }
function str(bytes) { return new TextDecoder().decode(bytes); }
function lengthBytes(n) {
  var out = [];
  do { var d = n % 128; n = Math.floor(n / 128); if (n > 0) d += 128; out.push(d); } while (n > 0);
  return out;
}
function field(bytes) { return [Math.floor(bytes.length / 256), bytes.length % 256].concat(Array.from(bytes)); }
function packet(first, body) { return new Uint8Array([first].concat(lengthBytes(body.length), body)); }

/** A small MQTT 3.1.1 client over a WebSocket: QoS 0 only, which is all this page needs. */
function MqttClient(url, opts, on) {
  var ws = new WebSocket(url, ["mqtt"]);
  var buf = new Uint8Array(0);
  var ping;
  ws.binaryType = "arraybuffer";
  ws.onopen = function () {
    var flags = 2; // clean session
    var payload = field(utf8(opts.clientId));
    if (opts.username) { flags += 128; payload = payload.concat(field(utf8(opts.username))); }
    if (opts.password) { flags += 64; payload = payload.concat(field(utf8(opts.password))); }
    var keepalive = 30;
    var head = field(utf8("MQTT")).concat([4, flags, 0, keepalive]);
    ws.send(packet(16, head.concat(payload)));
    ping = setInterval(function () { if (ws.readyState === 1) ws.send(new Uint8Array([192, 0])); }, keepalive * 500);
  };
  ws.onmessage = function (ev) {
    var more = new Uint8Array(ev.data);
    var joined = new Uint8Array(buf.length + more.length);
    joined.set(buf, 0); joined.set(more, buf.length);
    buf = joined;
    for (;;) {
      if (buf.length < 2) return;
      var len = 0, mul = 1, i = 1, d;
      do {
        if (i >= buf.length) return;
        d = buf[i++]; len += (d % 128) * mul; mul *= 128;
      } while (d >= 128);
      if (buf.length < i + len) return;
      var first = buf[0], body = buf.subarray(i, i + len);
      buf = buf.slice(i + len);
      var type = Math.floor(first / 16);
      if (type === 2) on.connack(body[1]);
      else if (type === 9) on.suback(Array.from(body.subarray(2)));
      else if (type === 3) {
        var tl = body[0] * 256 + body[1];
        var qos = Math.floor(first / 2) % 4;
        var at = 2 + tl + (qos > 0 ? 2 : 0);
        on.message(str(body.subarray(2, 2 + tl)), str(body.subarray(at)));
      }
    }
  };
  ws.onclose = function () { clearInterval(ping); on.close(); };
  ws.onerror = function () {};
  this.subscribe = function (filter) {
    ws.send(packet(130, [0, 1].concat(field(utf8(filter)), [0])));
  };
  this.end = function () { try { ws.send(new Uint8Array([224, 0])); } catch (e) {} ws.close(); };
}

function setState(text, cls) { var s = el("state"); s.textContent = text; s.className = cls || ""; }
function showLogin(why) {
  el("loginWhy").textContent = why;
  el("login").className = "";
}

var client, creds = {}, refused = false, retry;
function start() {
  clearTimeout(retry);
  refused = false;
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/mqtt";
  var id = "status-" + Math.floor(Math.random() * 1e9).toString(36);
  setState("connecting to " + url + " ...");
  client = new MqttClient(url, { clientId: id, username: creds.user, password: creds.pass }, {
    connack: function (rc) {
      if (rc !== 0) {
        refused = true;
        setState("refused: " + (rc === 4 ? "bad user name or password" : rc === 5 ? "not authorized" : "CONNACK " + rc), "bad");
        showLogin(creds.user ? "Refused: try another user name or password." :
          "This broker needs a user name and password to read $SYS/#.");
        client.end();
        return;
      }
      client.subscribe("$SYS/#");
    },
    suback: function (codes) {
      if (codes[0] === 128) {
        refused = true;
        setState("the ACL does not let " + (creds.user ? '"' + creds.user + '"' : "anonymous clients") + " read $SYS/#", "bad");
        showLogin("Log in as a user the ACL lets read $SYS/#.");
        client.end();
        return;
      }
      S.connected = true;
      el("login").className = "hidden";
      setState("live: subscribed to $SYS/#" + (creds.user ? " as " + creds.user : ""), "ok");
    },
    message: onSys,
    close: function () {
      S.connected = false;
      if (refused) return;
      setState("disconnected; retrying in 3 s", "bad");
      retry = setTimeout(start, 3000);
    }
  });
}

el("login").addEventListener("submit", function (ev) {
  ev.preventDefault();
  creds = { user: el("user").value, pass: el("pass").value };
  if (client) { refused = true; client.end(); }
  start();
});

var last; // the previous counters, for the rates
function onSys(topic, value) {
  var sys = S.sys;
  sys[topic] = value;
  var name = topic.substring("$SYS/broker/".length);
  if (name === "clients/list") { showClients(value); return; }
  var m = /^connection\/([^\/]+)\/(.+)$/.exec(name);
  if (m) {
    var b = S.bridges[m[1]] || (S.bridges[m[1]] = {});
    b[m[2]] = value;
    showBridges();
    return;
  }
  if (name === "version") el("version").textContent = value.replace(/^esp-mqtt-broker ?/, "");
  else if (name === "clients/connected") el("c-clients").textContent = value;
  else if (name === "retained messages/count") el("c-retained").textContent = value;
  else if (name === "subscriptions/count") el("c-subs").textContent = value;
  else if (name === "uptime") el("c-uptime").textContent = value.replace(" seconds", " s");
  else if (name === "heap/current") {
    var n = Number(value);
    el("c-heap").textContent = n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : n >= 100000 ? Math.round(n / 1024) + " KB" : value;
    el("c-heap-unit").textContent = n >= 100000 ? "memory (heap)" : "memory (JsVars on a board)";
  }
  else if (name === "messages/sent") addPoint();
}

/** messages/sent is the last counter of each round of the tree: one chart point per round. */
function addPoint() {
  var sys = S.sys, now = Date.now();
  var rx = Number(sys["$SYS/broker/messages/received"]), tx = Number(sys["$SYS/broker/messages/sent"]);
  S.updates++;
  if (last && now > last.t) {
    var dt = (now - last.t) / 1000;
    var p = { t: now, rx: Math.max(0, (rx - last.rx) / dt), tx: Math.max(0, (tx - last.tx) / dt) };
    S.points.push(p);
    if (S.points.length > MAX_POINTS) S.points.shift();
    el("c-in").textContent = p.rx.toFixed(1);
    el("c-out").textContent = p.tx.toFixed(1);
    draw();
  }
  last = { t: now, rx: rx, tx: tx };
}

function draw() {
  var c = el("chart"), g = c.getContext("2d"), pts = S.points;
  var w = c.width, h = c.height, peak = 1;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#eee"; g.lineWidth = 1;
  for (var y = 0; y <= 4; y++) { g.beginPath(); g.moveTo(0, 5 + y * (h - 10) / 4); g.lineTo(w, 5 + y * (h - 10) / 4); g.stroke(); }
  pts.forEach(function (p) { peak = Math.max(peak, p.rx, p.tx); });
  el("peak").textContent = peak.toFixed(1);
  if (pts.length > 1) {
    var minutes = (pts[pts.length - 1].t - pts[0].t) / 60000;
    el("span").textContent = minutes < 1 ? "the last " + Math.round(minutes * 60) + " s" : "the last " + minutes.toFixed(1) + " min";
  }
  var slots = Math.max(pts.length, 30);
  [["rx", "#1f6fd1"], ["tx", "#e07b00"]].forEach(function (line) {
    g.strokeStyle = line[1]; g.lineWidth = 2; g.beginPath();
    pts.forEach(function (p, i) {
      // right-aligned, one slot per point: a new chart fills from the right as points come
      var x = w - 2 - (pts.length - 1 - i) * (w - 4) / (slots - 1);
      var yy = h - 5 - (p[line[0]] / peak) * (h - 10);
      if (i === 0) g.moveTo(x, yy); else g.lineTo(x, yy);
    });
    g.stroke();
  });
}

function cell(row, text, code) {
  var td = document.createElement("td");
  if (code) { var c = document.createElement("code"); c.textContent = text; td.appendChild(c); } else td.textContent = text;
  row.appendChild(td);
}

function showClients(text) {
  var rows = text === "" ? [] : text.split("\n");
  S.clients = [];
  var body = el("clients").tBodies[0];
  body.textContent = "";
  rows.forEach(function (line) {
    var f = line.split("\t");
    var tr = document.createElement("tr");
    if (f.length === 1) { cell(tr, f[0]); cell(tr, ""); cell(tr, ""); }
    else {
      S.clients.push({ id: f[0], address: f[1], subscriptions: f.slice(2) });
      cell(tr, f[0], true); cell(tr, f[1]); cell(tr, f.slice(2).join("  "), true);
    }
    body.appendChild(tr);
  });
}

function showBridges() {
  var body = el("bridges").tBodies[0];
  body.textContent = "";
  Object.keys(S.bridges).forEach(function (name) {
    var b = S.bridges[name], tr = document.createElement("tr");
    cell(tr, name);
    cell(tr, b.state === "1" ? "connected" : b.state === "0" ? "disconnected" : (b.state || "?"));
    cell(tr, Object.keys(b).filter(function (k) { return k !== "state"; }).map(function (k) { return k + ": " + b[k]; }).join(", "));
    body.appendChild(tr);
  });
  if (Object.keys(S.bridges).length === 0) {
    var tr = document.createElement("tr"); cell(tr, "none"); cell(tr, ""); cell(tr, ""); body.appendChild(tr);
  }
}
showBridges();
draw();
start();
</script>
</body>
</html>
`;
