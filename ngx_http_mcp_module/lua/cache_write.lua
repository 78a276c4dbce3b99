-- A write to a server (ngx_http_mcp_cache_store.c), before the PUT goes to
-- the registry ("begin") and after ("end").  Both forget every entry of
-- the server and start a new generation, so that no fetch begun before
-- stores its answer.
--
-- "begin" also marks the server as being written until the writer's
-- deadline: meanwhile no node serves or stores it (cache_lookup.lua,
-- cache_store.lua), whatever becomes of the writer.  "end" removes the
-- writer from the marker when the registry's answer says the write is
-- over; when its outcome is unknown (a timeout, a reset), the marker stays
-- until the deadline, long enough for a late write to land.
--
-- Returns 1.

local gen_key, entries_key, write_key = KEYS[1], KEYS[2], KEYS[3]

-- step: "begin", "end" (the outcome is known) or "unknown"
local step, token, deadline_ms = ARGV[1], ARGV[2], ARGV[3]

if redis.call('EXISTS', gen_key) == 1 then
  redis.call('INCR', gen_key)
  redis.call('PEXPIRE', gen_key, 86400000)
else
  local t = redis.call('TIME')
  redis.call('SET', gen_key, t[1] .. string.format('%06d', t[2]),
             'PX', 86400000)
end

redis.call('UNLINK', entries_key)

if step == 'begin' then
  local t = redis.call('TIME')
  local ms = tonumber(deadline_ms)
  redis.call('HSET', write_key, token,
             string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000) + ms))
  if redis.call('PTTL', write_key) < ms then
    redis.call('PEXPIRE', write_key, ms)
  end
elseif step == 'end' then
  redis.call('HDEL', write_key, token)
end

return 1
