-- NodeMCU's net and wifi modules on luasocket (Debian's lua-socket), its
-- node, tmr and file modules from nodemcu_modules.lua (shared with
-- nodemcu_vm.lua), and crypto.hash("sha256") in plain Lua, so the NodeMCU broker
-- runs on the desktop under lua5.1, lua5.3 or luajit: `npm run sim:lua`
-- starts it (firmware/nodemcu/tools/sim.ts). The current
-- directory plays the flash file system: the shim runs init.lua from it as a
-- board does at boot, and `file` reads and writes there.
--
-- NodeMCU's quirks are reproduced, so the adapter meets them here first:
-- - received data comes in chunks of at most 1460 bytes (one TCP segment);
-- - conn:send while a send is in flight is an error (wait for "sent"), and
--   so is an empty send;
-- - past the connection limit (5: lwIP's TCP connections on the ESP8266) a
--   new connection is refused: closed at once, the listen callback never
--   called, and a line on stderr says so;
-- - a connection idle for the server's timeout (net.createServer(type,
--   seconds)) is closed and reported with "disconnection";
-- - tmr.now() counts microseconds modulo 2^31, as on the ESP8266.
--
-- Usage (in the folder that plays the flash):
--   lua5.1 nodemcu_shim.lua [--max-conn N] [--bind ADDR] [--heap BYTES]
--                           [--boot-delay MS] [--run FILE]
-- --run FILE runs FILE instead of init.lua. An error in a callback ends the
-- process with its traceback (a board would reboot).

local socket = require("socket")

local opts = { maxConn = 5, bind = "127.0.0.1", heap = 67108864, bootDelay = 1, run = "init.lua" }
if not rawget(_G, "NODEMCU_SHIM_MODULES_ONLY") then
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == "--max-conn" then opts.maxConn = tonumber(v); i = i + 1
    elseif a == "--bind" then opts.bind = v; i = i + 1
    elseif a == "--heap" then opts.heap = tonumber(v); i = i + 1
    elseif a == "--boot-delay" then opts.bootDelay = tonumber(v); i = i + 1
    elseif a == "--run" then opts.run = v; i = i + 1
    else io.stderr:write("nodemcu-shim: unknown option " .. tostring(a) .. "\n"); os.exit(2) end
    i = i + 1
  end
end

local CHUNK = 1460
local T0 = socket.gettime()
local function nowUs()
  return math.floor((socket.gettime() - T0) * 1000000)
end

local function shimLog(line)
  io.stderr:write("nodemcu-shim: " .. line .. "\n")
  io.stderr:flush()
end

local realPrint = print
function print(...)
  realPrint(...)
  io.stdout:flush()
end

-- ---- node, tmr, file (nodemcu_modules.lua, shared with nodemcu_vm.lua) ----
local here = string.match(debug.getinfo(1, "S").source, "^@(.*[/\\])") or ""
--- The flash: files in the current directory, each read and written whole.
local store = {
  read = function(name)
    local f = io.open(name, "rb")
    if f == nil then return nil end
    local data = f:read("*a")
    f:close()
    return data
  end,
  write = function(name, data)
    local f = assert(io.open(name, "wb"))
    f:write(data)
    f:close()
  end,
  remove = function(name) os.remove(name) end,
  list = function()
    local t = {}
    local p = io.popen("ls -1A")
    for n in p:lines() do
      local f = io.open(n, "rb")
      if f ~= nil then
        t[n] = f:seek("end")
        f:close()
      end
    end
    p:close()
    return t
  end,
}
local M = dofile(here .. "nodemcu_modules.lua")({
  nowUs = nowUs,
  heap = function()
    local free = opts.heap - math.floor(collectgarbage("count") * 1024)
    if free < 0 then return 0 end
    return free
  end,
  restart = function()
    print("nodemcu-shim: node.restart()")
    os.exit(0)
  end,
  compile = function(name)
    local fn = assert(loadfile(name))
    local out = assert(io.open((string.gsub(name, "%.lua$", "")) .. ".lc", "wb"))
    out:write(string.dump(fn))
    out:close()
  end,
  store = store,
})
local runTasks = M.runTasks

local function fireTimers()
  local now = nowUs()
  while true do
    local t = M.earliest(now)
    if t == nil then return end
    M.fire(t, now)
  end
end

-- ---- net ----
local servers = {}
local conns = {}
local Server = {}
Server.__index = Server
local Conn = M.connClass(function(c) return c.out ~= nil end, function(c, data)
  c.out = data
  c.outPos = 1
end)
net = { TCP = 1, UDP = 2 }

function net.createServer(kind, timeout)
  if kind ~= nil and kind ~= net.TCP then error("net.createServer: only TCP in the shim") end
  return setmetatable({ timeout = timeout or 30 }, Server)
end

