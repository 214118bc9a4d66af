// The least a broker must do for the house of `npm run bench:espruino` (QoS 0 from
// four publishers on eight topics, payload lengths varying, one subscriber on `#`
// and one on a single topic) inside the Espruino interpreter, so the firmware's
// figure can be read against what is possible there. Each packet is framed, its
// topic looked up in a table of receivers worked out once per topic (`#` or the
// exact topic), runs of packets with the same receivers go out in one write per
// receiver, whole packets only. Nothing else: no statistics, keepalive, ACL,
// congestion, retained messages or sessions; filters are `#` or exact; remaining
// lengths under 128 bytes. Listens on port 1884, as relay.js does; greet.js
// goes in front.
var net = require("net");
var subs = [], routes = {};
function receivers(key) {
  var topic = key.substr(2), to = [];
  for (var i = 0; i < subs.length; i++) if (subs[i].filter === "#" || subs[i].filter === topic) to.push(subs[i].sock);
  return to;
}
function writeRun(to, s) {
  for (var k = 0; k < to.length; k++) to[k].write(s);
}
function subscribed(c, filter) {
  subs.push({ sock: c, filter: filter });
  routes = {};
}
net.createServer(function (c) {
  var pend = "";
  c.on("data", function (d) {
    "ram";
    if (!c.greeted) d = greet(c, d, subscribed);
    if (!d.length) return;
    if (pend !== "") d = pend + d;
    var o = 0, len = d.length, runAt = 0, runTo = null;
    while (o + 2 <= len) {
      var end = o + 2 + d.charCodeAt(o + 1);
      if (end > len) break;
      var key = d.substr(o + 2, 2 + d.charCodeAt(o + 3));
      var to = routes[key];
      if (to === undefined) to = routes[key] = receivers(key);
      if (to !== runTo) {
        if (runTo !== null && o > runAt) writeRun(runTo, d.substring(runAt, o));
        runAt = o;
        runTo = to;
      }
      o = end;
    }
    if (runTo !== null && o > runAt) writeRun(runTo, d.substring(runAt, o));
    pend = o === len ? "" : d.substring(o);
  });
  c.on("close", function () {
    for (var i = 0; i < subs.length; i++) if (subs[i].sock === c) { subs.splice(i, 1); routes = {}; return; }
  });
}).listen(1884);
print("relay listening on 1884");
