-- NodeMCU's net, tmr, node, file and wifi modules with no sockets and no
-- real clock, for a Lua VM driven from JavaScript (firmware/nodemcu/tools/lua-vm.ts
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
  tasks = {},
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

-- ---- node ----
node = {}
function node.heap()
  return vm.heapBytes
end
function node.chipid() return 8266 end
function node.restart() error("node.restart() in the VM") end
node.egc = { setmode = function() end }
node.task = {
  LOW_PRIORITY = 0, MEDIUM_PRIORITY = 1, HIGH_PRIORITY = 2,
  post = function(a, b)
    local fn = b or a
    if type(fn) ~= "function" then error("node.task.post: function expected") end
    vm.tasks[#vm.tasks + 1] = fn
  end,
}

function vm.runTasks()
  local guard = 0
  while #vm.tasks > 0 do
    local fn = table.remove(vm.tasks, 1)
    fn()
    guard = guard + 1
    if guard > 100000 then error("task queue does not drain") end
  end
end

-- ---- tmr ----
local timers = {}
local Timer = {}
Timer.__index = Timer
tmr = { ALARM_SINGLE = 0, ALARM_SEMI = 1, ALARM_AUTO = 2 }
function tmr.create()
  return setmetatable({ ms = 0, mode = 0 }, Timer)
end
function tmr.now()
  return vm.clockUs % 2147483648
end
function tmr.time()
  return math.floor(vm.clockUs / 1000000)
end
function Timer:register(ms, mode, fn)
  if type(fn) ~= "function" then error("tmr: callback function expected") end
  self.ms, self.mode, self.fn = ms, mode, fn
  return true
end
function Timer:start()
  if self.fn == nil then error("tmr: timer not registered") end
  self.due = vm.clockUs + self.ms * 1000
  timers[self] = true
  return true
end
function Timer:alarm(ms, mode, fn)
  self:register(ms, mode, fn)
  return self:start()
end
function Timer:stop()
  local was = timers[self] ~= nil
  timers[self] = nil
  return was
end
function Timer:unregister()
  timers[self] = nil
  self.fn = nil
end
function Timer:interval(ms) self.ms = ms end
function Timer:state()
  if self.fn == nil then return nil end
  return timers[self] ~= nil, self.mode
end

-- ---- net ----
local Server = {}
Server.__index = Server
local Conn = {}
Conn.__index = Conn
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

function Conn:on(event, fn)
  self.cb[event] = fn
end
function Conn:send(data, fn)
  if not self.open then error("not connected") end
  if type(data) ~= "string" then error("send: string expected") end
  if #data == 0 then error("send: empty string") end
  if self.sending ~= nil then error("send: a send is already in flight (wait for the sent callback)") end
  self.sending = data
  self.sentFn = fn
  self.sends = self.sends + 1
  if #data > self.maxSend then self.maxSend = #data end
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
    local nextT, due = nil, nil
    for t in pairs(timers) do
      if t.due <= target and (due == nil or t.due < due) then nextT, due = t, t.due end
    end
    if nextT == nil then break end
    vm.clockUs = due
    if nextT.mode == tmr.ALARM_AUTO then
      nextT.due = due + nextT.ms * 1000
    else
      timers[nextT] = nil
    end
    nextT.fn(nextT)
    vm.runTasks()
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
  for k in pairs(timers) do timers[k] = nil end
  vm.conns = {}
  vm.order = {}
  vm.tasks = {}
  vm.servers = {}
  vm.refused = 0
end

-- ---- file (an in-memory SPIFFS: flat names) ----
local File = {}
File.__index = File
file = {}
local current = nil

function file.open(name, mode)
  mode = mode or "r"
  local m = string.sub(mode, 1, 1)
  local data = vm.files[name]
  if m == "r" and data == nil then return nil end
  local f = setmetatable({ name = name, pos = 1, data = data or "" }, File)
  if m == "w" then f.data = "" end
  if m == "a" then f.pos = #f.data + 1 end
  f.writable = m ~= "r" or string.find(mode, "+", 1, true) ~= nil
  current = f
  return f
end
function File:read(n)
  if type(n) ~= "number" then n = 1024 end
  if self.pos > #self.data then return nil end
  local s = string.sub(self.data, self.pos, self.pos + n - 1)
  self.pos = self.pos + #s
  return s
end
function File:readline()
  if self.pos > #self.data then return nil end
  local e = string.find(self.data, "\n", self.pos, true) or #self.data
  local s = string.sub(self.data, self.pos, e)
  self.pos = e + 1
  return s
end
function File:write(s)
  if not self.writable then return nil end
  self.data = string.sub(self.data, 1, self.pos - 1) .. s .. string.sub(self.data, self.pos + #s)
  self.pos = self.pos + #s
  vm.files[self.name] = self.data
  return true
end
function File:writeline(s) return self:write(s .. "\n") end
function File:flush() return true end
function File:close()
  if self.writable then vm.files[self.name] = self.data end
  if current == self then current = nil end
end
function file.read(n) if current then return current:read(n) end end
function file.readline() if current then return current:readline() end end
function file.write(s) if current then return current:write(s) end end
function file.writeline(s) if current then return current:writeline(s) end end
function file.close() if current then current:close() end end
function file.remove(name) vm.files[name] = nil end
function file.exists(name) return vm.files[name] ~= nil end
function file.rename(a, b)
  if vm.files[a] == nil or vm.files[b] ~= nil then return false end
  vm.files[b] = vm.files[a]
  vm.files[a] = nil
  return true
end
function file.list()
  local t = {}
  for k, v in pairs(vm.files) do t[k] = #v end
  return t
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
