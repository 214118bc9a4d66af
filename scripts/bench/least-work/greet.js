// What every least-work forwarder answers before it forwards anything, put
// in front of each by `npm run bench:espruino`: a client's CONNECT gets
// CONNACK 0, a SUBSCRIBE of one filter a SUBACK granting the QoS it asked.
// greet(c, d, onSubscribe) returns the bytes of `d` left for the forwarder
// ("" when the chunk was a SUBSCRIBE, after onSubscribe(c, filter) ran).
// Once c.greeted (a SUBSCRIBE answered, or a packet after CONNECT) a
// forwarder skips the call: the workloads' clients subscribe once.
function greet(c, d, onSubscribe) {
  if (!c.connected) {
    c.connected = true;
    c.write("\x20\x02\x00\x00");
    d = d.substr(2 + d.charCodeAt(1));
  }
  if (d.length && d.charCodeAt(0) === 0x82) {
    c.write("\x90\x03" + d.substr(2, 2) + d.substr(d.length - 1));
    onSubscribe(c, d.substr(6, d.charCodeAt(5)));
    c.greeted = true;
    return "";
  }
  if (d.length) c.greeted = true;
  return d;
}