function Server:listen(port, ip, fn)
  if type(ip) == "function" then fn, ip = ip, nil end
  if type(fn) ~= "function" then error("listen: callback function expected") end
  local sock, err = socket.bind(opts.bind, port or 0)
  if sock == nil then error("listen: " .. tostring(err)) end
  sock:settimeout(0)
  self.sock = sock
  self.fn = fn
  servers[#servers + 1] = self
  local addr, p = sock:getsockname()
  shimLog("listening on " .. addr .. ":" .. p)
end

function Server:close()
  for i = #servers, 1, -1 do
    if servers[i] == self then table.remove(servers, i) end
  end
  if self.sock ~= nil then self.sock:close() end
end

function Server:getaddr()
  if self.sock == nil then return nil end
  local addr, p = self.sock:getsockname()
  return addr, tonumber(p)
end

local function removeConn(c)
  for i = #conns, 1, -1 do
    if conns[i] == c then table.remove(conns, i) end
  end
end



function Conn:close()
  if not self.open then return end
  self.open = false
  self.sock:close()
  removeConn(self)
end

function Conn:getpeer()
  return self.peer, self.peerPort
end
function Conn:hold() self.held = true end
function Conn:unhold() self.held = false end

local function disconnect(c)
  if not c.open then return end
  c.open = false
  c.sock:close()
  removeConn(c)
  if c.cb.disconnection ~= nil then c.cb.disconnection(c) end
  runTasks()
end

local function acceptAll(srv)
  while true do
    local s = srv.sock:accept()
    if s == nil then return end
    local open = 0
    for _, c in ipairs(conns) do if c.open then open = open + 1 end end
    if open >= opts.maxConn then
      s:close()
      shimLog("connection refused: the limit of " .. opts.maxConn .. " connections is reached")
    else
      s:settimeout(0)
      s:setoption("tcp-nodelay", true)
      local ip, port = s:getpeername()
      local c = setmetatable({ sock = s, cb = {}, open = true, peer = ip, peerPort = tonumber(port),
        lastActive = nowUs(), timeout = srv.timeout }, Conn)
      conns[#conns + 1] = c
      srv.fn(c)
      runTasks()
    end
  end
end

local function receiveOnce(c)
  local data, err, partial = c.sock:receive(CHUNK)
  local chunk = data or partial
  if chunk ~= nil and #chunk > 0 then
    c.lastActive = nowUs()
    if c.cb.receive ~= nil and not c.held then c.cb.receive(c, chunk) end
    runTasks()
  end
  if err == "closed" then disconnect(c) end
end

--- Write what is in flight; a finished send reports "sent". Returns true when something is still unsent.
local function flushSends()
  local pending = false
  local list = {}
  for i, c in ipairs(conns) do list[i] = c end
  for _, c in ipairs(list) do
    if c.open and c.out ~= nil then
      local last, err, partialLast = c.sock:send(c.out, c.outPos)
      if last ~= nil then
        c.out = nil
        local fn = c.sentFn
        c.sentFn = nil
        if fn ~= nil then fn(c) end
        if c.open and c.cb.sent ~= nil then c.cb.sent(c) end
        runTasks()
      elseif err == "timeout" then
        c.outPos = partialLast + 1
        pending = true
      else
        disconnect(c)
      end
    end
  end
  for _, c in ipairs(conns) do if c.out ~= nil then pending = true end end
  return pending
end

local function expireIdle()
  local now = nowUs()
  local list = {}
  for i, c in ipairs(conns) do list[i] = c end
  for _, c in ipairs(list) do
    if c.open and c.timeout > 0 and now - c.lastActive >= c.timeout * 1000000 then
      shimLog("connection idle for " .. c.timeout .. " s: closed")
      disconnect(c)
    end
  end
end

-- ---- wifi (ESP8266 flavour; "connects" at once to the loopback network) ----
local wifiHandlers = {}
wifi = {
  NULLMODE = 0, STATION = 1, SOFTAP = 2, STATIONAP = 3, OPEN = 0, WPA_PSK = 2, WPA2_PSK = 3,
  eventmon = {
    STA_CONNECTED = 0, STA_DISCONNECTED = 1, STA_AUTHMODE_CHANGE = 2, STA_GOT_IP = 3,
    register = function(ev, fn) wifiHandlers[ev] = fn end,
    unregister = function(ev) wifiHandlers[ev] = nil end,
  },
  sta = {},
  ap = {},
}
local wifiMode = wifi.STATION
function wifi.setmode(m) wifiMode = m; return m end
function wifi.getmode() return wifiMode end
function wifi.sta.config(t)
  if type(t) ~= "table" or type(t.ssid) ~= "string" then error("wifi.sta.config: table with ssid expected") end
  tmr.create():alarm(10, tmr.ALARM_SINGLE, function()
    local h = wifiHandlers[wifi.eventmon.STA_GOT_IP]
    if h ~= nil then h({ IP = "127.0.0.1", netmask = "255.0.0.0", gateway = "127.0.0.1" }) end
  end)
  return true
end
function wifi.sta.sethostname(h) return type(h) == "string" end
function wifi.sta.getip() return "127.0.0.1", "255.0.0.0", "127.0.0.1" end
function wifi.ap.config(t)
  if type(t) ~= "table" or type(t.ssid) ~= "string" then error("wifi.ap.config: table with ssid expected") end
  return true
end
function wifi.ap.getip() return "127.0.0.1", "255.0.0.0", "127.0.0.1" end

-- ---- crypto: hash("sha256", s) only, in plain arithmetic (no bit library on 5.1) ----
local AND, XOR = {}, {}
for a = 0, 15 do
  for b = 0, 15 do
    local x, y, r1, r2, bit = a, b, 0, 0, 1
    for _ = 1, 4 do
      local p, q = x % 2, y % 2
      if p == 1 and q == 1 then r1 = r1 + bit end
      if p ~= q then r2 = r2 + bit end
      x, y, bit = (x - p) / 2, (y - q) / 2, bit * 2
    end
    AND[a * 16 + b], XOR[a * 16 + b] = r1, r2
  end
end
local function nibbles(t, a, b)
  local r, m = 0, 1
  for _ = 1, 8 do
    local x, y = a % 16, b % 16
    r = r + t[x * 16 + y] * m
    a, b, m = (a - x) / 16, (b - y) / 16, m * 16
  end
  return r
end
local W32 = 4294967296
local function band(a, b) return nibbles(AND, a, b) end
local function bxor(a, b) return nibbles(XOR, a, b) end
local function bnot(a) return W32 - 1 - a end
local function rrot(x, n)
  local p = 2 ^ n
  local lo = x % p
  return lo * (W32 / p) + (x - lo) / p
end
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local function sha256(msg)
  local len = #msg
  local bits = len * 8
  msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64)
  local tail = ""
  for i = 7, 0, -1 do tail = tail .. string.char(math.floor(bits / 2 ^ (i * 8)) % 256) end
  msg = msg .. tail
  local h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  for chunk = 1, #msg, 64 do
    local w = {}
    for i = 0, 15 do
      local a, b, c, d = string.byte(msg, chunk + i * 4, chunk + i * 4 + 3)
      w[i] = ((a * 256 + b) * 256 + c) * 256 + d
    end
    for i = 16, 63 do
      local s0 = bxor(bxor(rrot(w[i - 15], 7), rrot(w[i - 15], 18)), math.floor(w[i - 15] / 8))
      local s1 = bxor(bxor(rrot(w[i - 2], 17), rrot(w[i - 2], 19)), math.floor(w[i - 2] / 1024))
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) % W32
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local S1 = bxor(bxor(rrot(e, 6), rrot(e, 11)), rrot(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = (hh + S1 + ch + K[i + 1] + w[i]) % W32
      local S0 = bxor(bxor(rrot(a, 2), rrot(a, 13)), rrot(a, 22))
      local maj = bxor(bxor(band(a, b), band(a, c)), band(b, c))
      local t2 = (S0 + maj) % W32
      hh, g, f, e, d, c, b, a = g, f, e, (d + t1) % W32, c, b, a, (t1 + t2) % W32
    end
    h[1], h[2], h[3], h[4] = (h[1] + a) % W32, (h[2] + b) % W32, (h[3] + c) % W32, (h[4] + d) % W32
    h[5], h[6], h[7], h[8] = (h[5] + e) % W32, (h[6] + f) % W32, (h[7] + g) % W32, (h[8] + hh) % W32
  end
  local out = {}
  for i = 1, 8 do
    local v = h[i]
    for k = 3, 0, -1 do out[#out + 1] = string.char(math.floor(v / 2 ^ (k * 8)) % 256) end
  end
  return table.concat(out)
end
crypto = {
  hash = function(algo, data)
    if algo ~= "sha256" then error("crypto.hash: only sha256 in the shim") end
    return sha256(data)
  end,
  toHex = function(s)
    return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
  end,
}

-- ---- the board boots (unless a console only wants the modules) ----
if rawget(_G, "NODEMCU_SHIM_MODULES_ONLY") then return end
MQTT_BOOT_DELAY = opts.bootDelay

local function mainLoop()
  dofile(opts.run)
  while true do
    runTasks()
    fireTimers()
    local pending = flushSends()
    expireIdle()
    local rd = {}
    for _, s in ipairs(servers) do rd[#rd + 1] = s.sock end
    local dirty = false
    for _, c in ipairs(conns) do
      rd[#rd + 1] = c.sock
      if c.sock:dirty() then dirty = true end
    end
    local wr = {}
    if pending then
      for _, c in ipairs(conns) do if c.out ~= nil then wr[#wr + 1] = c.sock end end
    end
    local timeout = 0.5
    local nt = M.nextDue()
    if nt ~= nil then
      local d = (nt - nowUs()) / 1000000
      if d < timeout then timeout = d end
    end
    if timeout < 0 or dirty or #M.tasks > 0 then timeout = 0 end
    local r = socket.select(rd, wr, timeout)
    for _, s in ipairs(servers) do
      if r[s.sock] then acceptAll(s) end
    end
    local list = {}
    for i, c in ipairs(conns) do list[i] = c end
    for _, c in ipairs(list) do
      if c.open and (r[c.sock] or c.sock:dirty()) then receiveOnce(c) end
    end
  end
end

local ok, err = xpcall(mainLoop, debug.traceback)
if not ok then
  io.stderr:write("nodemcu-shim: error (a board would reboot here): " .. tostring(err) .. "\n")
  os.exit(1)
end
