-- NodeMCU's net and wifi modules with no sockets and no real clock, and its
-- node, tmr and file modules from nodemcu_modules.lua (shared with the socket
-- shim, nodemcu_shim.lua), for a Lua VM driven from JavaScript (firmware/nodemcu/tools/lua-vm.ts
-- runs it inside the reference Lua 5.1 and 5.3 compiled to WebAssembly) or
-- from a Lua script (firmware/nodemcu/tools/memory.lua). The host moves bytes in and
-- out through the global `vm`, as hex strings (binary-safe across the
-- WebAssembly boundary), and moves the clock forward itself.
--
-- NodeMCU's quirks are kept: received data comes in chunks of at most 1460
-- bytes; conn:send while a send is in flight, or with an empty string, is an
-- error; a connection past the limit (5, as lwIP allows on the ESP8266) is
-- refused; a connection idle for the server's timeout is closed.

local vm = {
  clockUs = 0,
  maxConnections = 5,
  chunk = 1460,
  heapBytes = 40960,
  conns = {},
  order = {},
  nextId = 1,
  servers = {},
  files = {},
  refused = 0,
  printed = {},
  quiet = true,
}
_G.vm = vm

local function tohex(s)
  return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

local function fromhex(h)
  h = string.gsub(h, "[^0-9a-fA-F]", "")
  return (string.gsub(h, "..", function(x) return string.char(tonumber(x, 16)) end))
end
vm.tohex = tohex
vm.fromhex = fromhex

