-- The lookup of a cache entry (ngx_http_mcp_cache_lookup.c): reads the
-- server's generation and the entry, and takes the entry's lock on a miss.
--
-- An entry counts only if this primary wrote it (its run id): what a
-- server held before a restart or a failover is never trusted after it.
-- While a write to the server is under way (its marker), nothing is
-- served and no lock is taken: the answer is fetched and not kept.
--
-- Returns {gen, code, run id, now, ...}: code "H" (a hit: then status,
-- body), "L" (a miss, locked by this request), "W" (a miss another request
-- is fetching), "X" (a write is under way) or "M" (a miss); the run id of
-- this server, for the store to check that it is still the one; its time
-- (ms), from which a stored answer's life counts.

local gen_key, entries_key, write_key, lock_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4]

-- mode: "l" lookup, and lock on a miss; "n" lookup; "b" the generation
-- only (a bypass)
local field, mode, lock_ms, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')

local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)

local gen = redis.call('GET', gen_key)
if not gen then
  gen = t[1] .. string.format('%06d', t[2])
  redis.call('SET', gen_key, gen, 'PX', 86400000)
end

-- the writers' deadlines: a marker whose writers all passed theirs is gone
local writing = false
local writers = redis.call('HGETALL', write_key)
for i = 1, #writers, 2 do
  if tonumber(writers[i + 1]) > now then
    writing = true
  else
    redis.call('HDEL', write_key, writers[i])
  end
end

if writing then
  return {gen, 'X', run_id, now}
end

if mode == 'b' then
  return {gen, 'M', run_id, now}
end

local e = redis.call('HMGET', entries_key, field, field .. ':b')
if e[1] then
  local status, expiry, id = string.match(e[1], '^(%d+) (%d+) (%x+)$')
  if id == run_id and e[2] and tonumber(expiry) > now then
    return {gen, 'H', run_id, now, status, e[2]}
  end
  redis.call('HDEL', entries_key, field, field .. ':b')
end

if mode == 'l' then
  if redis.call('SET', lock_key, token, 'NX', 'PX', lock_ms) then
    return {gen, 'L', run_id, now}
  end
  return {gen, 'W', run_id, now}
end

return {gen, 'M', run_id, now}
