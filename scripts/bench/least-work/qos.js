// The least a broker must do for the QoS 1 and QoS 2 workloads of `npm run
// bench:espruino` (1 -> 1, one topic, the subscriber granted what it asks, at
// most 4 messages unfinished) inside the Espruino interpreter, so the firmware's
// figure can be read against what is possible there. The publisher's packets are
// framed; each PUBLISH is answered (PUBACK, or PUBREC and later PUBCOMP to its
// PUBREL, its id kept until then so a resent one is not delivered twice) and
// forwarded with a packet id of the subscriber's, kept until the subscriber's
// PUBACK or PUBCOMP (PUBREL sent on its PUBREC). Nothing else: no statistics,
// keepalive, ACL, stored copies, retries, queue or window of its own, no topic
// matching (one subscriber gets everything); remaining lengths under 128 bytes.
// Listens on port 1884, as relay.js does; greet.js goes in front.
var net = require("net");
var sub = null, nextId = 0, inflight = [], incoming = [];
net.createServer(function (c) {
  var pend = "";
  c.on("data", function (d) {
    "ram";
    if (!c.greeted) d = greet(c, d, function (s) { sub = s; });
    var isSub = c === sub;
    if (!d.length || (!isSub && !sub)) return;
    if (pend !== "") d = pend + d;
    var o = 0, len = d.length, acks = "", out = "";
    while (o + 2 <= len) {
      var end = o + 2 + d.charCodeAt(o + 1);
      if (end > len) break;
      var type = d.charCodeAt(o);
      if (isSub) {
        // the subscriber's PUBACK or PUBCOMP ends a message; its PUBREC is answered with PUBREL
        if (type === 0x50) acks += "\x62\x02" + d.substr(o + 2, 2);
        else if (type === 0x40 || type === 0x70) {
          var done = inflight.indexOf(d.charCodeAt(o + 2) * 256 + d.charCodeAt(o + 3));
          if (done >= 0) inflight.splice(done, 1);
        }
      } else if (type === 0x32 || type === 0x34) {
        var p = o + 4 + d.charCodeAt(o + 3), id = d.substr(p, 2);
        if (type === 0x32) acks += "\x40\x02" + id;
        else acks += "\x50\x02" + id;
        // a QoS 2 id already held is a resend: answered, not delivered again
        if (type === 0x32 || incoming.indexOf(id) < 0) {
          if (type === 0x34) incoming.push(id);
          nextId = nextId === 65535 ? 1 : nextId + 1;
          inflight.push(nextId);
          out += d.substring(o, p) + String.fromCharCode(nextId >> 8, nextId & 255) + d.substring(p + 2, end);
        }
      } else if (type === 0x62) {
        var rel = d.substr(o + 2, 2), held = incoming.indexOf(rel);
        if (held >= 0) incoming.splice(held, 1);
        acks += "\x70\x02" + rel;
      }
      o = end;
    }
    pend = o === len ? "" : d.substring(o);
    if (acks !== "") c.write(acks);
    if (out !== "") sub.write(out);
  });
  c.on("close", function () { if (c === sub) sub = null; });
}).listen(1884);
print("relay listening on 1884");
