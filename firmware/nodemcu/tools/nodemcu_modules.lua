-- NodeMCU's node, tmr and file modules, and the rules of a connection's
-- send, for both desktop stand-ins of a board: nodemcu_shim.lua (luasocket,
-- the real clock, files in the current folder; `npm run sim:lua`) and
-- nodemcu_vm.lua (no sockets, a clock the host moves, files in a table; the
-- WebAssembly Lua VMs and memory.lua). Each gives what differs:
--   env.nowUs()            microseconds since start
--   env.heap()             free heap in bytes, as node.heap() reports it
--   env.restart()          node.restart()
--   env.compile(name)      node.compile(name), optional
--   env.store              the flash: read(name) -> string or nil,
--                          write(name, data), remove(name), list() -> {name = size}
-- and gets back what it drives: runTasks(), earliest(limit), fire(t, now),
-- nextDue(), resetTimers(), connClass(busy, start).
--
-- NodeMCU's quirks kept here: SPIFFS names are flat; a timer needs a
-- callback and at least 1 ms; one send in flight per connection, never an
-- empty one.

return function(env)
  local M = { tasks = {} }

  -- ---- node ----
  node = {}
  function node.heap() return env.heap() end
  function node.chipid() return 8266 end
  function node.restart() env.restart() end
  if env.compile ~= nil then node.compile = env.compile end
  node.egc = { setmode = function() end, ON_ALLOC_FAILURE = 1, ALWAYS = 4 }
  node.task = {
    LOW_PRIORITY = 0, MEDIUM_PRIORITY = 1, HIGH_PRIORITY = 2,
    post = function(a, b)
      local fn = b or a
      if type(fn) ~= "function" then error("node.task.post: function expected") end
      M.tasks[#M.tasks + 1] = fn
    end,
  }

  function M.runTasks()
    local guard = 0
    while #M.tasks > 0 do
      local fn = table.remove(M.tasks, 1)
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
  function tmr.create() return setmetatable({ ms = 0, mode = 0 }, Timer) end
  function tmr.now() return env.nowUs() % 2147483648 end
  function tmr.time() return math.floor(env.nowUs() / 1000000) end
  function Timer:register(ms, mode, fn)
    if type(fn) ~= "function" then error("tmr: callback function expected") end
    if type(ms) ~= "number" or ms < 1 then error("tmr: interval must be at least 1 ms") end
    self.ms, self.mode, self.fn = ms, mode, fn
    return true
  end
  function Timer:start()
    if self.fn == nil then error("tmr: timer not registered") end
    self.due = env.nowUs() + self.ms * 1000
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

  --- The running timer due first, at `limit` or before (nil: none), and when.
  function M.earliest(limit)
    local best, due = nil, nil
    for t in pairs(timers) do
      if t.due <= limit and (due == nil or t.due < due) then best, due = t, t.due end
    end
    return best, due
  end

  --- Run a due timer at time `now`: an auto-repeating one is due again one interval on (never in the past).
  function M.fire(t, now)
    if t.mode == tmr.ALARM_AUTO then
      t.due = t.due + t.ms * 1000
      if t.due <= now then t.due = now + t.ms * 1000 end
    else
      timers[t] = nil
    end
    t.fn(t)
    M.runTasks()
  end

  function M.nextDue()
    local best = nil
    for t in pairs(timers) do
      if best == nil or t.due < best then best = t.due end
    end
    return best
  end

  function M.resetTimers()
    for k in pairs(timers) do timers[k] = nil end
    M.tasks = {}
  end

  -- ---- net: a connection's on() and the rules of its send; the stand-in moves the bytes ----
  --- A connection class: `busy(c)` says a send is in flight, `start(c, data)` begins one.
  function M.connClass(busy, start)
    local Conn = {}
    Conn.__index = Conn
    function Conn:on(event, fn) self.cb[event] = fn end
    function Conn:send(data, fn)
      if not self.open then error("not connected") end
      if type(data) ~= "string" then error("send: string expected") end
      if #data == 0 then error("send: empty string") end
      if busy(self) then error("send: a send is already in flight (wait for the sent callback)") end
      self.sentFn = fn
      start(self, data)
    end
    return Conn
  end

  -- ---- file (SPIFFS is flat: names, no folders) ----
  local store = env.store
  local File = {}
  File.__index = File
  file = {}
  local current = nil

  function file.open(name, mode)
    mode = mode or "r"
    if not string.match(mode, "^[rwa]%+?$") then error("file.open: bad mode " .. mode) end
    local m = string.sub(mode, 1, 1)
    local data = store.read(name)
    if m == "r" and data == nil then return nil end
    local f = setmetatable({ name = name, pos = 1, data = data or "" }, File)
    if m == "w" then
      f.data = ""
      store.write(name, "")
    end
    if m == "a" then
      f.pos = #f.data + 1
      if data == nil then store.write(name, "") end
    end
    f.writable = m ~= "r" or string.find(mode, "+", 1, true) ~= nil
    current = f
    return f
  end
  --- `n` bytes (1024 unless given), or up to and with the character `n` when it is a string.
  function File:read(n)
    if n == nil then n = 1024 end
    if self.pos > #self.data then return nil end
    local s
    if type(n) == "string" then
      local e = string.find(self.data, n, self.pos, true)
      if e == nil or e - self.pos >= 1024 then e = self.pos + 1023 end
      s = string.sub(self.data, self.pos, e)
    else
      s = string.sub(self.data, self.pos, self.pos + n - 1)
    end
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
    store.write(self.name, self.data)
    return true
  end
  function File:writeline(s) return self:write(s .. "\n") end
  function File:flush() return true end
  function File:seek(whence, offset)
    local base = (whence == "set" and 0) or (whence == "end" and #self.data) or (self.pos - 1)
    self.pos = base + (offset or 0) + 1
    return self.pos - 1
  end
  function File:close()
    if current == self then current = nil end
  end
  function file.read(n) if current then return current:read(n) end end
  function file.readline() if current then return current:readline() end end
  function file.write(s) if current then return current:write(s) end end
  function file.writeline(s) if current then return current:writeline(s) end end
  function file.flush() if current then return current:flush() end end
  function file.close() if current then current:close() end end
  function file.exists(name) return store.read(name) ~= nil end
  function file.remove(name) store.remove(name) end
  function file.rename(a, b)
    local data = store.read(a)
    if data == nil or store.read(b) ~= nil then return false end
    store.write(b, data)
    store.remove(a)
    return true
  end
  function file.stat(name)
    local data = store.read(name)
    if data == nil then return nil end
    return { name = name, size = #data }
  end
  function file.list() return store.list() end
  function file.fsinfo() return 3000000, 0, 3000000 end

  return M
end
