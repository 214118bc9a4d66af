-- init.lua: NodeMCU runs this at boot; it starts the MQTT broker after a
-- short pause (type mqtt_abort() at the prompt within it to stay in the
-- console, e.g. when a bad config.lua makes the board reboot in a loop).
-- The broker comes from the Lua Flash Store when it is there (an ESP8266
-- cannot compile broker.lua in its heap: build an LFS image of it), else
-- from broker.lc (node.compile("broker.lua")), else from broker.lua.
-- Installed by npm run flash:nodemcu; built by npm run build:lua.
local delay = rawget(_G, "MQTT_BOOT_DELAY") or 3000
local boot = tmr.create()
function mqtt_abort()
  boot:unregister()
  print("mqtt: start cancelled")
end
boot:alarm(delay, tmr.ALARM_SINGLE, function()
  mqtt_abort = nil
  local lfs = node.LFS or node.flashindex and { get = function(m) return node.flashindex(m) end }
  local loader = lfs and lfs.get and lfs.get("broker")
  local m
  if loader then
    m = loader()
  elseif file.exists("broker.lc") then
    m = dofile("broker.lc")
  else
    m = dofile("broker.lua")
  end
  MQTT = m
  m.start()
end)
print("mqtt: broker starts in " .. delay .. " ms (mqtt_abort() to cancel)")
