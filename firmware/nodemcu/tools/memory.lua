-- The NodeMCU broker's Lua heap (collectgarbage("count"), KB, after a full
-- collection), measured on NodeMCU's simulated modules (nodemcu_vm.lua): no
-- sockets, so the figures are the broker's and the adapter's alone.
--   1. code: the bundle loaded, nothing started (on a board this sits in the
--      Lua Flash Store, not in RAM);
--   2. idle: the broker started, listening, no client;
--   3. loaded: 5 clients with 4 subscriptions each, 8 retained messages;
--   4. after 10,000 messages (QoS 0, 1 and 2, acknowledged by the clients),
--      sampled every 1,000: the heap must not grow.
-- Run standalone: lua5.1 memory.lua BROKER.lua nodemcu_vm.lua CONFIG.lua
-- (firmware/nodemcu/tools/memory.ts does, and runs it in the WebAssembly VMs too, where
-- VM, MQTT and MEMORY_CONFIG are set before this file runs). Returns, and
-- standalone prints, "key=value" lines.

local standalone = rawget(_G, "MQTT") == nil
if standalone then
  dofile(arg[2])
  MEMORY_CONFIG = dofile(arg[3])
end

--- Heap in use after full collections, repeated until it stops falling: each cycle
--- also halves Lua's string table and buffers when they are mostly empty, so one
--- collection after a burst of short-lived strings still counts their table.
local function heap()
  local last = collectgarbage("count")
  for _ = 1, 12 do
    collectgarbage("collect")
    local now = collectgarbage("count")
    if now >= last then break end
    last = now
  end
  return collectgarbage("count")
end

local before = heap()
if standalone then MQTT = dofile(arg[1]) end
local code = heap() - before

