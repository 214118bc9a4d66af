-- A virtual NodeMCU console for the flash:nodemcu suite: behind a socat
-- pseudo-terminal it answers like a board's UART does. It prints NodeMCU's
-- banner and "> " prompt, echoes every line typed (NodeMCU's console does),
-- runs it as Lua, prints errors the way NodeMCU's interpreter does
-- ("stdin:1: ...") and prompts again. Its `file` module (and node, tmr...)
-- comes from firmware/nodemcu/tools/nodemcu_shim.lua, writing into the current folder,
-- which plays the board's flash.
--   socat PTY,link=TTY,raw,echo=0 EXEC:"lua5.1 nodemcu_console.lua SHIM",pty,raw,echo=0
-- Like NodeMCU, a line longer than 255 characters is cut (LUA_MAXINPUT).

NODEMCU_SHIM_MODULES_ONLY = true
dofile(arg[1])
uart = { setup = function() return 115200 end, write = function(_, s) io.write(s) end }

io.stdout:setvbuf("no")
local MAXINPUT = 255
local compile = loadstring or load

io.write("\r\nNodeMCU 3.0.0.0 (simulated console)\r\n        lua: " .. _VERSION .. "\r\n> ")
local pending = ""
while true do
  local line = io.read("*l")
  if line == nil then break end
  line = string.gsub(line, "\r$", "")
  if #line > MAXINPUT then line = string.sub(line, 1, MAXINPUT) end
  io.write(line .. "\r\n")
  local code = pending .. line
  local fn, err = compile(code, "=stdin")
  if fn == nil and string.find(err, "<eof>", 1, true) then
    -- an unfinished statement continues on the next line
    pending = code .. "\n"
    io.write(">> ")
  else
    pending = ""
    if fn == nil then
      io.write(err .. "\r\n")
    else
      local ok, e = pcall(fn)
      if not ok then io.write(tostring(e) .. "\r\n") end
    end
    io.write("> ")
  end
end
