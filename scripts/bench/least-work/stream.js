// The least a broker must do for the same-topic stream of `npm run bench:espruino`
// inside the Espruino interpreter, so the firmware's figure can be read against
// what is possible there, not only against relay.js (which forwards bytes as
// they come and may cut a packet). It forwards whole packets only: each packet's
// head (type, length, topic) is checked, a packet cut at the chunk's end waits
// for the next chunk, and the subscriber gets complete PUBLISHes. Nothing else:
// no statistics, keepalive, ACL, congestion or session, one subscriber, one
// packet shape (a packet of another shape closes the publisher), remaining
// lengths under 128 bytes. Listens on port 1884, as relay.js does; greet.js
// goes in front.
var net = require("net");
var sub = null, HEAD = "", SIZE = 0;
net.createServer(function (c) {
  var pend = "";
  c.on("data", function (d) {
    "ram";
    if (!c.greeted) d = greet(c, d, function (s) { sub = s; });
    if (c === sub || !sub || !d.length) return;
    if (SIZE === 0) {
      SIZE = 2 + d.charCodeAt(1);
      HEAD = d.substr(0, 4 + d.charCodeAt(3));
    }
    var at = 0, len = d.length;
    // the packet cut at the last chunk's end, completed by this one's start (no join of whole chunks)
    if (pend !== "") {
      at = SIZE - pend.length;
      if (at > len) { pend += d; return; }
      var whole = pend + d.substr(0, at);
      if (whole.substr(0, HEAD.length) !== HEAD) { c.close(); return; }
      sub.write(whole);
    }
    var end = at;
    while (d.substr(end, HEAD.length) === HEAD) end += SIZE;
    if (end > len) end -= SIZE;
    else if (end < len && HEAD.indexOf(d.substring(end)) !== 0) { c.close(); return; }
    if (end > at) sub.write(at === 0 && end === len ? d : d.substring(at, end));
    pend = end === len ? "" : d.substring(end);
  });
  c.on("close", function () { if (c === sub) sub = null; });
}).listen(1884);
print("relay listening on 1884");