local realPrint = print
function print(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
  local line = table.concat(parts, "\t")
  vm.printed[#vm.printed + 1] = line
  if #vm.printed > 200 then table.remove(vm.printed, 1) end
  if not vm.quiet then realPrint(line) end
end

-- ---- node, tmr, file (nodemcu_modules.lua; the WebAssembly VMs load it first as NODEMCU_MODULES) ----
local install = rawget(_G, "NODEMCU_MODULES")
if install == nil then
  local here = string.match(debug.getinfo(1, "S").source, "^@(.*[/\\])") or ""
  install = dofile(here .. "nodemcu_modules.lua")
end
local M = install({
  nowUs = function() return vm.clockUs end,
  heap = function() return vm.heapBytes end,
  restart = function() error("node.restart() in the VM") end,
  store = {
    read = function(name) return vm.files[name] end,
    write = function(name, data) vm.files[name] = data end,
    remove = function(name) vm.files[name] = nil end,
    list = function()
      local t = {}
      for k, v in pairs(vm.files) do t[k] = #v end
      return t
    end,
  },
})
vm.runTasks = M.runTasks

-- ---- net ----
local Server = {}
Server.__index = Server
local Conn = M.connClass(function(c) return c.sending ~= nil end, function(c, data)
  c.sending = data
  c.sends = c.sends + 1
  if #data > c.maxSend then c.maxSend = #data end
end)
net = { TCP = 1, UDP = 2 }

function net.createServer(kind, timeout)
  return setmetatable({ timeout = timeout or 30 }, Server)
end
function Server:listen(port, ip, fn)
  if type(ip) == "function" then fn, ip = ip, nil end
  if type(fn) ~= "function" then error("listen: callback function expected") end
  if vm.servers[port] ~= nil then error("address in use") end
  self.port = port
  self.fn = fn
  vm.servers[port] = self
end
function Server:close()
  if self.port ~= nil and vm.servers[self.port] == self then vm.servers[self.port] = nil end
end
function Server:getaddr()
  return "0.0.0.0", self.port
end

local function openCount()
  local n = 0
  for _, c in pairs(vm.conns) do if c.open then n = n + 1 end end
  return n
end

function Conn:close()
  if self.open then
    self.open = false
    self.closedByBroker = true
  end
end
function Conn:getpeer()
  return "192.168.4." .. (self.id % 200 + 2), 50000 + self.id
end
function Conn:hold() end
function Conn:unhold() end

-- host side --

--- A client connects to `port`; returns its id, or -1 when refused (the connection limit).
function vm.connect(port)
  local srv = vm.servers[port or 1883]
  if srv == nil then return -2 end
  if openCount() >= vm.maxConnections then
    vm.refused = vm.refused + 1
    return -1
  end
  local id = vm.nextId
  vm.nextId = id + 1
  local c = setmetatable({
    id = id, cb = {}, open = true, closedByBroker = false, inbox = {}, sends = 0, maxSend = 0, held = false,
    lastActive = vm.clockUs, timeout = srv.timeout, server = srv,
  }, Conn)
  vm.conns[id] = c
  vm.order[#vm.order + 1] = c
  srv.fn(c)
  vm.runTasks()
  return id
end

--- Deliver what the peer sent (hex), in receive callbacks of at most vm.chunk bytes (`step` smaller).
function vm.write(id, hex, step)
  local c = vm.conns[id]
  if c == nil then error("no connection " .. tostring(id)) end
  local data = fromhex(hex)
  step = step or vm.chunk
  if step > vm.chunk then step = vm.chunk end
  local i = 1
  while i <= #data and c.open do
    local piece = string.sub(data, i, i + step - 1)
    i = i + #piece
    c.lastActive = vm.clockUs
    if c.cb.receive ~= nil then c.cb.receive(c, piece) end
    vm.runTasks()
  end
end

--- Complete every send in flight (each "sent" callback may start the next) until none is left.
function vm.settle()
  local progress = true
  local guard = 0
  while progress do
    progress = false
    for i = 1, #vm.order do
      local c = vm.order[i]
      if c.sending ~= nil and not c.held then
        local data = c.sending
        c.sending = nil
        c.inbox[#c.inbox + 1] = data
        progress = true
        if c.sentFn ~= nil then c.sentFn(c) end
        if c.open and c.cb.sent ~= nil then c.cb.sent(c) end
        vm.runTasks()
      end
    end
    guard = guard + 1
    if guard > 100000 then error("sends never settle") end
  end
end

--- A peer that stops reading: its send in flight never completes until released.
function vm.hold(id, on)
  local c = vm.conns[id]
  if c == nil then error("no connection " .. tostring(id)) end
  c.held = on
end

--- Counters of one connection: "sends maxSend open".
function vm.stats(id)
  local c = vm.conns[id]
  if c == nil then error("no connection " .. tostring(id)) end
  return c.sends .. " " .. c.maxSend .. " " .. tostring(c.open)
end

--- Everything sent to the peer since the last take (hex), and "open" or "closed" (by the broker).
function vm.take(id)
  vm.settle()
  local c = vm.conns[id]
  if c == nil then error("no connection " .. tostring(id)) end
  local s = table.concat(c.inbox)
  c.inbox = {}
  return tohex(s) .. "|" .. (c.open and "open" or "closed")
end

--- The peer closes (or resets) the connection.
function vm.drop(id)
  local c = vm.conns[id]
  if c == nil or not c.open then return end
  c.open = false
  c.sending = nil
  if c.cb.disconnection ~= nil then c.cb.disconnection(c) end
  vm.runTasks()
end

--- Move the clock forward, running timers (and idle-connection timeouts) on the way.
function vm.advance(ms)
  local target = vm.clockUs + ms * 1000
  while true do
    local nextT, due = M.earliest(target)
    if nextT == nil then break end
    vm.clockUs = due
    M.fire(nextT, due)
    vm.settle()
  end
  vm.clockUs = target
  for i = 1, #vm.order do
    local c = vm.order[i]
    if c.open and c.timeout > 0 and vm.clockUs - c.lastActive >= c.timeout * 1000000 then
      c.open = false
      c.closedByBroker = true
      if c.cb.disconnection ~= nil then c.cb.disconnection(c) end
      vm.runTasks()
    end
  end
end

--- Forget every connection, timer and task (between cases; the broker is stopped first).
function vm.reset()
  M.resetTimers()
  vm.conns = {}
  vm.order = {}
  vm.servers = {}
  vm.refused = 0
end

-- ---- wifi (ESP8266 flavour: the broker only configures it) ----
wifi = {
  NULLMODE = 0, STATION = 1, SOFTAP = 2, STATIONAP = 3, OPEN = 0, WPA2_PSK = 3,
  eventmon = { STA_CONNECTED = 0, STA_DISCONNECTED = 1, STA_GOT_IP = 3, register = function(ev, fn) vm.wifiHandlers = vm.wifiHandlers or {}; vm.wifiHandlers[ev] = fn end },
  sta = {
    config = function(t) vm.wifiConfig = t; return true end,
    sethostname = function(h) vm.hostname = h; return true end,
    getip = function() return "192.168.4.1", "255.255.255.0", "192.168.4.1" end,
  },
  ap = {
    config = function(t) vm.apConfig = t; return true end,
    getip = function() return "192.168.4.1", "255.255.255.0", "192.168.4.1" end,
  },
}
function wifi.setmode(m) vm.wifiMode = m; return m end
function wifi.getmode() return vm.wifiMode or wifi.STATION end

return vm