-- ---- a few MQTT encoders (client side) ----
local function u16(n) return string.char(math.floor(n / 256), n % 256) end
local function str(s) return u16(#s) .. s end
local function remaining(n)
  local out = ""
  repeat
    local d = n % 128
    n = math.floor(n / 128)
    if n > 0 then d = d + 128 end
    out = out .. string.char(d)
  until n == 0
  return out
end
local function packet(first, body) return string.char(first) .. remaining(#body) .. body end
local function connect(id) return packet(0x10, str("MQTT") .. string.char(4, 2) .. u16(60) .. str(id)) end
local function subscribe(pid, filters)
  local body = u16(pid)
  for _, f in ipairs(filters) do body = body .. str(f) .. string.char(1) end
  return packet(0x82, body)
end
local function publish(topic, payload, qos, retain, pid)
  local first = 0x30 + qos * 2 + (retain and 1 or 0)
  return packet(first, str(topic) .. (qos > 0 and u16(pid) or "") .. payload)
end

local clients = {}
local acked = { puback = 0, pubrec = 0, pubcomp = 0, received = 0 }

local function send(id, bytes) vm.write(id, vm.tohex(bytes)) end

--- Read what the broker sent a client and answer as a client would (PUBACK, PUBREC/PUBCOMP).
local function drain(c)
  local r = vm.take(c.id)
  local bar = string.find(r, "|", 1, true)
  c.buf = c.buf .. vm.fromhex(string.sub(r, 1, bar - 1))
  local replies = {}
  while #c.buf >= 2 do
    local first = string.byte(c.buf, 1)
    local len, mult, i = 0, 1, 2
    while true do
      local b = string.byte(c.buf, i)
      if b == nil then return end
      len = len + (b % 128) * mult
      mult = mult * 128
      i = i + 1
      if b < 128 then break end
    end
    if #c.buf < i - 1 + len then break end
    local body = string.sub(c.buf, i, i - 1 + len)
    c.buf = string.sub(c.buf, i + len)
    local kind = math.floor(first / 16)
    if kind == 3 then
      acked.received = acked.received + 1
      local qos = math.floor(first / 2) % 4
      if qos > 0 then
        local tl = string.byte(body, 1) * 256 + string.byte(body, 2)
        local pid = string.sub(body, 3 + tl, 4 + tl)
        if qos == 1 then
          replies[#replies + 1] = string.char(0x40, 2) .. pid
          acked.puback = acked.puback + 1
        else
          replies[#replies + 1] = string.char(0x50, 2) .. pid
          acked.pubrec = acked.pubrec + 1
        end
      end
    elseif kind == 6 then
      replies[#replies + 1] = string.char(0x70, 2) .. string.sub(body, 1, 2)
      acked.pubcomp = acked.pubcomp + 1
    end
  end
  if #replies > 0 then send(c.id, table.concat(replies)) end
end

local function drainAll()
  for _ = 1, 3 do
    for _, c in ipairs(clients) do drain(c) end
  end
end

local out = {}
local function report(k, v) out[#out + 1] = k .. "=" .. tostring(v) end

-- Lua's string table sizes itself to the peak number of live strings and
-- shrinks only below a quarter full: with the bundle's own strings in RAM (as
-- here; on a board they sit in the Lua Flash Store) a burst of short-lived
-- strings grows it for good, 8 KB (32-bit) to 16 KB (64-bit) that would pass
-- for broker growth. So it is grown to a working size before the baseline.
collectgarbage("stop")
for i = 1, 12000 do local _ = "warm-up " .. i end
collectgarbage("restart")

vm.reset()
local base = heap()
MQTT.start(MEMORY_CONFIG)
vm.advance(10)
local idle = heap() - base

local port = MEMORY_CONFIG.config.listeners[1].port
for i = 1, 5 do
  local id = vm.connect(port)
  if id < 0 then error("client " .. i .. " refused") end
  local c = { id = id, buf = "" }
  clients[i] = c
  send(id, connect("client-" .. i))
  send(id, subscribe(i, { "all/#", "c" .. i .. "/+", "group/" .. (i % 2) .. "/#", "+/alert" }))
end
vm.advance(10)
drainAll()
for k = 1, 8 do
  send(clients[1].id, publish("retained/" .. k, "value-" .. k .. "-0123456789", 0, true, 0))
end
vm.advance(10)
drainAll()
local loaded = heap() - base

local pid = 1
local samples = {}
local qosCycle = { 0, 0, 1, 0, 2, 0, 1, 0, 0, 1 }
for n = 1, 10000 do
  local from = clients[(n % 5) + 1]
  local qos = qosCycle[(n % #qosCycle) + 1]
  local topic
  local pick = n % 4
  if pick == 0 then topic = "all/data"
  elseif pick == 1 then topic = "c" .. ((n % 5) + 1) .. "/x"
  elseif pick == 2 then topic = "group/" .. (n % 2) .. "/t/" .. (n % 7)
  else topic = "room" .. (n % 3) .. "/alert" end
  send(from.id, publish(topic, "message " .. n, qos, false, pid))
  if qos == 2 then
    drain(from)
    send(from.id, string.char(0x62, 2) .. u16(pid))
  end
  pid = pid % 65535 + 1
  drainAll()
  if n % 10 == 0 then vm.advance(100) end
  if n % 1000 == 0 then samples[#samples + 1] = heap() - base end
end
local after = heap() - base

local maxSample, minSample = samples[1], samples[1]
for _, s in ipairs(samples) do
  if s > maxSample then maxSample = s end
  if s < minSample then minSample = s end
end

report("lua", _VERSION .. (rawget(_G, "jit") and (" " .. jit.version) or ""))
report("code_kb", string.format("%.1f", code))
report("idle_kb", string.format("%.1f", idle))
report("loaded_kb", string.format("%.1f", loaded))
report("after_10000_kb", string.format("%.1f", after))
report("samples_kb", (function()
  local t = {}
  for i, s in ipairs(samples) do t[i] = string.format("%.1f", s) end
  return table.concat(t, ",")
end)())
-- growth: the last three samples against the first three (one sample moves with the collector's timing)
local first3 = (samples[1] + samples[2] + samples[3]) / 3
local last3 = (samples[#samples] + samples[#samples - 1] + samples[#samples - 2]) / 3
report("growth_kb", string.format("%.1f", last3 - first3))
report("spread_kb", string.format("%.1f", maxSample - minSample))
report("delivered", acked.received)
report("puback", acked.puback)
report("pubrec", acked.pubrec)
report("pubcomp", acked.pubcomp)
local b = MQTT.broker()
report("clients", b.clientCount)
report("retained", #b.retained.list)
report("subscriptions", b.topics.count)

MQTT.stop()
vm.reset()
local text = table.concat(out, "\n")
if standalone then io.write(text, "\n") end
return text
